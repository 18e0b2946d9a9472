package steps

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/internal/english"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// CheckBudget refuses a release whose pods do not fit the nodes before anything is installed:
// what the rendered release requests (chartmod) against each node's allocatable minus what
// other pods there request (kube), pod by pod, since every pod must fit on one node. Limits
// that overcommit the nodes only get a warning. Offline, as `render --check-only` runs it, the
// node is a fresh minikube profile of Config.CPUs and Config.MemoryMB.
type CheckBudget struct{ Offline bool }

func (CheckBudget) ID() string    { return "budget" }
func (CheckBudget) Title() string { return "Checking that the demo fits" }

func (b CheckBudget) Run(ctx context.Context, s *Session) error {
	demand, err := chartmod.DemandOf(s.Rendered)
	if err != nil {
		return reason.Wrap(reason.ChartCheck, err, "", "cannot read what the rendered release requests")
	}
	var rooms kube.NodeRooms
	if b.Offline {
		rooms = freshProfile(s.Config)
	} else if rooms, err = s.liveRooms(ctx); err != nil {
		return err
	}
	return s.judgeBudget(demand, rooms)
}

// freshProfile is the one node a new minikube profile of the configured size would have, with
// its system pods' requests already used.
func freshProfile(c Config) kube.NodeRooms {
	return kube.NodeRooms{Nodes: []budget.Node{{
		Name:        c.Profile,
		Allocatable: budget.Amount{MilliCPU: int64(c.CPUs) * 1000, Memory: minikube.NodeMemoryBytes(c.MemoryMB)},
		Used:        budget.Amount{MilliCPU: minikube.SystemPodsMilliCPU, Memory: minikube.SystemPodsMemory},
	}}}
}

// liveRooms reads the nodes from the API, as the target corrects them (a minikube node of the
// docker or podman driver reports the host's size, not the profile's).
func (s *Session) liveRooms(ctx context.Context) (kube.NodeRooms, error) {
	k, err := s.Kube()
	if err != nil {
		return kube.NodeRooms{}, err
	}
	rooms, err := k.Nodes(ctx, s.Config.Namespace, s.Config.Release)
	if err != nil {
		return rooms, err
	}
	s.target().capRooms(ctx, s, &rooms)
	if len(rooms.Skipped) > 0 {
		s.Debug("not counted (cordoned or tainted): " + strings.Join(rooms.Skipped, ", "))
	}
	return rooms, nil
}

// judgeBudget packs the release's pods onto the nodes: the step's result when they fit, a
// ClusterTooSmall error with the table of consumers when some pod fits nowhere.
func (s *Session) judgeBudget(d chartmod.Demand, rooms kube.NodeRooms) error {
	n := len(rooms.Nodes)
	req, lim := d.Requests(n), d.Limits(n)
	alloc, used := rooms.Sum()
	free := alloc.Sub(used)
	for _, w := range d.Workloads {
		if len(w.NoMemoryLimit) > 0 {
			s.Debug(fmt.Sprintf("no memory limit: %s/%s containers %s", w.Kind, w.Name, strings.Join(w.NoMemoryLimit, ", ")))
		}
	}
	placed := budget.Pack(d.Pods(rooms.Nodes), rooms.Nodes)
	if len(placed.Unplaced) > 0 || n == 0 {
		return reason.New(reason.ClusterTooSmall, budgetAdvice(s.Config, s.target(), req, free, placed),
			"%s", budgetTable(d, rooms, placed))
	}
	if lim.Memory > free.Memory {
		s.Warn(fmt.Sprintf("memory limits add up to %s, more than the %s the nodes have free: under load pods may be OOM-killed",
			budget.Memory(lim.Memory), budget.Memory(free.Memory)))
	}
	s.Budget = fmt.Sprintf("requests %s of %s free on %s", req, free, english.Count(n, "node"))
	s.Result(s.Budget)
	return nil
}

// budgetTable says which pods fit nowhere, then the ten biggest consumers, the total and the
// room the nodes have.
func budgetTable(d chartmod.Demand, rooms kube.NodeRooms, p budget.Placement) string {
	n := len(rooms.Nodes)
	var b strings.Builder
	if n == 0 {
		b.WriteString("the cluster has no node that takes new pods")
	} else {
		fmt.Fprintf(&b, "the demo does not fit: %s fit on no node (%s)", english.Count(len(p.Unplaced), "pod"), rooms)
	}
	const listed = 5
	for i, u := range p.Unplaced {
		if i == listed {
			fmt.Fprintf(&b, "\n  … and %d more", len(p.Unplaced)-listed)
			break
		}
		if u.Best == "" {
			fmt.Fprintf(&b, "\n  %s (requests %s): no node matches its node selector", u.Pod.Name, u.Pod.Requests)
			continue
		}
		fmt.Fprintf(&b, "\n  %s requests %s; node %s has %s left", u.Pod.Name, u.Pod.Requests, u.Best, u.Free)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "biggest consumers (requests)\tpods\tmemory\tCPU\t")
	for _, w := range d.Biggest(10, n) {
		t := w.Requests.Times(w.Pods(n))
		fmt.Fprintf(tw, "%s/%s\t%d\t%s\t%s\t\n", w.Kind, w.Name, w.Pods(n), budget.Memory(t.Memory), budget.CPU(t.MilliCPU))
	}
	req := d.Requests(n)
	alloc, used := rooms.Sum()
	free := alloc.Sub(used)
	fmt.Fprintf(tw, "total (%d workloads)\t%d\t%s\t%s\t\n", len(d.Workloads), len(d.Pods(rooms.Nodes)), budget.Memory(req.Memory), budget.CPU(req.MilliCPU))
	fmt.Fprintf(tw, "room left (allocatable − other pods' requests)\t\t%s\t%s\t\n", budget.Memory(free.Memory), budget.CPU(free.MilliCPU))
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// budgetAdvice lists the ways out, with numbers: a bigger cluster (by what the sum lacks, or
// what the largest homeless pod lacks on its best node), the lite preset, or fewer components.
func budgetAdvice(c Config, t Target, req, free budget.Amount, p budget.Placement) string {
	short := req.Sub(free)
	for _, u := range p.Unplaced {
		short.Memory, short.MilliCPU = max(short.Memory, u.Missing.Memory), max(short.MilliCPU, u.Missing.MilliCPU)
	}
	ways := []string{t.moreRoom(c, short)}
	if c.Preset != chartmod.PresetLite {
		ways = append(ways, "the smaller demo: --preset lite")
	}
	ways = append(ways, "fewer components: --set components.NAME.enabled=false (the table names the biggest)")
	return "Any of: " + strings.Join(ways, "; or ") + "."
}
