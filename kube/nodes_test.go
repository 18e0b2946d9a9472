package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// Nodes counts other pods' requests as used and the release's own pods apart (an upgrade
// replaces them), from the real API server.
func TestNodesCountsOtherPodsApartFromTheRelease(t *testing.T) {
	cl := testcluster.Require(t)
	releaseNS, otherNS := cl.Namespace(t, "kube-nodes-rel"), cl.Namespace(t, "kube-nodes-other")
	c := newClient(t, cl, releaseNS)
	ctx := testContext(t, time.Minute)
	before, err := c.Nodes(ctx, releaseNS, "rel")
	if err != nil {
		t.Fatal(err)
	}
	mine := mkPod(t, cl, releaseNS, "mine", map[string]string{releaseLabel: "rel"}, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("300Mi")})
	other := mkPod(t, cl, otherNS, "other", map[string]string{releaseLabel: "rel"}, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("200Mi"), corev1.ResourceCPU: resource.MustParse("250m")})
	for _, p := range []*corev1.Pod{mine, other} {
		waitFor(t, ctx, cl, p.Namespace, p.Name+" to be bound", func(e watch.Event) bool {
			got, ok := e.Object.(*corev1.Pod)
			return ok && got.Name == p.Name && got.Spec.NodeName != ""
		})
	}
	after, err := c.Nodes(ctx, releaseNS, "rel")
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Nodes) == 0 || after.Nodes[0].Allocatable.Memory == 0 || after.Nodes[0].Allocatable.MilliCPU == 0 {
		t.Fatalf("nodes %+v: want allocatable CPU and memory", after.Nodes)
	}
	_, usedBefore := before.Sum()
	_, usedAfter := after.Sum()
	if got := usedAfter.Sub(usedBefore); got.Memory != 200<<20 || got.MilliCPU != 250 {
		t.Errorf("used grew by %v, want the other namespace's pod only (200Mi, 250m)", got)
	}
	var rel int64
	for _, a := range after.ReleaseOn {
		rel += a.Memory
	}
	if rel != 300<<20 {
		t.Errorf("the release's own pods request %d bytes, want 300Mi", rel)
	}
}
