package kube

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/internal/english"
)

// releaseLabel is the label both charts put on every pod with the release name.
const releaseLabel = "app.kubernetes.io/instance"

// nodeReadTimeout bounds the two lists Nodes makes.
const nodeReadTimeout = 30 * time.Second

// NodeRooms is the room on the cluster's nodes: what each can give pods and what pods that are
// not the release's own already request there.
type NodeRooms struct {
	Nodes []budget.Node
	// ReleaseOn is what the release's own pods (an earlier install of it) request today, by
	// node: an upgrade replaces them, so that room counts as free.
	ReleaseOn map[string]budget.Amount
	// Skipped names nodes new pods cannot go to (cordoned, or tainted NoSchedule/NoExecute).
	Skipped []string
}

// Nodes reads every node's allocatable CPU and memory and the requests of the pods bound to it
// (as the scheduler counts them), from the API. Pods of the release (namespace and
// app.kubernetes.io/instance label) are left out of Used, since an upgrade replaces them.
func (c *Client) Nodes(ctx context.Context, namespace, release string) (NodeRooms, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeReadTimeout)
	defer cancel()
	rooms := NodeRooms{ReleaseOn: map[string]budget.Amount{}}
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return rooms, c.requestErr(ctx, err, "list", "the cluster's nodes")
	}
	pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{
		FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return rooms, c.requestErr(ctx, err, "list", "the cluster's pods")
	}
	used := map[string]budget.Amount{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" {
			continue
		}
		req := budget.Of(resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
		if p.Namespace == namespace && p.Labels[releaseLabel] == release {
			rooms.ReleaseOn[p.Spec.NodeName] = rooms.ReleaseOn[p.Spec.NodeName].Add(req)
			continue
		}
		used[p.Spec.NodeName] = used[p.Spec.NodeName].Add(req)
	}
	for _, n := range nodes.Items {
		if !schedulable(&n) {
			rooms.Skipped = append(rooms.Skipped, n.Name)
			continue
		}
		rooms.Nodes = append(rooms.Nodes, budget.Node{Name: n.Name, Labels: n.Labels,
			Allocatable: budget.Of(n.Status.Allocatable), Used: used[n.Name]})
	}
	sort.Slice(rooms.Nodes, func(i, j int) bool { return rooms.Nodes[i].Name < rooms.Nodes[j].Name })
	return rooms, nil
}

// schedulable says whether new pods without tolerations may go to the node.
func schedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}

// Sum adds up allocatable and used over the nodes.
func (r NodeRooms) Sum() (allocatable, used budget.Amount) {
	for _, n := range r.Nodes {
		allocatable, used = allocatable.Add(n.Allocatable), used.Add(n.Used)
	}
	return allocatable, used
}

// String is one line for messages: "1 node, 4 CPU, 8Gi memory allocatable".
func (r NodeRooms) String() string {
	a, _ := r.Sum()
	return fmt.Sprintf("%s, %s allocatable", english.Count(len(r.Nodes), "node"), a)
}
