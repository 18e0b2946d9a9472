package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Finding is the doctor's verdict on one link of the pipeline spans → collector → Tempo →
// Prometheus → Grafana.
type Finding struct {
	Link     string   `json:"link"` // collector, tempo, prometheus, grafana
	OK       bool     `json:"ok"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix,omitempty"`
}

// DoctorReport lists the links checked, in pipeline order; it stops at the first broken one.
type DoctorReport struct {
	OK       bool      `json:"ok"`
	Findings []Finding `json:"findings"`
}

// WriteText prints one ✓/✗ line per link with its evidence, and the fix of a broken one.
func (r *DoctorReport) WriteText(w io.Writer) {
	for _, f := range r.Findings {
		mark := "✓"
		if !f.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %s\n", mark, f.Link)
		for _, e := range f.Evidence {
			fmt.Fprintf(w, "    %s\n", e)
		}
		if f.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", f.Fix)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "The service graph pipeline is complete.")
	}
}

// Err is nil when every link holds, else a GRAPH_EMPTY error naming the broken link.
func (r *DoctorReport) Err() error {
	for _, f := range r.Findings {
		if !f.OK {
			return reason.New(reason.GraphEmpty, f.Fix, "the service graph pipeline is broken at the %s", f.Link)
		}
	}
	return nil
}

// Doctor walks the live release's service-graph pipeline and stops at the first broken link.
// It fails only when it cannot look (no cluster, no release).
func Doctor(ctx context.Context, s *Session) (*DoctorReport, error) {
	o, err := s.releaseOptions()
	if err != nil {
		return nil, err
	}
	live, err := s.liveObjects(ctx, o)
	if err != nil {
		return nil, err
	}
	rep := &DoctorReport{}
	for _, link := range []func(context.Context, *Session, *chartmod.Rendered) Finding{doctorCollector, doctorTempo, doctorPrometheus, doctorGrafana} {
		f := link(ctx, s, live)
		rep.Findings = append(rep.Findings, f)
		if !f.OK {
			return rep, nil
		}
	}
	rep.OK = true
	return rep, nil
}

// liveObjects reads the namespace's ConfigMaps, Services, Deployments and StatefulSets in the
// shape the render checks read (JSON numbers), plus pods for readiness.
func (s *Session) liveObjects(ctx context.Context, o chartmod.Options) (*chartmod.Rendered, error) {
	k, err := s.Kube()
	if err != nil {
		return nil, err
	}
	cs := k.Clientset()
	ns := s.Config.Namespace
	var objs []chartmod.Object
	add := func(kind string, items any) error {
		raw, err := json.Marshal(items)
		if err != nil {
			return err
		}
		var list []map[string]any
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		for _, f := range list {
			md, _ := f["metadata"].(map[string]any)
			name, _ := md["name"].(string)
			f["kind"] = kind
			objs = append(objs, chartmod.Object{Kind: kind, Name: name, Namespace: ns, Fields: f})
		}
		return nil
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		err = add("ConfigMap", cms.Items)
	}
	if err == nil {
		var svcs *corev1.ServiceList
		if svcs, err = cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err == nil {
			err = add("Service", svcs.Items)
		}
	}
	if err == nil {
		var pods *corev1.PodList
		if pods, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			err = add("Pod", pods.Items)
		}
	}
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, "", "cannot read the objects of namespace %s", ns)
	}
	return chartmod.Live(o, objs)
}

// holds records a render check's result on the live objects as evidence, and fix when it fails.
func (f *Finding) holds(r chartmod.Result, fix string) bool {
	f.Evidence = append(f.Evidence, fmt.Sprintf("%s (%s): %s", r.Check, r.Object, r.Detail))
	if !r.OK {
		f.Fix = fix
	}
	return r.OK
}

// podsReady finds the pods whose name starts with prefix and reports how many are Ready.
func podsReady(live *chartmod.Rendered, match func(chartmod.Object) bool) (ready, total int, names []string) {
	for _, o := range live.Objects {
		if o.Kind != "Pod" || !match(o) {
			continue
		}
		total++
		names = append(names, o.Name)
		conds, _ := chartmod.Field(o.Fields, "status", "conditions").([]any)
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" {
				ready++
			}
		}
	}
	return ready, total, names
}

// mountsConfigMap says whether a pod has a volume from the named ConfigMap.
func mountsConfigMap(name string) func(chartmod.Object) bool {
	return func(o chartmod.Object) bool {
		vols, _ := chartmod.Field(o.Fields, "spec", "volumes").([]any)
		for _, v := range vols {
			if chartmod.Field(v, "configMap", "name") == name {
				return true
			}
		}
		return false
	}
}

func doctorCollector(ctx context.Context, s *Session, live *chartmod.Rendered) Finding {
	f := Finding{Link: "collector"}
	n := live.Names
	if !f.holds(chartmod.CheckCollector(live),
		fmt.Sprintf("Put the Tempo exporter (endpoint %s:%d) back into the traces pipeline of ConfigMap %s, or run `svcgraph up` again to restore the release's configuration.",
			n.TempoDistributorService, n.TempoDistributorOTLPPort, n.CollectorConfigMap)) {
		return f
	}
	if !f.holds(chartmod.CheckDistributor(live),
		"The collector exports to a Tempo distributor Service that is missing or lacks the OTLP port; run `svcgraph up` again.") {
		return f
	}
	ready, total, pods := podsReady(live, mountsConfigMap(n.CollectorConfigMap))
	f.Evidence = append(f.Evidence, fmt.Sprintf("collector pods ready: %d/%d %v", ready, total, pods))
	if total == 0 || ready < total {
		f.Fix = "The collector pods are not all Ready: `kubectl -n " + s.Config.Namespace + " describe pod` on them says why."
		return f
	}
	// Ready is not working: a collector that cannot reach Tempo stays Ready and says so only in
	// its log.
	exporter := tempoExporter(live)
	for _, pod := range pods {
		lines, err := s.recentLogs(ctx, live.Find("Pod", pod))
		if err != nil {
			f.Evidence = append(f.Evidence, fmt.Sprintf("could not read the logs of pod %s: %v", pod, err))
			continue
		}
		if failed := exportFailures(lines, exporter, n.TempoDistributorService); len(failed) > 0 {
			f.Evidence = append(f.Evidence, fmt.Sprintf("pod %s logged %d export failure(s) to Tempo in the last %s; the latest:", pod, len(failed), logWindow), failed[len(failed)-1])
			f.Fix = fmt.Sprintf("The collector cannot send spans to Tempo: make the distributor reachable at %s:%d (`svcgraph status`; `kubectl -n %s logs %s` shows the collector's errors).",
				n.TempoDistributorService, n.TempoDistributorOTLPPort, s.Config.Namespace, pod)
			return f
		}
		f.Evidence = append(f.Evidence, fmt.Sprintf("pod %s: no export failures to Tempo logged in the last %s", pod, logWindow))
	}
	f.OK = true
	return f
}

// The doctor reads this much of each collector container's log: the recent past only, since a
// collector that started before Tempo logs failures that stopped when Tempo came up.
const (
	logWindow      = 2 * time.Minute
	logTail        = 500
	logBytes       = 256 << 10
	logReadTimeout = 10 * time.Second
)

// recentLogs returns the last lines each container of the pod logged within logWindow.
func (s *Session) recentLogs(ctx context.Context, pod *chartmod.Object) ([]string, error) {
	k, err := s.Kube()
	if err != nil {
		return nil, err
	}
	// A log the kubelet is slow to serve must not hold up the doctor: it is evidence, not a link.
	ctx, cancel := context.WithTimeout(ctx, logReadTimeout)
	defer cancel()
	containers, _ := chartmod.Field(pod.Fields, "spec", "containers").([]any)
	var lines []string
	for _, c := range containers {
		name, _ := chartmod.Field(c, "name").(string)
		since, tail, limit := int64(logWindow/time.Second), int64(logTail), int64(logBytes)
		opts := &corev1.PodLogOptions{Container: name, SinceSeconds: &since, TailLines: &tail, LimitBytes: &limit}
		raw, err := k.Clientset().CoreV1().Pods(s.Config.Namespace).GetLogs(pod.Name, opts).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", name, err)
		}
		lines = append(lines, strings.Split(strings.TrimRight(string(raw), "\n"), "\n")...)
	}
	return lines, nil
}

// exportFailures picks the log lines in which the collector's exporter helper reports a failed
// export ("Exporting failed. Dropping data.", "… Will retry the request after interval.", …) of
// the Tempo exporter: named in the line's fields (exporter id as "name" or
// "otelcol.component.id"), or, when the exporter is unknown, by the distributor in the error.
func exportFailures(lines []string, exporter, distributor string) []string {
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, "Exporting failed") {
			continue
		}
		if (exporter != "" && strings.Contains(l, strconv.Quote(exporter))) || strings.Contains(l, distributor) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// tempoExporter is the name of the collector exporter that sends to the Tempo distributor (the
// one whose endpoint is its Service:port), or "" when the live config has none.
func tempoExporter(live *chartmod.Rendered) string {
	n := live.Names
	cm := live.Find("ConfigMap", n.CollectorConfigMap)
	if cm == nil {
		return ""
	}
	relay, _ := chartmod.Field(cm.Fields, "data", "relay").(string)
	var cfg struct {
		Exporters map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"exporters"`
	}
	if yaml.Unmarshal([]byte(relay), &cfg) != nil {
		return ""
	}
	want := fmt.Sprintf("%s:%d", n.TempoDistributorService, n.TempoDistributorOTLPPort)
	for name, e := range cfg.Exporters {
		if e.Endpoint == want {
			return name
		}
	}
	return ""
}

func doctorTempo(_ context.Context, s *Session, live *chartmod.Rendered) Finding {
	f := Finding{Link: "tempo"}
	n := live.Names
	for _, comp := range []string{"distributor", "metrics-generator", "query-frontend"} {
		prefix := n.TempoPrefix + "-" + comp + "-"
		ready, total, _ := podsReady(live, func(o chartmod.Object) bool { return strings.HasPrefix(o.Name, prefix) })
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s%s pods ready: %d/%d", n.TempoPrefix+"-", comp, ready, total))
		if ready == 0 {
			f.Fix = fmt.Sprintf("Tempo's %s has no Ready pod: `svcgraph status` and `kubectl -n %s describe pod -l app.kubernetes.io/component=%s` say why.", comp, s.Config.Namespace, comp)
			return f
		}
	}
	if !f.holds(chartmod.CheckTempoConfig(live),
		fmt.Sprintf("Tempo's config (ConfigMap %s) must enable the service-graphs processor in its overrides and remote-write to http://%s:%d/api/v1/write; run `svcgraph up` again without -f/--set values that change it.",
			n.TempoConfigMap, n.PrometheusService, n.PrometheusPort)) {
		return f
	}
	if live.Find("Service", n.PrometheusService) == nil {
		f.Evidence = append(f.Evidence, "Service "+n.PrometheusService+" does not exist")
		f.Fix = "Tempo remote-writes to a Prometheus Service that does not exist; run `svcgraph up` again."
		return f
	}
	f.OK = true
	return f
}

func doctorPrometheus(ctx context.Context, s *Session, live *chartmod.Rendered) Finding {
	f := Finding{Link: "prometheus"}
	prom, closeForward, err := s.prometheus(ctx, live.Names)
	if err != nil {
		f.Evidence = append(f.Evidence, err.Error())
		f.Fix = "Prometheus cannot be reached through a port-forward; `svcgraph status` shows whether its pod is Ready."
		return f
	}
	defer closeForward()
	f.OK = checkPrometheus(ctx, prom, &f)
	return f
}

// checkPrometheus is the Prometheus link on a reachable Prometheus: the remote-write receiver
// is on, remote writes have arrived, and service-graph series are stored.
func checkPrometheus(ctx context.Context, prom *graph.Prom, f *Finding) bool {
	flags, err := prom.Flags(ctx)
	if err != nil {
		f.Evidence = append(f.Evidence, err.Error())
		f.Fix = "Prometheus does not answer its API; `svcgraph status` shows whether its pod is Ready."
		return false
	}
	on := flags["web.enable-remote-write-receiver"]
	f.Evidence = append(f.Evidence, "--web.enable-remote-write-receiver="+on)
	if on != "true" {
		f.Fix = "Prometheus refuses Tempo's remote writes: start it with --web.enable-remote-write-receiver (prometheus.server.extraFlags); `svcgraph up` sets it unless -f/--set values replace the flags."
		return false
	}
	writes, err := prom.RemoteWritesReceived(ctx)
	if err != nil {
		f.Evidence = append(f.Evidence, err.Error())
		f.Fix = "Prometheus's own /metrics cannot be read; check its pod."
		return false
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("remote writes received: %g (prometheus_http_requests_total{handler=\"/api/v1/write\"})", writes))
	if writes == 0 {
		f.Fix = "Nothing has remote-written to Prometheus: Tempo's metrics-generator is not sending; its logs (`kubectl logs` on the metrics-generator pod) say why."
		return false
	}
	series, err := prom.Query(ctx, "count("+graph.MetricRequests+")", time.Time{})
	if err != nil {
		f.Evidence = append(f.Evidence, err.Error())
		f.Fix = "Prometheus does not answer queries; check its pod."
		return false
	}
	count := 0.0
	if len(series) > 0 {
		count = series[0].Value
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("%s series: %g", graph.MetricRequests, count))
	if count == 0 {
		f.Fix = "Prometheus receives remote writes but no service-graph series: Tempo's generator sees no client/server span pairs yet (wait for the load generator) or the service-graphs processor is off for this tenant."
		return false
	}
	return true
}

func doctorGrafana(_ context.Context, _ *Session, live *chartmod.Rendered) Finding {
	f := Finding{Link: "grafana"}
	n := live.Names
	if !f.holds(chartmod.CheckGrafana(live),
		fmt.Sprintf("Grafana's Tempo datasource (ConfigMap %s) must point at http://%s:%d and take its service map from the Prometheus datasource's uid; run `svcgraph up` again without -f/--set values that change it.",
			n.GrafanaDatasourceConfigMap, n.TempoQueryFrontendService, n.TempoQueryFrontendPort)) {
		return f
	}
	f.OK = true
	return f
}
