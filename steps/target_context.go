package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/internal/english"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// existingContext is a cluster svcgraph did not create (kind, k3d, Docker Desktop, a cloud
// cluster), reached through a kubeconfig context: svcgraph installs into it and uninstalls
// from it, and never starts, stops or deletes it.
type existingContext struct{ name string }

func (e existingContext) Context() string { return e.name }
func (e existingContext) String() string  { return "context " + e.name }
func (existingContext) Start() Step       { return ReachCluster{} }
func (existingContext) Find() Step        { return ReachCluster{Down: true} }

// Stop is never planned (validate refuses --stop and --purge first); if it were, it refuses.
func (e existingContext) Stop(bool) Step { return refuseStop{e} }

func (e existingContext) validate(c Config) error {
	if c.StopCluster || c.PurgeCluster {
		return e.notOurs(c)
	}
	if c.Offline {
		// up --offline loads the cached images with `minikube image load`; a cluster svcgraph did
		// not make has no such door, and its nodes would pull (and fail) without a network.
		return reason.New(reason.Usage,
			fmt.Sprintf("Run `svcgraph up --offline` on svcgraph's own minikube profile (leave out --context), or load the images `svcgraph images` lists into the nodes of %s yourself and run `svcgraph up --context %s` without --offline.", e.name, e.name),
			"--offline loads images into a minikube profile; context %s is a cluster svcgraph did not create", e.name)
	}
	return nil
}

func (e existingContext) notOurs(c Config) error {
	flag := "--stop"
	if c.PurgeCluster {
		flag = "--purge"
	}
	return reason.New(reason.ClusterNotOurs,
		fmt.Sprintf("Run `svcgraph down --context %s` without %s: it removes the demo and its namespace and leaves the cluster running. "+
			"Stop or delete the cluster with the tool that made it (kind delete cluster, k3d cluster delete, Docker Desktop's settings, your cloud's console).", e.name, flag),
		"%s stops or deletes svcgraph's own minikube profile; context %s is a cluster svcgraph did not create", flag, e.name)
}

// tools: no minikube; kubectl and helm because users will want them next to the demo.
func (existingContext) tools() []string { return []string{"kubectl", "helm"} }

func (existingContext) checkHost(*Session) error { return nil }

func (e existingContext) status(ctx context.Context, s *Session) (ClusterStatus, bool, error) {
	c := ClusterStatus{Context: e.name, Kind: kube.KindOther, State: "unreachable"}
	k, err := s.Kube()
	if err != nil {
		return c, false, err
	}
	c.Server = k.Host()
	f, err := k.Facts(ctx)
	if err != nil {
		return c, false, nil // status reports an unreachable cluster, it does not fail on it
	}
	c.Kind, c.Version, c.State = f.Kind(), f.Version, "reachable"
	return c, true, nil
}

func (existingContext) capRooms(context.Context, *Session, *kube.NodeRooms) {}

func (e existingContext) moreRoom(_ Config, short budget.Amount) string {
	return fmt.Sprintf("more room on the cluster of context %s: nodes with at least %s memory and %s CPU more free (add a node, or free what other pods request)",
		e.name, budget.Memory(max(short.Memory, 0)), budget.CPU(max(short.MilliCPU, 0)))
}

func (e existingContext) flags() []string { return []string{"--context", e.name} }

func (e existingContext) key() string { return "context-" + fileKey(e.name) }

// ReachCluster connects to a cluster svcgraph did not create and learns what it is: the kind
// (kind, k3d, Docker Desktop, …), its Kubernetes version and its nodes. For `down` (Down) an
// unreachable cluster is a failure too: what svcgraph installed there cannot be known otherwise.
type ReachCluster struct{ Down bool }

func (ReachCluster) ID() string    { return "cluster" }
func (ReachCluster) Title() string { return "Finding the cluster" }

func (r ReachCluster) Run(ctx context.Context, s *Session) error {
	f, err := s.clusterFacts(ctx)
	if err != nil {
		return err
	}
	nodes := "nodes hidden from this user"
	if f.NodesHidden == nil {
		nodes = english.Count(len(f.Nodes), "node")
	}
	s.Result(fmt.Sprintf("context %s: %s, Kubernetes %s, %s", f.Context, f.Kind(), f.Version, nodes))
	return nil
}

// refuseStop stands in for stopping a cluster svcgraph may not stop.
type refuseStop struct{ e existingContext }

func (refuseStop) ID() string    { return "cluster-stop" }
func (refuseStop) Title() string { return "Stopping the cluster" }

func (r refuseStop) Run(_ context.Context, s *Session) error { return r.e.notOurs(s.Config) }
