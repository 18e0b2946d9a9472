package steps

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
	"github.com/svcgraph/svcgraph/kube"
)

// promInCluster plays the release's Prometheus in a namespace of the loopback cluster: a
// Service and a Ready pod whose port 9090 kwok forwards to a real Prometheus on loopback.
// It returns a session for that namespace whose names point at the Service.
func promInCluster(t *testing.T, cl *testcluster.Cluster, prom *promtest.Server, prefix string) (*Session, *bytes.Buffer) {
	t.Helper()
	ns := cl.Namespace(t, prefix)
	ctx := context.Background()
	labels := map[string]string{"app.kubernetes.io/name": "prometheus"}
	_, err := cl.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 9090, TargetPort: intstr.FromString("http")},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-0", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "prometheus-server", Image: "example.invalid/prometheus:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cl.ForwardPod(t, ns, "prometheus-0", testcluster.Rule{PodPort: 9090, Target: prom.Addr})
	k, err := kube.New(kube.Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := k.WaitPods(wctx, ns, kube.WaitOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := &Session{
		Config:  Config{Namespace: ns, Release: "graph-test"},
		Patched: &chartmod.Patched{Names: chartmod.Names{Namespace: ns, PrometheusService: "prometheus", PrometheusPort: 9090}},
		kube:    k,
		runner:  &Runner{Out: &out, Verbose: true},
	}
	return s, &out
}

func TestReadGraphThroughAPortForward(t *testing.T) {
	cl := testcluster.Require(t)
	prom := promtest.Start(t, promtest.Options{})
	s, out := promInCluster(t, cl, prom, "steps-graph")

	window := 2 * time.Minute
	at := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	fc := map[string]string{"client": "frontend", "server": "cart"}
	pa := map[string]string{"client": "payment", "server": "postgres", "connection_type": "database"}
	promtest.MustWrite(t, prom.URL,
		promtest.Counter(graph.MetricRequests, fc, 4, at, window),
		promtest.Counter(graph.MetricFailed, fc, 1, at, window),
		promtest.Counter(graph.MetricRequests, pa, 0.5, at, window),
	)

	// kwok learns the PortForward rule through a watch of its own; until it has, forwards go to
	// the cluster's default target and the read fails. Repeat until the real answer comes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var g *graph.Graph
	var err error
	for {
		if g, err = ReadGraph(ctx, s, graph.Options{Window: window, At: at}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ReadGraph never succeeded; last error: %v", err)
		case <-tick.C:
		}
	}
	if g.Window != window || len(g.Edges) != 2 {
		t.Fatalf("graph over %s with %d edges, want %s and 2: %+v", g.Window, len(g.Edges), window, g.Edges)
	}
	e := g.Edges[0]
	if e.Client != "frontend" || e.Server != "cart" || math.Abs(e.RequestsPerSec-4) > 1e-9 || math.Abs(e.ErrorRatio-0.25) > 1e-9 {
		t.Errorf("busiest edge %+v, want frontend → cart at 4 req/s with 25%% errors", e)
	}
	e = g.Edges[1]
	if e.Client != "payment" || e.Server != "postgres" || e.ConnectionType != "database" || math.Abs(e.RequestsPerSec-0.5) > 1e-9 || e.ErrorRatio != 0 {
		t.Errorf("second edge %+v, want payment → postgres (database) at 0.5 req/s without errors", e)
	}

	// The forward was on a port the system picked, and it is closed again.
	m := regexp.MustCompile(`forwarded to (127\.0\.0\.1:\d+)`).FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no forward reported in the debug output:\n%s", out.String())
	}
	addr := m[len(m)-1][1]
	if addr == "127.0.0.1:9090" {
		t.Errorf("forwarded on %s, want a system-picked port", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the forward on %s still listens after ReadGraph returned", addr)
	}

	// Before anything was written: no edges, and EmptyGraph says so with GRAPH_EMPTY.
	g, err = ReadGraph(ctx, s, graph.Options{Window: window, At: at.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 0 {
		t.Fatalf("an hour earlier: %d edges, want none", len(g.Edges))
	}
	var re *reason.Error
	if err := EmptyGraph(g); !errors.As(err, &re) || re.Kind != reason.GraphEmpty {
		t.Errorf("EmptyGraph = %v, want kind %s", err, reason.GraphEmpty.ID)
	}
}

func TestReadGraphWithoutPrometheusService(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "steps-graph-nosvc")
	k, err := kube.New(kube.Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{
		Config:  Config{Namespace: ns, Release: "graph-test"},
		Patched: &chartmod.Patched{Names: chartmod.Names{PrometheusService: "prometheus", PrometheusPort: 9090}},
		kube:    k,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = ReadGraph(ctx, s, graph.Options{})
	if reason.Of(err).Kind != reason.Forward {
		t.Fatalf("ReadGraph without the service = %v, want kind %s", err, reason.Forward.ID)
	}
}
