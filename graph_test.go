package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
	"github.com/svcgraph/svcgraph/kube"
	"github.com/svcgraph/svcgraph/steps"
)

func TestGraphOutputFlag(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	out, code := run(t, "graph", "-o", "svg")
	if code != 2 || !strings.Contains(out, `unknown --output "svg"`) || !strings.Contains(out, "--output mermaid") {
		t.Errorf("graph -o svg: exit %d\n%s", code, out)
	}
}

// TestGraphAndDoctorCommands installs the demo from the fixture charts into the loopback
// cluster, puts a real Prometheus behind its Prometheus pod, and runs `svcgraph graph` and
// `svcgraph doctor` as a user would.
func TestGraphAndDoctorCommands(t *testing.T) {
	cl := testcluster.Require(t)
	prom := promtest.Start(t, promtest.Options{})
	srv := chartrepo.ServeFixtures(t)
	ns := cl.Namespace(t, "main-graph")
	release := "gr-" + ns[strings.LastIndex(ns, "-")+1:]
	t.Setenv("HOME", t.TempDir())
	k, err := kube.New(kube.Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Uninstall(context.Background(), release, time.Minute); err != nil {
			t.Errorf("uninstall %s: %v", release, err)
		}
	})
	helm := chartrepo.HelmSettings(t)
	profile := "svcgraph-testcluster" // the admin kubeconfig's context
	s := &steps.Session{Config: steps.Config{
		Kubeconfig: cl.Kubeconfig, Profile: profile, Namespace: ns, Release: release, Timeout: 5 * time.Minute,
		DemoRepo: srv.RepoURL("open-telemetry"), TempoRepo: srv.RepoURL("grafana-community"),
		CacheDir: t.TempDir(), Helm: helm,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log bytes.Buffer
	if err := (&steps.Runner{Out: &log}).Run(ctx, steps.Plan{steps.AddRepos{}, steps.PrepareCharts{}, steps.Install{}, steps.WaitPods{}}, s); err != nil {
		t.Fatalf("install: %v\n%s", err, log.String())
	}
	n := s.Patched.Names
	svc, err := cl.Client.CoreV1().Services(ns).Get(ctx, n.PrometheusService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("Prometheus pods: %v, %v", pods, err)
	}
	args := []string{"--kubeconfig", cl.Kubeconfig, "--profile", profile, "-n", ns, "--release", release}

	// A Prometheus that does not answer is not an empty graph: exit 61, not 60. The pod's port
	// goes to a closed port (before kwok applies the rule it goes nowhere, which is the same).
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	cl.ForwardPod(t, ns, pods.Items[0].Name, testcluster.Rule{PodPort: 9090, Target: closed.Addr().String()})
	if out, code := run(t, append([]string{"graph"}, args...)...); code != 61 || !strings.Contains(out, "PROMETHEUS_UNREACHABLE") || !strings.Contains(out, "Prometheus pod is Ready") {
		t.Errorf("graph with Prometheus not answering: exit %d, want 61 (PROMETHEUS_UNREACHABLE) with advice\n%s", code, out)
	}
	cl.ForwardPod(t, ns, pods.Items[0].Name, testcluster.Rule{PodPort: 9090, Target: prom.Addr})

	// Until kwok routes the pod's port to Prometheus the command cannot read (exit 61); once it
	// does, the graph is empty: exit 60.
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		out, code := run(t, append([]string{"graph"}, args...)...)
		if code == 60 && strings.Contains(out, "the service graph has no edges over the last 5m0s") {
			if !strings.Contains(out, "svcgraph doctor") {
				t.Errorf("empty graph advice does not name the doctor:\n%s", out)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("svcgraph graph never reached Prometheus; last output (exit %d):\n%s", code, out)
		case <-tick.C:
		}
	}

	// Tempo's part: two edges written up to now, read at Prometheus's now (within seconds).
	at := time.Now()
	fc := map[string]string{"client": "frontend", "server": "cart"}
	promtest.MustWrite(t, prom.URL,
		promtest.Counter(graph.MetricRequests, fc, 8, at, graph.DefaultWindow),
		promtest.Counter(graph.MetricFailed, fc, 2, at, graph.DefaultWindow),
		promtest.Counter(graph.MetricRequests, map[string]string{"client": "loadgen", "server": "frontend"}, 3, at, graph.DefaultWindow),
	)
	out, code := run(t, append([]string{"graph", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("graph -o json: exit %d\n%s", code, out)
	}
	var got struct {
		Edges []graph.Edge `json:"edges"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(got.Edges) != 2 || got.Edges[0].Client != "frontend" || got.Edges[1].Client != "loadgen" ||
		math.Abs(got.Edges[0].RequestsPerSec-8) > 1e-6 || math.Abs(got.Edges[0].ErrorRatio-0.25) > 1e-6 ||
		math.Abs(got.Edges[1].RequestsPerSec-3) > 1e-6 || got.Edges[1].ErrorRatio != 0 {
		t.Errorf("graph -o json: %+v, want frontend → cart 8/s 25%% errors, loadgen → frontend 3/s", got.Edges)
	}
	out, code = run(t, append([]string{"graph", "-o", "mermaid"}, args...)...)
	if code != 0 || !strings.Contains(out, `n0["frontend"]`) || !strings.Contains(out, `-->|"8.00 req/s, 25.0% errors, p95 -"| n1`) {
		t.Errorf("graph -o mermaid: exit %d\n%s", code, out)
	}

	out, code = run(t, append([]string{"doctor", "-o", "json"}, args...)...)
	var rep steps.DoctorReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || !rep.OK || len(rep.Findings) != 4 {
		t.Errorf("doctor -o json: exit %d, %v\n%s", code, err, out)
	}
}

// The commands that work on an installed release say so, with one kind and exit code, when
// there is none, rather than failing as a port-forward or an empty graph would.
func TestCommandsWithoutARelease(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "main-none")
	t.Setenv("HOME", t.TempDir())
	port := 0
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	} else {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", cl.Kubeconfig, "--profile", "svcgraph-testcluster", "-n", ns, "--release", "absent"}
	for _, cmd := range [][]string{{"forward", "--port", strconv.Itoa(port)}, {"graph"}, {"doctor"}} {
		out, code := run(t, append(cmd, args...)...)
		if code != 44 || !strings.Contains(out, "release absent is not installed in namespace "+ns) ||
			!strings.Contains(out, "NOT_INSTALLED") || !strings.Contains(out, "Run `svcgraph up` first") {
			t.Errorf("%s without a release: exit %d, want 44 (NOT_INSTALLED) naming the release and the fix\n%s", cmd[0], code, out)
		}
	}
}
