package steps

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/svcgraph/svcgraph/internal/budget"
)

// StatusReport is what `svcgraph status` shows.
type StatusReport struct {
	Cluster       ClusterStatus `json:"cluster"`
	Namespace     string        `json:"namespace"`
	Release       string        `json:"release"`
	ReleaseStatus string        `json:"releaseStatus"` // "" when not installed
	Revision      int           `json:"revision,omitempty"`
	PodsReady     int           `json:"podsReady"`
	PodsTotal     int           `json:"podsTotal"`
	Forward       string        `json:"forward,omitempty"` // URL of a background forwarder
	Nodes         []NodeStatus  `json:"nodes,omitempty"`
	// Offline says whether the cache holds everything `up --offline` needs (workshop.go).
	Offline *OfflineStatus `json:"offline"`
}

// NodeStatus is one node's allocatable CPU and memory and what all its pods request.
type NodeStatus struct {
	Name        string        `json:"name"`
	Allocatable budget.Amount `json:"allocatable"`
	Requested   budget.Amount `json:"requested"`
}

// Status gathers the state of the cluster (its kind and context), release, pods and background
// forwarder. Each part that cannot be reached is reported as such rather than failing the whole
// report.
func Status(ctx context.Context, s *Session) (StatusReport, error) {
	c := s.Config
	r := StatusReport{Namespace: c.Namespace, Release: c.Release, Offline: offlineStatus(ctx, s)}
	cl, reachable, err := s.target().status(ctx, s)
	r.Cluster = cl
	if err != nil {
		return r, err
	}
	if rec, ok := s.liveForwarder(); ok {
		r.Forward = rec.URL
	}
	if !reachable {
		return r, nil
	}
	k, err := s.Kube()
	if err != nil {
		return r, err
	}
	rel, err := k.Release(ctx, c.Release)
	if err != nil {
		return r, err
	}
	if rel != nil {
		r.ReleaseStatus, r.Revision = rel.Status, rel.Revision
	}
	pods, err := k.Pods(ctx, c.Namespace)
	if err != nil {
		return r, err
	}
	r.PodsReady, r.PodsTotal = pods.Ready, pods.Total
	rooms, err := k.Nodes(ctx, c.Namespace, c.Release)
	if err != nil {
		return r, err
	}
	for _, n := range rooms.Nodes {
		r.Nodes = append(r.Nodes, NodeStatus{Name: n.Name, Allocatable: n.Allocatable, Requested: n.Used.Add(rooms.ReleaseOn[n.Name])})
	}
	return r, nil
}

// WriteText prints the report for people.
func (r StatusReport) WriteText(w io.Writer) {
	release := "not installed"
	if r.ReleaseStatus != "" {
		release = fmt.Sprintf("%s, revision %d", r.ReleaseStatus, r.Revision)
	}
	forward := "none in the background"
	if r.Forward != "" {
		forward = r.Forward
	}
	lines := []string{
		r.Cluster.line(),
		fmt.Sprintf("release %s in %s: %s", r.Release, r.Namespace, release),
		fmt.Sprintf("pods: %d/%d ready", r.PodsReady, r.PodsTotal),
		"forward: " + forward,
		r.Offline.text(),
	}
	for _, n := range r.Nodes {
		lines = append(lines, fmt.Sprintf("node %s: memory %s of %s requested, CPU %s of %s", n.Name,
			budget.Memory(n.Requested.Memory), budget.Memory(n.Allocatable.Memory),
			budget.CPU(n.Requested.MilliCPU), budget.CPU(n.Allocatable.MilliCPU)))
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// line is the cluster's line of the text report: "minikube profile svcgraph: running" or
// "cluster: kind (context kind-demo, https://127.0.0.1:6443), Kubernetes v1.31.2: reachable".
func (c ClusterStatus) line() string {
	if c.Profile != "" {
		// Its context has the profile's name (minikube writes it so).
		return fmt.Sprintf("minikube profile %s: %s", c.Profile, strings.ToLower(c.State))
	}
	where := "context " + c.Context
	if c.Server != "" {
		where += ", " + c.Server
	}
	l := fmt.Sprintf("cluster: %s (%s)", c.Kind, where)
	if c.Version != "" {
		l += ", Kubernetes " + c.Version
	}
	return l + ": " + c.State
}
