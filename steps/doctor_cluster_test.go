package steps

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
	"github.com/svcgraph/svcgraph/kube"
)

// editConfigMap changes one key of a live ConfigMap and restores it when the test ends or when
// the returned function is called.
func editConfigMap(t *testing.T, cl *testcluster.Cluster, ns, name, key string, edit func(string) string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	cms := cl.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := cm.Data[key]
	changed := edit(old)
	if changed == old {
		t.Fatalf("ConfigMap %s key %s: the edit changed nothing:\n%s", name, key, old)
	}
	cm.Data[key] = changed
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			cm.Data[key] = old
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Errorf("restore ConfigMap %s: %v", name, err)
		}
	}
	t.Cleanup(restore)
	return restore
}

func yamlEdit(t *testing.T, edit func(map[string]any)) func(string) string {
	return func(text string) string {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
}

func mapAt(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m, _ = m[p].(map[string]any)
	}
	return m
}

// TestDoctorOnALiveRelease installs the demo (fixture charts) into the loopback cluster, plays
// Tempo with a real Prometheus behind the Prometheus pod, and breaks each link on purpose.
func TestDoctorOnALiveRelease(t *testing.T) {
	shared := testcluster.Require(t)
	pairs := chartmod.TestedPairs()
	oldest, newest := pairs[0], pairs[len(pairs)-1]
	t.Run(oldest.Demo+"+"+oldest.Tempo, func(t *testing.T) {
		doctorOnALiveRelease(t, shared, oldest)
	})
	t.Run(newest.Demo+"+"+newest.Tempo, func(t *testing.T) {
		// The newest demo requests more memory than the shared node's 8Gi (minikube's default,
		// which the budget check refuses for it, as e2e's TestNewestPair shows): a node of 12Gi.
		doctorOnALiveRelease(t, testcluster.Private(t, testcluster.Nodes(1, "4", "12Gi")...), newest)
	})
}

func doctorOnALiveRelease(t *testing.T, cl *testcluster.Cluster, pair chartmod.Pair) {
	prom := promtest.Start(t, promtest.Options{})
	promOff := promtest.Start(t, promtest.Options{NoRemoteWrite: true})
	srv := chartrepo.ServeFixtures(t)
	ns := cl.Namespace(t, "steps-doctor")
	k, err := kube.New(kube.Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	// The chart makes cluster-scoped objects (ClusterRoles) named after the release, which the
	// namespace's deletion leaves behind: a release name of its own, uninstalled at the end.
	release := "dr-" + ns[strings.LastIndex(ns, "-")+1:]
	t.Cleanup(func() {
		if err := k.Uninstall(context.Background(), release); err != nil {
			t.Errorf("uninstall %s: %v", release, err)
		}
	})
	var log bytes.Buffer
	s := &Session{Config: Config{
		Namespace: ns, Release: release, Timeout: 5 * time.Minute,
		DemoVersion: pair.Demo, TempoVersion: pair.Tempo,
		DemoRepo: srv.RepoURL("open-telemetry"), TempoRepo: srv.RepoURL("grafana-community"),
		CacheDir: t.TempDir(), Helm: chartrepo.HelmSettings(t),
	}, kube: k}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := (&Runner{Out: &log}).Run(ctx, Plan{AddRepos{}, PrepareCharts{}, Install{}, WaitPods{}}, s); err != nil {
		t.Fatalf("install: %v\n%s", err, log.String())
	}
	n := s.Patched.Names
	s.Patched = nil // the doctor finds the versions from the release, as `svcgraph doctor` does

	// The Prometheus pod's 9090 goes to the real Prometheus; Tempo's part is played by writes.
	svc, err := cl.Client.CoreV1().Services(ns).Get(ctx, n.PrometheusService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("Prometheus pods: %v, %v", pods, err)
	}
	promPod := pods.Items[0].Name
	route := func(target string) {
		cl.ForwardPod(t, ns, promPod, testcluster.Rule{PodPort: 9090, Target: target})
	}
	route(prom.Addr)

	// doctorUntil repeats the doctor until its report matches: kwok applies PortForward rules
	// through its own watch, so a new route takes effect a moment later.
	doctorUntil := func(what string, ok func(*DoctorReport) bool) *DoctorReport {
		t.Helper()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		// Every phase so far answered within a second; a phase that does not within 90 s will
		// not, and its last report says more than the whole test's deadline would.
		limit := time.NewTimer(90 * time.Second)
		defer limit.Stop()
		start := time.Now()
		for runs := 1; ; runs++ {
			rep, err := Doctor(ctx, s)
			if err != nil {
				t.Fatalf("%s: Doctor: %v", what, err)
			}
			if ok(rep) {
				t.Logf("%s: the doctor said so after %s (%d runs)", what, time.Since(start).Round(time.Millisecond), runs)
				return rep
			}
			var b bytes.Buffer
			select {
			case <-ctx.Done():
				rep.WriteText(&b)
				t.Fatalf("%s: the doctor never said so; last report:\n%s", what, b.String())
			case <-limit.C:
				rep.WriteText(&b)
				t.Fatalf("%s: the doctor did not say so within 90 s (%d runs); last report:\n%s", what, runs, b.String())
			case <-tick.C:
			}
		}
	}
	brokenAt := func(link, evidence string) func(*DoctorReport) bool {
		return func(r *DoctorReport) bool {
			last := r.Findings[len(r.Findings)-1]
			return !r.OK && last.Link == link && last.Fix != "" && strings.Contains(strings.Join(last.Evidence, "\n"), evidence)
		}
	}

	// No series yet: the doctor stops at Prometheus, and up --verify times out into the doctor.
	doctorUntil("nothing written", brokenAt("prometheus", "remote writes received: 0"))
	s.Config.GraphTimeout = time.Second
	var out bytes.Buffer
	err = (&Runner{Out: &out}).Run(ctx, Plan{VerifyGraph{Poll: 100 * time.Millisecond}}, s)
	if e := reason.Of(err); e.Kind != reason.GraphEmpty || !strings.Contains(e.Msg, "broken at the prometheus") ||
		!strings.Contains(out.String(), "the doctor says:") || !strings.Contains(out.String(), "Nothing has remote-written") {
		t.Fatalf("up --verify without series = %v; output:\n%s\nwant the doctor's finding at the prometheus link", err, out.String())
	}

	now := time.Now()
	promtest.MustWrite(t, prom.URL, promtest.Counter(graph.MetricRequests, map[string]string{"client": "frontend", "server": "cart"}, 1, now, time.Minute))

	rep := doctorUntil("nothing broken", func(r *DoctorReport) bool { return r.OK })
	var links []string
	for _, f := range rep.Findings {
		links = append(links, f.Link)
	}
	if !slices.Equal(links, []string{"collector", "tempo", "prometheus", "grafana"}) || rep.Err() != nil {
		t.Fatalf("all well: links %v, err %v", links, rep.Err())
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Logf("doctor, nothing broken:\n%s", text.String())
	if !strings.Contains(text.String(), "✓ grafana") || !strings.Contains(text.String(), "The service graph pipeline is complete.") {
		t.Errorf("report text:\n%s", text.String())
	}

	// 1. The Tempo exporter removed from the collector's traces pipeline.
	exporter := n.TempoDistributorService + ":"
	restore := editConfigMap(t, cl, ns, n.CollectorConfigMap, "relay", yamlEdit(t, func(m map[string]any) {
		traces := mapAt(m, "service", "pipelines", "traces")
		var keep []any
		for _, e := range traces["exporters"].([]any) {
			ep, _ := mapAt(m, "exporters", e.(string))["endpoint"].(string)
			if !strings.HasPrefix(ep, exporter) {
				keep = append(keep, e)
			}
		}
		traces["exporters"] = keep
	}))
	doctorUntil("Tempo exporter removed", brokenAt("collector", "lack"))
	restore()

	// 2. The processor list without service-graphs.
	restore = editConfigMap(t, cl, ns, n.TempoConfigMap, "tempo.yaml", yamlEdit(t, func(m map[string]any) {
		o := mapAt(m, "overrides")
		if _, ok := o["metrics_generator_processors"]; ok {
			o["metrics_generator_processors"] = []any{"span-metrics"}
		} else {
			mapAt(o, "defaults", "metrics_generator")["processors"] = []any{"span-metrics"}
		}
	}))
	doctorUntil("service-graphs processor off", brokenAt("tempo", "without service-graphs"))
	restore()

	// 3. Prometheus without the remote-write receiver.
	route(promOff.Addr)
	doctorUntil("no remote-write receiver", brokenAt("prometheus", "--web.enable-remote-write-receiver=false"))
	route(prom.Addr)

	// 4. The service map's datasourceUid pointing nowhere. Prometheus must still hold series for
	// the doctor to get past it, and a series goes stale 5 minutes after its last sample: a fresh
	// one, so a slow cluster (one run took minutes to get here) does not end in a Prometheus finding.
	promtest.MustWrite(t, prom.URL, promtest.Counter(graph.MetricRequests, map[string]string{"client": "frontend", "server": "checkout"}, 1, time.Now(), time.Minute))
	// Only the Tempo datasource's service map: other datasources of the same ConfigMap (0.41.0's
	// jaeger.yaml, default.yaml) have a datasourceUid of their own.
	uid := regexp.MustCompile(`(serviceMap:\s*datasourceUid:\s*)['"]?[A-Za-z0-9_-]+['"]?`)
	var key string
	cm, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, n.GrafanaDatasourceConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.Data {
		if uid.MatchString(v) {
			if key != "" {
				t.Fatalf("ConfigMap %s: a serviceMap datasourceUid in both %s and %s", n.GrafanaDatasourceConfigMap, key, k)
			}
			key = k
		}
	}
	if key == "" {
		t.Fatalf("no serviceMap datasourceUid in ConfigMap %s: %v", n.GrafanaDatasourceConfigMap, cm.Data)
	}
	editConfigMap(t, cl, ns, n.GrafanaDatasourceConfigMap, key, func(s string) string { return uid.ReplaceAllString(s, "${1}nowhere") })
	rep = doctorUntil("datasourceUid pointing nowhere", brokenAt("grafana", "nowhere"))
	text.Reset()
	rep.WriteText(&text)
	t.Logf("doctor, datasourceUid broken:\n%s", text.String())

	// 5. The collector Ready, but logging failed exports to Tempo (kwok serves the log we write;
	// it stays until the test ends, so this phase is the last).
	o, err := s.releaseOptions()
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.liveObjects(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	exporterName := tempoExporter(live)
	if exporterName == "" {
		t.Fatalf("no exporter to %s in the live collector config", n.TempoDistributorService)
	}
	_, _, collectors := podsReady(live, mountsConfigMap(n.CollectorConfigMap))
	if len(collectors) == 0 {
		t.Fatal("no collector pods")
	}
	failure := "Exporting failed. Dropping data.\t" + `{"kind": "exporter", "data_type": "traces", "name": "` + exporterName +
		`", "error": "rpc error: code = Unavailable desc = connection refused", "dropped_items": 7}`
	logFile := filepath.Join(t.TempDir(), "collector.log")
	if err := os.WriteFile(logFile, []byte("Everything is ready. Begin running and processing data.\n"+failure+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl.PodLogs(t, ns, collectors[0], "", logFile)
	rep = doctorUntil("collector logging export failures", brokenAt("collector", failure))
	if fix := rep.Findings[0].Fix; !strings.Contains(fix, "cannot send spans to Tempo") || !strings.Contains(fix, n.TempoDistributorService) {
		t.Errorf("fix for export failures: %q", fix)
	}
}
