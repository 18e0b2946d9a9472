package e2e

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// TestUpVerifiesTheServiceGraph runs `up` with its last step on, against one install of the
// default chart pair whose Prometheus pod's port 9090 reaches a real Prometheus. Tempo's part is
// played by remote-writing its service-graph series into that Prometheus. First nothing is
// written (up times out into the doctor), then three edges (up ends with them).
func TestUpVerifiesTheServiceGraph(t *testing.T) {
	w := newWorld(t, "graph")
	t.Cleanup(func() { w.teardown(t) })
	prom := promtest.Start(t, promtest.Options{})
	names, err := chartmod.Options{Release: w.Release, Namespace: w.Namespace}.Names()
	if err != nil {
		t.Fatal(err)
	}
	const limit = 5 * time.Minute

	// No series: up ends with the doctor's finding. (No subtests: the pod's route, set while the
	// first up runs, must outlive it.)
	r := w.runRoutingPrometheus(t, limit, names, prom.Addr, verifying(w.upArgs("--no-forward", "--graph-timeout", "20s")))
	expect(t, r, 60)
	if l := stepLine(t, r, "Waiting for the service graph"); !strings.HasPrefix(l, "FAIL ") {
		t.Errorf("verify step %q, want it failed", l)
	}
	mustContain(t, r, "no edges after 20s; the doctor says:", "✓ collector", "✓ tempo", "✗ prometheus",
		"remote writes received: 0", "the service graph pipeline is broken at the prometheus",
		"Nothing has remote-written to Prometheus", "GRAPH_EMPTY, exit code 60")

	// Three edges over the last five minutes, up to now: up reads at Prometheus's now.
	at := time.Now()
	fc := map[string]string{"client": "frontend", "server": "cart"}
	promtest.MustWrite(t, prom.URL,
		promtest.Counter(graph.MetricRequests, fc, 8, at, graph.DefaultWindow),
		promtest.Counter(graph.MetricFailed, fc, 2, at, graph.DefaultWindow),
		promtest.Counter(graph.MetricRequests, map[string]string{"client": "loadgen", "server": "frontend"}, 3, at, graph.DefaultWindow),
		promtest.Counter(graph.MetricRequests, map[string]string{"client": "checkout", "server": "kafka", "connection_type": "messaging_system"}, 1, at, graph.DefaultWindow),
	)

	// Now up ends with the edges, busiest first, and the Grafana link.
	r = w.run(t, limit, verifying(w.upArgs("--detach", "--graph-timeout", "1m"))...)
	expect(t, r, 0)
	if l := stepLine(t, r, "Waiting for the service graph"); !strings.HasPrefix(l, "ok   ") || !strings.HasSuffix(l, "service graph: 3 edges") {
		t.Errorf("verify step %q, want ok with \"service graph: 3 edges\"", l)
	}
	busiest := []string{
		"frontend → cart  8.00 req/s, 25.0% errors, p95 -",
		"loadgen → frontend  3.00 req/s, 0.0% errors, p95 -",
		"checkout → kafka (messaging_system)  1.00 req/s, 0.0% errors, p95 -",
	}
	mustContain(t, r, append(busiest, "Open it in Grafana: http://127.0.0.1:"+strconv.Itoa(w.Port)+"/grafana/")...)
	if i, j, k := strings.Index(r.stdout, busiest[0]), strings.Index(r.stdout, busiest[1]), strings.Index(r.stdout, busiest[2]); !(i < j && j < k) {
		t.Errorf("edges not busiest first:\n%s", r.stdout)
	}
	if strings.Contains(r.output(), "doctor") {
		t.Errorf("the doctor ran although the graph has edges:\n%s", r)
	}
}

// verifying drops upArgs' --no-verify: these tests want the service-graph step.
func verifying(args []string) []string {
	return slices.DeleteFunc(args, func(a string) bool { return a == "--no-verify" })
}

// runRoutingPrometheus runs svcgraph like w.run and, while it runs, sends the port 9090 of the
// release's Prometheus pod to target as soon as the pod exists (its name is made at install).
func (w *world) runRoutingPrometheus(t *testing.T, limit time.Duration, names chartmod.Names, target string, args []string) result {
	t.Helper()
	start := time.Now()
	return w.runWhile(t, limit, func(ctx context.Context, exited <-chan error) error {
		var err error
		if pod := w.waitPrometheusPod(ctx, names, exited, &err); pod != "" {
			w.cluster.ForwardPod(t, w.Namespace, pod, testcluster.Rule{PodPort: 9090, Target: target})
			t.Logf("Prometheus pod %s: port 9090 sent to %s after %s", pod, target, time.Since(start).Round(time.Millisecond))
			return errNotWaited
		}
		return err // the process exited first (its exit), or the watch could not go on (why)
	}, args...)
}

// waitPrometheusPod watches the world's namespace (it need not exist yet) for the pod of the
// Prometheus Deployment, named after names.PrometheusService. It returns "" when the process
// exits first (its error in *exitErr) or ctx ends.
func (w *world) waitPrometheusPod(ctx context.Context, names chartmod.Names, exited <-chan error, exitErr *error) string {
	ours := func(p *corev1.Pod) bool {
		for _, o := range p.OwnerReferences { // Deployment → ReplicaSet "<deployment>-<hash>" → pod
			if rest, ok := strings.CutPrefix(o.Name, names.PrometheusService+"-"); ok && o.Kind == "ReplicaSet" && !strings.Contains(rest, "-") {
				return true
			}
		}
		return false
	}
	for ctx.Err() == nil {
		watcher, err := w.cluster.Client.CoreV1().Pods(w.Namespace).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			*exitErr = err
			return ""
		}
		for open := true; open; {
			select {
			case ev, ok := <-watcher.ResultChan():
				if p, isPod := ev.Object.(*corev1.Pod); ok && isPod && ours(p) {
					watcher.Stop()
					return p.Name
				}
				open = ok // a watch the server ends is started again
			case err := <-exited:
				watcher.Stop()
				*exitErr = err
				return ""
			}
		}
	}
	*exitErr = ctx.Err()
	return ""
}
