// Package budget is the arithmetic of fitting a release onto nodes: amounts of CPU and memory,
// and a bin-packing of pods onto nodes that names the pods that fit nowhere. chartmod says what
// the release asks for, kube what the nodes have; the budget step compares the two with this.
package budget

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Amount is CPU in millicores and memory in bytes.
type Amount struct {
	MilliCPU int64 `json:"milliCPU"`
	Memory   int64 `json:"memoryBytes"`
}

// Of reads CPU and memory from a resource list; other resources are ignored.
func Of(l corev1.ResourceList) Amount {
	return Amount{MilliCPU: l.Cpu().MilliValue(), Memory: l.Memory().Value()}
}

func (a Amount) Add(b Amount) Amount { return Amount{a.MilliCPU + b.MilliCPU, a.Memory + b.Memory} }
func (a Amount) Sub(b Amount) Amount { return Amount{a.MilliCPU - b.MilliCPU, a.Memory - b.Memory} }
func (a Amount) Times(n int) Amount  { return Amount{a.MilliCPU * int64(n), a.Memory * int64(n)} }

// Within says whether a fits into room, in both CPU and memory.
func (a Amount) Within(room Amount) bool {
	return a.MilliCPU <= room.MilliCPU && a.Memory <= room.Memory
}

// String reads like kubectl describe's numbers: "1500m CPU, 2.5Gi memory".
func (a Amount) String() string { return CPU(a.MilliCPU) + " CPU, " + Memory(a.Memory) + " memory" }

// CPU prints millicores as whole CPUs when it can ("2"), else as millicores ("1500m").
func CPU(milli int64) string {
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return strconv.FormatInt(milli, 10) + "m"
}

// Memory prints bytes in binary units with one decimal: "512Mi", "2.5Gi".
func Memory(b int64) string {
	const mi, gi = 1 << 20, 1 << 30
	sign := ""
	if b < 0 {
		sign, b = "-", -b
	}
	switch {
	case b >= gi:
		return sign + trim(fmt.Sprintf("%.1f", float64(b)/gi)) + "Gi"
	case b >= mi:
		return sign + trim(fmt.Sprintf("%.0f", float64(b)/mi)) + "Mi"
	}
	return sign + strconv.FormatInt(b, 10)
}

func trim(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// Pod is one pod to place: its name (workload and replica), what it requests, and where it may
// go (a node selector, or one node for a DaemonSet's pod).
type Pod struct {
	Name         string
	Requests     Amount
	NodeSelector map[string]string
	Node         string // set: the pod belongs on this node only (a DaemonSet's pod)
}

// Node is room on one node: what it can give pods (allocatable) and what pods that are not
// part of the release already request there.
type Node struct {
	Name        string
	Labels      map[string]string
	Allocatable Amount
	Used        Amount
}

// Free is what the node has left for the release.
func (n Node) Free() Amount { return n.Allocatable.Sub(n.Used) }

func (n Node) admits(p Pod) bool {
	return (p.Node == "" || p.Node == n.Name) && n.Matches(p.NodeSelector)
}

// Matches says whether the node has every label of a node selector.
func (n Node) Matches(selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Unplaced is a pod that fits on no node, and why: the node with the most room it may go on
// and what that node lacks.
type Unplaced struct {
	Pod     Pod
	Best    string // "" when the pod's selector matches no node at all
	Free    Amount // what Best had left when the pod came to it
	Missing Amount // how much more Best would need (zero or negative parts are not short)
}

// Placement is the outcome of Pack.
type Placement struct {
	On       map[string]string // pod name → node name
	Unplaced []Unplaced
	Nodes    []Node // the nodes with Used including the placed pods
}

// Pack places the pods onto the nodes the way a scheduler with a best-fit policy would: pods
// bound to a node first, then the rest largest first (memory, then CPU), each on the admitting
// node with the least memory left that still holds it. It is a heuristic: a Placement without
// Unplaced proves the pods fit; one with Unplaced means this order found no room for them.
func Pack(pods []Pod, nodes []Node) Placement {
	p := Placement{On: map[string]string{}, Nodes: slices.Clone(nodes)}
	for i := range p.Nodes {
		p.Nodes[i].Labels = maps.Clone(p.Nodes[i].Labels)
	}
	order := slices.Clone(pods)
	slices.SortStableFunc(order, func(a, b Pod) int {
		if (a.Node != "") != (b.Node != "") {
			if a.Node != "" {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.Requests.Memory, a.Requests.Memory), cmp.Compare(b.Requests.MilliCPU, a.Requests.MilliCPU),
			cmp.Compare(a.Name, b.Name))
	})
	for _, pod := range order {
		best, roomiest := -1, -1
		for i, n := range p.Nodes {
			if !n.admits(pod) {
				continue
			}
			free := n.Free()
			if roomiest < 0 || free.Memory > p.Nodes[roomiest].Free().Memory {
				roomiest = i
			}
			if pod.Requests.Within(free) && (best < 0 || free.Memory < p.Nodes[best].Free().Memory) {
				best = i
			}
		}
		if best >= 0 {
			p.Nodes[best].Used = p.Nodes[best].Used.Add(pod.Requests)
			p.On[pod.Name] = p.Nodes[best].Name
			continue
		}
		u := Unplaced{Pod: pod}
		if roomiest >= 0 {
			n := p.Nodes[roomiest]
			u.Best, u.Free, u.Missing = n.Name, n.Free(), pod.Requests.Sub(n.Free())
		}
		p.Unplaced = append(p.Unplaced, u)
	}
	return p
}
