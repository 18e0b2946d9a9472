package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// TestBudgetOnOneSmallNode: on one node of 4Gi, a VM-driver profile whose node reports the VM's
// size. `up --preset lite` makes the profile 2 CPUs and 4G, and is refused while another pod
// requests half the node (its requests are counted); the full demo (about 4.7Gi of requests) is
// refused too, with the table and the ways out; neither creates anything. Once the other pod is
// gone lite installs with every pod Ready, and status shows the node's requests.
func TestBudgetOnOneSmallNode(t *testing.T) {
	w := newWorld(t, "budget4g", onNodes(testcluster.Nodes(1, "4", "4Gi")...))
	t.Cleanup(func() { w.teardown(t) })

	hog := w.hog(t, "2Gi")
	r := w.run(t, 5*time.Minute, w.upArgs("--no-forward", "--preset", "lite", "--driver", "qemu2")...)
	expect(t, r, reason.ClusterTooSmall.ExitCode)
	mustContain(t, r, "FAIL Checking that the demo fits", "room left")
	if strings.Contains(r.output(), "--preset lite") {
		t.Errorf("lite is refused with advice to use lite:\n%s", r)
	}
	if calls := w.minikubeCalls(t); countCalls(calls, "start -p "+w.Profile+" --cpus 2 --memory 4096") != 1 {
		t.Errorf("up --preset lite did not start minikube with 2 CPUs and 4G: %v", calls)
	}
	w.nodesSized(t, "2", "4Gi")
	w.unchanged(t)

	if err := w.cluster.Client.CoreV1().Pods(hog).Delete(w.ctx(t), "hog", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	w.hogGone(t, hog)
	r = w.run(t, 5*time.Minute, w.upArgs("--no-forward", "--cpus", "2", "--memory", "4G")...)
	expect(t, r, reason.ClusterTooSmall.ExitCode)
	mustContain(t, r, "FAIL Checking that the demo fits", "the demo does not fit", "biggest consumers (requests)",
		"-loadgenerator", "room left", "--preset lite", "--set components.NAME.enabled=false", "svcgraph up --memory",
		"("+reason.ClusterTooSmall.ID+", exit code 45)")
	w.unchanged(t)

	r = w.run(t, 10*time.Minute, w.upArgs("--no-forward", "--preset", "lite")...)
	expect(t, r, 0)
	mustContain(t, r, "ok   Checking that the demo fits", "2.1Gi memory of 2 CPU, 4Gi memory free on 1 node")
	n := w.podsReady(t)
	if n < 20 {
		t.Errorf("lite runs %d pods, fewer than its list keeps", n)
	}
	st := w.run(t, time.Minute, append([]string{"status"}, w.names()...)...)
	expect(t, st, 0)
	mustContain(t, st, "node minikube: memory 2.1Gi of 4Gi requested, CPU 100m of 2")
}

// TestBudgetEveryPodMustFitOneNode: three nodes of 2Gi hold the sum of the lite demo with a
// load generator of 2500Mi, but no node holds that pod: refused, naming it.
func TestBudgetEveryPodMustFitOneNode(t *testing.T) {
	w := newWorld(t, "budget3x2g", onNodes(testcluster.Nodes(3, "2", "2Gi")...))
	t.Cleanup(func() { w.teardown(t) })
	r := w.run(t, 5*time.Minute, w.upArgs("--no-forward", "--preset", "lite", "--driver", "qemu2", "--cpus", "2", "--memory", "2G",
		"--set", "components.loadgenerator.resources.requests.memory=2500Mi",
		"--set", "components.loadgenerator.resources.limits.memory=2500Mi")...)
	expect(t, r, reason.ClusterTooSmall.ExitCode)
	w.nodesSized(t, "2", "2Gi")
	mustContain(t, r, "1 pod fit on no node (3 nodes", "Deployment/"+w.Release+"-loadgenerator requests 0 CPU, 2.4Gi memory")
	w.unchanged(t)
}

// hog starts a pod in a namespace of its own that requests that much memory, and waits until it
// is bound to a node; it returns the namespace.
func (w *world) hog(t *testing.T, memory string) string {
	t.Helper()
	ns := w.cluster.Namespace(t, "hog")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hog"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hog", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memory)}}}}},
	}
	ctx := w.ctx(t)
	if _, err := w.cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.pollPod(t, ctx, ns, func(p *corev1.Pod, err error) bool { return err == nil && p.Spec.NodeName != "" })
	return ns
}

func (w *world) hogGone(t *testing.T, ns string) {
	t.Helper()
	w.pollPod(t, w.ctx(t), ns, func(_ *corev1.Pod, err error) bool { return err != nil })
}

func (w *world) pollPod(t *testing.T, ctx context.Context, ns string, done func(*corev1.Pod, error) bool) {
	t.Helper()
	for {
		p, err := w.cluster.Client.CoreV1().Pods(ns).Get(ctx, "hog", metav1.GetOptions{})
		if done(p, err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/hog: %v", ns, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodesSized asserts that the minikube double gave every node the profile's size, as a real
// VM-driver minikube node reports it (allocatable = capacity).
func (w *world) nodesSized(t *testing.T, cpus, memory string) {
	t.Helper()
	nodes, err := w.cluster.Client.CoreV1().Nodes().List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for what, l := range map[string]corev1.ResourceList{"capacity": n.Status.Capacity, "allocatable": n.Status.Allocatable} {
			if l.Cpu().Cmp(resource.MustParse(cpus)) != 0 || l.Memory().Cmp(resource.MustParse(memory)) != 0 {
				t.Errorf("node %s %s: %s CPU, %s memory; want the profile's %s and %s", n.Name, what, l.Cpu(), l.Memory(), cpus, memory)
			}
		}
	}
}
