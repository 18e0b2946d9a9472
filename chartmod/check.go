package chartmod

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Result is one render check: what was checked, on which object, and what was found.
type Result struct {
	Check  string
	Object string // Kind/name
	OK     bool
	Detail string
}

// Report is the outcome of the render checks of PATCHES.md §6.
type Report struct{ Results []Result }

// String is one ✓/✗ line per check.
func (r Report) String() string {
	var b strings.Builder
	for _, x := range r.Results {
		mark := "✓"
		if !x.OK {
			mark = "✗"
		}
		fmt.Fprintf(&b, "%s %s (%s): %s\n", mark, x.Check, x.Object, x.Detail)
	}
	return b.String()
}

// Failed lists the checks that failed.
func (r Report) Failed() []Result {
	var f []Result
	for _, x := range r.Results {
		if !x.OK {
			f = append(f, x)
		}
	}
	return f
}

// Err is nil when every check passed, else a reason.ChartCheck error naming each failed check,
// its object and what was found.
func (r Report) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	var parts []string
	for _, x := range failed {
		parts = append(parts, fmt.Sprintf("%s: %s: %s", x.Check, x.Object, x.Detail))
	}
	return reason.New(reason.ChartCheck, "", "%d render check(s) failed: %s", len(failed), strings.Join(parts, "; "))
}

// Check runs the render checks of PATCHES.md §6 on the parsed objects, then the path checks
// (paths.go) that follow the spans from the apps to the service graph.
func Check(r *Rendered) Report {
	checks := []func(*Rendered) Result{checkDistributor, checkQueryFrontend, checkCollector,
		checkPrometheus, checkGrafana, checkTempoConfig, checkFrontendProxy, checkCondition,
		checkTracePath, checkQueryPath}
	if r.offline {
		checks = append(checks, checkPullPolicy)
	}
	var rep Report
	for _, c := range checks {
		rep.Results = append(rep.Results, c(r))
	}
	return rep
}

func pass(check, object, format string, args ...any) Result {
	return Result{check, object, true, fmt.Sprintf(format, args...)}
}

func fail(check, object, format string, args ...any) Result {
	return Result{check, object, false, fmt.Sprintf(format, args...)}
}

// Field walks decoded YAML or JSON maps by keys: nil when any key is missing or any step is
// not a map. Other packages read rendered objects with it too.
func Field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

type servicePort struct {
	Name string
	Port int
}

func servicePorts(o *Object) []servicePort {
	var ps []servicePort
	l, _ := Field(o.Fields, "spec", "ports").([]any)
	for _, p := range l {
		name, _ := Field(p, "name").(string)
		port, _ := Field(p, "port").(float64)
		ps = append(ps, servicePort{name, int(port)})
	}
	return ps
}

// checkServicePort is checks 1, 2 and 7: a Service with a port of that number and name.
func checkServicePort(r *Rendered, check, service string, port int, portName string) Result {
	obj := "Service/" + service
	s := r.Find("Service", service)
	if s == nil {
		return fail(check, obj, "no such Service was rendered")
	}
	ports := servicePorts(s)
	for _, p := range ports {
		if p.Port == port && p.Name == portName {
			return pass(check, obj, "port %d (%s)", port, portName)
		}
	}
	return fail(check, obj, "no port %d named %s; ports are %v", port, portName, ports)
}

// configMapYAML parses one key of a rendered ConfigMap.
func configMapYAML(r *Rendered, name, key string) (map[string]any, string, error) {
	cm := r.Find("ConfigMap", name)
	if cm == nil {
		return nil, "", fmt.Errorf("no such ConfigMap was rendered")
	}
	text, ok := Field(cm.Fields, "data", key).(string)
	if !ok {
		return nil, "", fmt.Errorf("no key %s", key)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return nil, text, fmt.Errorf("key %s does not parse as YAML: %v", key, err)
	}
	return m, text, nil
}

func checkDistributor(r *Rendered) Result {
	n := r.Names
	res := checkServicePort(r, "tempo distributor", n.TempoDistributorService, n.TempoDistributorOTLPPort, "grpc-distributor-otlp")
	if !res.OK {
		return res
	}
	cfg, err := tempoConfig(r)
	if err != nil {
		return fail(res.Check, "ConfigMap/"+n.TempoConfigMap, "%v", err)
	}
	want := fmt.Sprintf("0.0.0.0:%d", n.TempoDistributorOTLPPort)
	if got := Field(cfg, "distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"); got != want {
		return fail(res.Check, "ConfigMap/"+n.TempoConfigMap, "distributor OTLP gRPC endpoint is %v, want %s", got, want)
	}
	return pass(res.Check, res.Object, "%s, receiver on %s", res.Detail, want)
}

func checkQueryFrontend(r *Rendered) Result {
	n := r.Names
	return checkServicePort(r, "tempo query-frontend", n.TempoQueryFrontendService, n.TempoQueryFrontendPort, "http-metrics")
}

func checkFrontendProxy(r *Rendered) Result {
	n := r.Names
	return checkServicePort(r, "frontend proxy", n.FrontendProxyService, n.FrontendProxyPort, "tcp-service")
}

// checkCollector is check 3. The collector refuses to start when a connector is an exporter but
// not a receiver or the reverse (PATCHES.md §1.6), which is how the article's patch breaks it.
func checkCollector(r *Rendered) Result {
	const check = "collector"
	s, n := r.spec, r.Names
	obj := "ConfigMap/" + n.CollectorConfigMap
	cfg, _, err := configMapYAML(r, n.CollectorConfigMap, "relay")
	if err != nil {
		return fail(check, obj, "%v", err)
	}
	want := fmt.Sprintf("%s:%d", n.TempoDistributorService, n.TempoDistributorOTLPPort)
	ep, _ := Field(cfg, "exporters", s.TempoExporter, "endpoint").(string)
	if ep != want {
		return fail(check, obj, "exporter %s has endpoint %q, want %q", s.TempoExporter, ep, want)
	}
	traces := strs(Field(cfg, "service", "pipelines", "traces", "exporters"))
	for _, e := range []string{s.TempoExporter, s.JaegerExporter, s.SpanConnector} {
		if !slices.Contains(traces, e) {
			return fail(check, obj, "traces exporters %v lack %s", traces, e)
		}
	}
	var asExporter, asReceiver []string
	pipelines, _ := Field(cfg, "service", "pipelines").(map[string]any)
	for _, p := range pipelines {
		asExporter = append(asExporter, strs(Field(p, "exporters"))...)
		asReceiver = append(asReceiver, strs(Field(p, "receivers"))...)
	}
	connectors, _ := Field(cfg, "connectors").(map[string]any)
	for _, name := range sortedKeys(connectors) {
		inE, inR := slices.Contains(asExporter, name), slices.Contains(asReceiver, name)
		if inE != inR {
			return fail(check, obj, "connector %s is used as exporter=%t but as receiver=%t; the collector would refuse to start (traces exporters %v)", name, inE, inR, traces)
		}
	}
	return pass(check, obj, "%s → %s; traces exporters %v; every connector both exporter and receiver", s.TempoExporter, ep, traces)
}

func checkPrometheus(r *Rendered) Result {
	const check = "prometheus remote-write receiver"
	s, n := r.spec, r.Names
	obj := "Deployment/" + n.PrometheusService
	d := r.Find("Deployment", n.PrometheusService)
	if d == nil {
		return fail(check, obj, "no such Deployment was rendered")
	}
	want := []string{"--" + remoteWriteFlag, "--enable-feature=exemplar-storage", "--" + s.PromOTLPFlag}
	containers, _ := Field(d.Fields, "spec", "template", "spec", "containers").([]any)
	var seen [][]string
	for _, c := range containers {
		args := strs(Field(c, "args"))
		if containsAll(args, want) {
			return pass(check, obj, "container %v has %v", Field(c, "name"), want)
		}
		seen = append(seen, args)
	}
	return fail(check, obj, "no container has all of %v; args are %v", want, seen)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// checkGrafana is check 5, over every datasource the ConfigMap provisions.
func checkGrafana(r *Rendered) Result {
	const check = "grafana tempo datasource"
	n := r.Names
	obj := "ConfigMap/" + n.GrafanaDatasourceConfigMap
	sources, err := grafanaDatasources(r)
	if err != nil {
		return fail(check, obj, "%v", err)
	}
	promUID := ""
	var tempo map[string]any
	for _, ds := range sources {
		switch ds["type"] {
		case "prometheus":
			promUID, _ = ds["uid"].(string)
		case "tempo":
			tempo = ds
		}
	}
	if tempo == nil {
		return fail(check, obj, "no datasource of type tempo among %d datasources", len(sources))
	}
	want := net.JoinHostPort(n.TempoQueryFrontendService, strconv.Itoa(n.TempoQueryFrontendPort))
	raw, _ := tempo["url"].(string)
	if u, err := url.Parse(raw); err != nil || u.Host != want {
		return fail(check, obj, "tempo datasource url is %q, want host %s", raw, want)
	}
	uid := Field(tempo, "jsonData", "serviceMap", "datasourceUid")
	if promUID == "" || uid != promUID || uid != prometheusDSUID {
		return fail(check, obj, "serviceMap.datasourceUid is %v, prometheus datasource uid is %q, want both %s", uid, promUID, prometheusDSUID)
	}
	return pass(check, obj, "url %s, service map from %s", raw, promUID)
}

// grafanaDatasources are the datasources every provisioning file of the ConfigMap defines.
func grafanaDatasources(r *Rendered) ([]map[string]any, error) {
	cm := r.Find("ConfigMap", r.Names.GrafanaDatasourceConfigMap)
	if cm == nil {
		return nil, fmt.Errorf("no such ConfigMap was rendered")
	}
	data, _ := Field(cm.Fields, "data").(map[string]any)
	var sources []map[string]any
	for _, key := range sortedKeys(data) {
		if !strings.HasSuffix(key, ".yaml") && !strings.HasSuffix(key, ".yml") {
			continue
		}
		text, _ := data[key].(string)
		var file struct {
			Datasources []map[string]any `json:"datasources"`
		}
		if err := yaml.Unmarshal([]byte(text), &file); err != nil {
			return nil, fmt.Errorf("key %s does not parse: %v", key, err)
		}
		sources = append(sources, file.Datasources...)
	}
	return sources, nil
}

// checkTempoConfig is check 6. The remote write must reach the Prometheus Service on the port it
// really has (a moved Service port is caught here too, and by the doctor on a live release).
func checkTempoConfig(r *Rendered) Result {
	const check = "tempo config"
	n := r.Names
	obj := "ConfigMap/" + n.TempoConfigMap
	cfg, err := tempoConfig(r)
	if err != nil {
		return fail(check, obj, "%v", err)
	}
	writes, _ := Field(cfg, "metrics_generator", "storage", "remote_write").([]any)
	if len(writes) == 0 {
		return fail(check, obj, "metrics_generator.storage.remote_write is empty")
	}
	ports := []int{n.PrometheusPort}
	if svc := r.Find("Service", n.PrometheusService); svc != nil {
		ports = nil
		for _, p := range servicePorts(svc) {
			ports = append(ports, p.Port)
		}
	}
	want := net.JoinHostPort(n.PrometheusService, strconv.Itoa(n.PrometheusPort))
	for _, w := range writes {
		raw, _ := Field(w, "url").(string)
		u, err := url.Parse(raw)
		if err != nil {
			u = &url.URL{}
		}
		port, _ := strconv.Atoi(u.Port())
		if u.Hostname() != n.PrometheusService || !slices.Contains(ports, port) || u.Path != "/api/v1/write" {
			return fail(check, obj, "remote_write url %q, want http://%s:<port>/api/v1/write on a port of Service %s %v", raw, n.PrometheusService, n.PrometheusService, ports)
		}
		want = u.Host
	}
	procs := processors(Field(cfg, "overrides"))
	if !slices.Contains(procs, "service-graphs") {
		return fail(check, obj, "overrides enable metrics-generator processors %v, without service-graphs", procs)
	}
	return pass(check, obj, "remote-writes to %s, processors %v", want, procs)
}

// tempoConfig parses tempo.yaml. A template in a bare scalar leaves "Error: …" there instead of
// failing the render (PATCHES.md §1.7); that text parses as YAML, so it is caught by name.
func tempoConfig(r *Rendered) (map[string]any, error) {
	cfg, text, err := configMapYAML(r, r.Names.TempoConfigMap, "tempo.yaml")
	if err == nil && strings.HasPrefix(strings.TrimSpace(text), "Error") {
		err = fmt.Errorf("tempo.yaml is an error message, not a configuration: %.200s", strings.TrimSpace(text))
	}
	return cfg, err
}

// processors finds the metrics-generator processor list in Tempo's overrides: the legacy flat
// metrics_generator_processors, or defaults.metrics_generator.processors.
func processors(overrides any) []string {
	if l := Field(overrides, "metrics_generator_processors"); l != nil {
		return strs(l)
	}
	return strs(Field(overrides, "defaults", "metrics_generator", "processors"))
}

// checkCondition is check 8 as far as one render can tell: the dependency's condition is a path
// the values really hold, so tempo-distributed.enabled switches Tempo off (PATCHES.md §1.2); and
// Tempo is on in this render. Tests render with it off to prove the objects go away.
func checkCondition(r *Rendered) Result {
	const check = "tempo switch"
	obj := "Chart/" + DemoChart
	want := TempoChart + ".enabled"
	if r.condition != want {
		return fail(check, obj, "dependency condition is %q, want %q", r.condition, want)
	}
	if !r.switchSet {
		return fail(check, obj, "values have no boolean %s, so the condition would be ignored", want)
	}
	if len(r.TempoObjects()) == 0 {
		return fail(check, obj, "%s is off: no Tempo objects were rendered", want)
	}
	return pass(check, obj, "condition %s, %d Tempo objects rendered", want, len(r.TempoObjects()))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
