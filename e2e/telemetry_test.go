package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/otelcol"
	"github.com/svcgraph/svcgraph/internal/otelcol/otelcoltest"
	"github.com/svcgraph/svcgraph/internal/promtest"
)

// TestTelemetryThroughTheRealCollector proves the chain with real telemetry: `up` installs the
// default pair; the collector config it installed (the live ConfigMap) runs in the real
// collector of the chart's version, with its addresses moved to loopback ports and nothing else
// changed; spans of client/server pairs across services go in; a real collector with the
// servicegraph connector plays Tempo's metrics-generator and remote-writes into the real
// Prometheus behind the release's Prometheus pod; `svcgraph graph -o json` shows the edges with
// their rates. Then Tempo's endpoint closes, and the doctor reads the collector's own log lines
// about it through the pod's log.
func TestTelemetryThroughTheRealCollector(t *testing.T) {
	otelcoltest.Dir(t) // skip before installing anything when there are no builds
	w := newWorld(t, "telemetry")
	t.Cleanup(func() { w.teardown(t) })
	prom := promtest.Start(t, promtest.Options{})
	names, err := chartmod.Options{Release: w.Release, Namespace: w.Namespace}.Names()
	if err != nil {
		t.Fatal(err)
	}
	r := w.runRoutingPrometheus(t, 10*time.Minute, names, prom.Addr, w.upArgs("--no-forward"))
	expect(t, r, 0)
	ctx := w.ctx(t)

	// What up installed: the collector's config, workload and service account.
	cm, err := w.cluster.Client.CoreV1().ConfigMaps(w.Namespace).Get(ctx, names.CollectorConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relay := cm.Data["relay"]
	col := w.liveCollector(t, names.CollectorConfigMap)
	t.Logf("live collector: %s, image %s, service account %s, pod %s", col.workload, col.image, col.serviceAccount, col.pod)
	version := col.image[strings.LastIndex(col.image, ":")+1:]
	bin := otelcoltest.Binary(t, "otelcol", version)
	metricsgen := otelcoltest.Binary(t, otelcol.MetricsGenerator, version)
	telemetrygen := otelcoltest.Telemetrygen(t)

	// Tempo's metrics-generator: a real collector that turns span pairs into service-graph series.
	mgOTLP, mgSelf := freeAddr(t), freeAddr(t)
	mgConfig := writeFile(t, "metricsgen.yaml", otelcol.MetricsGeneratorConfig(mgOTLP, prom.URL+"/api/v1/write", mgSelf))
	mg := otelcoltest.Start(t, "metricsgen", []string{metricsgen, "--config=" + mgConfig}, nil)
	mg.WaitLog(t, time.Minute, otelcoltest.Ready)

	// The demo's collector on the live config, its addresses on loopback, Tempo's at the stand-in.
	tempo := fmt.Sprintf("%s:%d", names.TempoDistributorService, names.TempoDistributorOTLPPort)
	cfg, moved, err := otelcoltest.Loopback(relay, map[string]string{tempo: mgOTLP})
	if err != nil {
		t.Fatal(err)
	}
	if err := otelcoltest.Unchanged(relay, cfg, moved); err != nil {
		t.Fatalf("the loopback config differs in more than addresses: %v", err)
	}
	t.Logf("addresses moved to loopback: %v", moved)
	argv := append([]string{bin, "--config=" + writeFile(t, "relay.yaml", cfg)}, col.featureGates...)
	cmd, podEnv := otelcoltest.InPod(t, w.serviceAccount(t, col.serviceAccount), argv)
	col.env["MY_POD_IP"] = "127.0.0.1" // the pod's IP, from the downward API
	env := append(podEnv, otelcoltest.Env(otelcoltest.EnvRefs(relay), col.env)...)
	collector := otelcoltest.Start(t, "collector", cmd, env)
	collector.WaitLog(t, 2*time.Minute, otelcoltest.Ready)

	// Spans: three services' calls as OTLP/HTTP, and telemetrygen's own client/server pairs as
	// OTLP/gRPC (one service: its spans share a resource).
	httpURL := "http://" + moved["${env:MY_POD_IP}:4318"]
	grpcAddr := moved["${env:MY_POD_IP}:4317"]
	if moved["${env:MY_POD_IP}:4318"] == "" || grpcAddr == "" {
		t.Fatalf("the config has no OTLP receiver on ${env:MY_POD_IP}:4317/4318: %v", moved)
	}
	var calls []otelcoltest.Call
	for i := 0; i < 6; i++ {
		calls = append(calls, otelcoltest.Call{Client: "frontend", Server: "cart", Failed: i == 0})
	}
	for i := 0; i < 3; i++ {
		calls = append(calls, otelcoltest.Call{Client: "loadgen", Server: "frontend"})
	}
	calls = append(calls, otelcoltest.Call{Client: "checkout", Server: "payment"})
	tg := otelcoltest.Start(t, "telemetrygen", []string{telemetrygen, "traces", "--otlp-endpoint", grpcAddr, "--otlp-insecure",
		"--service", "telemetrygen", "--rate", "2", "--duration", "10m"}, nil)
	want := map[string]bool{"frontend→cart": true, "loadgen→frontend": true, "checkout→payment": true, "telemetrygen→telemetrygen": true}
	p := &graph.Prom{URL: prom.URL}
	deadline := time.NewTimer(3 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	for rounds := 1; ; rounds++ {
		if err := otelcoltest.SendSpans(ctx, httpURL, calls); err != nil {
			t.Fatalf("send spans: %v", err)
		}
		// Every edge with at least three samples: enough for rate() over the window.
		samples, err := p.Query(ctx, "count_over_time("+graph.MetricRequests+"[5m])", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, s := range samples {
			if want[s.Labels["client"]+"→"+s.Labels["server"]] && s.Value >= 3 {
				seen++
			}
		}
		if seen == len(want) {
			t.Logf("every edge has 3 samples in Prometheus after %s (%d rounds of spans)", time.Since(start).Round(time.Millisecond), rounds)
			break
		}
		select {
		case <-deadline.C:
			t.Fatalf("after 3 minutes Prometheus has %d of the %d edges: %v\ncollector:\n%s\nmetricsgen:\n%s", seen, len(want), samples,
				otelcoltest.Tail(collector.Output(), 20), otelcoltest.Tail(mg.Output(), 20))
		case <-tg.Done():
			t.Fatalf("telemetrygen exited (%v):\n%s", tg.Err(), otelcoltest.Tail(tg.Output(), 20))
		case <-tick.C:
		}
	}

	// k8sattributes listed and watched pods as the collector's service account: client-go logs
	// every failed list or watch (a bad token, a missing RBAC rule).
	for _, l := range strings.Split(collector.Output(), "\n") {
		if strings.Contains(l, "failed to list") || strings.Contains(l, "Failed to watch") {
			t.Fatalf("the collector's Kubernetes client failed: %s", l)
		}
	}

	// svcgraph graph reads them through its port-forward to the Prometheus pod.
	r = w.run(t, 2*time.Minute, append([]string{"graph", "-o", "json"}, w.names()...)...)
	expect(t, r, 0)
	var g graph.Graph
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil {
		t.Fatalf("graph -o json: %v\n%s", err, r)
	}
	edges := map[string]graph.Edge{}
	for _, e := range g.Edges {
		edges[e.Client+"→"+e.Server] = e
	}
	for e := range want {
		if edges[e].RequestsPerSec <= 0 {
			t.Errorf("edge %s: %+v, want a request rate above 0", e, edges[e])
		}
	}
	fc, lf, cp := edges["frontend→cart"], edges["loadgen→frontend"], edges["checkout→payment"]
	if !(fc.RequestsPerSec > lf.RequestsPerSec && lf.RequestsPerSec > cp.RequestsPerSec) {
		t.Errorf("rates do not follow the 6:3:1 calls per round: frontend→cart %.3f, loadgen→frontend %.3f, checkout→payment %.3f",
			fc.RequestsPerSec, lf.RequestsPerSec, cp.RequestsPerSec)
	}
	if fc.ErrorRatio <= 0 || lf.ErrorRatio != 0 {
		t.Errorf("error ratios: frontend→cart %.3f (1 of 6 failed), loadgen→frontend %.3f (none)", fc.ErrorRatio, lf.ErrorRatio)
	}
	t.Logf("svcgraph graph -o json:\n%s", r.stdout)

	// The doctor reads the collector's real log through the pod: healthy first.
	w.cluster.PodLogs(t, w.Namespace, col.pod, "", collector.Log)
	r = w.run(t, 2*time.Minute, append([]string{"doctor"}, w.names()...)...)
	expect(t, r, 0)
	mustContain(t, r, "✓ collector", "no export failures to Tempo", "The service graph pipeline is complete.")

	// Tempo's endpoint closes: the collector's exporter fails, and says so in its log.
	mg.Stop()
	if err := otelcoltest.SendSpans(ctx, httpURL, calls); err != nil {
		t.Fatalf("send spans: %v", err)
	}
	line := collector.WaitLog(t, 2*time.Minute, "Exporting failed", `"otlp/tempo"`)
	t.Logf("the collector logged: %s", line)
	w.cluster.PodLogs(t, w.Namespace, col.pod, "", collector.Log)
	w.waitPodLog(t, col.pod, line)
	r = w.run(t, 2*time.Minute, append([]string{"doctor"}, w.names()...)...)
	expect(t, r, 60)
	mustContain(t, r, "✗ collector", "export failure(s) to Tempo", `"otlp/tempo"`, mgOTLP, "cannot send spans to Tempo")
	t.Logf("svcgraph doctor with Tempo's endpoint closed:\n%s", r.stdout)
}

// liveCollectorInfo is the installed collector: the workload whose pods mount the ConfigMap, its
// image, service account, feature gates and the environment variables given as plain values
// (those from the downward API the test sets itself), and one pod of it.
type liveCollectorInfo struct {
	workload, image, serviceAccount, pod string
	featureGates                         []string
	env                                  map[string]string
}

func (w *world) liveCollector(t *testing.T, configMap string) liveCollectorInfo {
	t.Helper()
	ctx := w.ctx(t)
	deps, err := w.cluster.Client.AppsV1().Deployments(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dss, err := w.cluster.Client.AppsV1().DaemonSets(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type workload struct {
		name     string
		spec     corev1.PodSpec
		selector *metav1.LabelSelector
	}
	var all []workload
	for _, d := range deps.Items {
		all = append(all, workload{"Deployment/" + d.Name, d.Spec.Template.Spec, d.Spec.Selector})
	}
	for _, d := range dss.Items {
		all = append(all, workload{"DaemonSet/" + d.Name, d.Spec.Template.Spec, d.Spec.Selector})
	}
	for _, wl := range all {
		mounts := false
		for _, v := range wl.spec.Volumes {
			mounts = mounts || (v.ConfigMap != nil && v.ConfigMap.Name == configMap)
		}
		if !mounts {
			continue
		}
		c := wl.spec.Containers[0]
		info := liveCollectorInfo{workload: wl.name, image: c.Image, serviceAccount: wl.spec.ServiceAccountName, env: map[string]string{}}
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--feature-gates") {
				info.featureGates = append(info.featureGates, a)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				info.env[e.Name] = e.Value
			}
		}
		sel, err := metav1.LabelSelectorAsSelector(wl.selector)
		if err != nil {
			t.Fatal(err)
		}
		pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods of %s (%s): %v, %v", wl.name, sel, pods, err)
		}
		info.pod = pods.Items[0].Name
		return info
	}
	t.Fatalf("no Deployment or DaemonSet in %s mounts ConfigMap %s", w.Namespace, configMap)
	return liveCollectorInfo{}
}

// serviceAccount is what a pod of that service account gets: a fresh token, the cluster's CA and
// the API server's address.
func (w *world) serviceAccount(t *testing.T, name string) otelcoltest.ServiceAccount {
	t.Helper()
	ttl := int64(3600)
	tok, err := w.cluster.Client.CoreV1().ServiceAccounts(w.Namespace).CreateToken(w.ctx(t), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for service account %s: %v", name, err)
	}
	ca := w.cluster.Config.TLSClientConfig.CAData
	if len(ca) == 0 && w.cluster.Config.TLSClientConfig.CAFile != "" {
		if ca, err = os.ReadFile(w.cluster.Config.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(w.cluster.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	return otelcoltest.ServiceAccount{Token: []byte(tok.Status.Token), CA: ca, Namespace: w.Namespace, APIHost: u.Hostname(), APIPort: u.Port()}
}

// waitPodLog waits until the API server serves the pod's log with that line in it: kwok takes a
// changed log file up through its own watch.
func (w *world) waitPodLog(t *testing.T, pod, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx(t), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := w.cluster.Client.CoreV1().Pods(w.Namespace).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err == nil && strings.Contains(string(got), line) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the log of pod %s does not show %q within 30 s (err %v)", pod, line, err)
		case <-tick.C:
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := otelcoltest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
