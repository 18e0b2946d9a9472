package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// minikubeProfile is svcgraph's own minikube profile: up creates or starts it, down --stop
// stops it and down --purge deletes it. Its kubeconfig context has the profile's name.
type minikubeProfile struct{ name string }

func (m minikubeProfile) Context() string { return m.name }
func (m minikubeProfile) String() string  { return "minikube profile " + m.name }
func (minikubeProfile) Start() Step       { return StartMinikube{} }
func (minikubeProfile) Find() Step        { return FindCluster{} }

func (minikubeProfile) Stop(remove bool) Step { return StopMinikube{Delete: remove} }

func (minikubeProfile) validate(Config) error { return nil }

func (minikubeProfile) tools() []string { return []string{"kubectl", "minikube", "helm"} }

// checkHost refuses a profile larger than the host's CPUs or memory: minikube's VM or container
// lives on this machine.
func (minikubeProfile) checkHost(s *Session) error {
	if err := checkHostCPUs(s); err != nil {
		return err
	}
	if s.HostMemoryMB == nil {
		return nil
	}
	if total, ok := s.HostMemoryMB(); ok && total < s.Config.MemoryMB {
		return reason.New(reason.HostMemory, fmt.Sprintf("Ask for less with --memory (this host has %s; minikube needs at least %s).",
			minikube.FormatMemory(total), minikube.FormatMemory(minikube.MinMemoryMB)),
			"--memory %s is more than this host's %s of memory", minikube.FormatMemory(s.Config.MemoryMB), minikube.FormatMemory(total))
	}
	return nil
}

func (m minikubeProfile) status(ctx context.Context, s *Session) (ClusterStatus, bool, error) {
	c := ClusterStatus{Kind: "minikube profile", Context: m.name, Profile: m.name}
	st, err := s.Minikube.Status(ctx, m.name)
	if err != nil {
		return c, false, err
	}
	c.State = string(st.State)
	return c, st.State == minikube.Running, nil
}

// capRooms caps each node at the profile's size: a minikube node of the docker or podman driver
// reports the host's CPUs and memory, not the profile's.
func (m minikubeProfile) capRooms(ctx context.Context, s *Session, rooms *kube.NodeRooms) {
	size := s.profileSize
	if size == nil { // StartMinikube did not run (or could not tell): ask minikube
		if p, err := s.Minikube.Profile(ctx, m.name); err == nil && p != nil {
			size = &profileSize{CPUs: p.Config.CPUs, MemoryMB: p.Config.Memory}
		}
	}
	if size == nil {
		return
	}
	for i := range rooms.Nodes {
		a := &rooms.Nodes[i].Allocatable
		if size.MemoryMB > 0 {
			a.Memory = min(a.Memory, minikube.NodeMemoryBytes(size.MemoryMB))
		}
		if size.CPUs > 0 {
			a.MilliCPU = min(a.MilliCPU, int64(size.CPUs)*1000)
		}
	}
}

// moreRoom asks for a profile larger by what the release lacks.
func (m minikubeProfile) moreRoom(c Config, short budget.Amount) string {
	mb := c.MemoryMB + int((max(short.Memory, 0)+(1<<20)-1)>>20)
	cpus := c.CPUs + int((max(short.MilliCPU, 0)+999)/1000)
	return fmt.Sprintf("a bigger profile: `svcgraph down --purge --profile %s`, then `svcgraph up --memory %s --cpus %d` (minikube cannot resize a profile)",
		m.name, minikube.FormatMemory((mb+1023)/1024*1024), cpus)
}

func (m minikubeProfile) flags() []string { return []string{"--profile", m.name} }

func (m minikubeProfile) key() string { return m.name }
