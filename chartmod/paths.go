package chartmod

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The configuration checks (1–8) prove that every component is told where to send; the path
// checks prove that something is there to receive. They follow the spans from the demo's apps
// to the service graph on the rendered objects: at each hop the address names a Service with
// that port, the Service selects a Deployment, StatefulSet or DaemonSet with replicas > 0, and a
// container of its pod template exposes the port the Service targets. A value that scales a hop
// to zero, turns a Service off or moves a port then fails the render, not the demo.

// workloadKinds run pods from a template.
var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

// backend follows address (host:port, host = a Service name, possibly with .namespace…) to the
// workload that serves it, and describes the hop; an error says where the path breaks.
func (r *Rendered) backend(host string, port int) (string, error) {
	name, _, _ := strings.Cut(host, ".")
	svc := r.Find("Service", name)
	if svc == nil {
		return "", fmt.Errorf("no Service %s was rendered", name)
	}
	var target any
	found := false
	ports, _ := Field(svc.Fields, "spec", "ports").([]any)
	for _, p := range ports {
		if n, _ := Field(p, "port").(float64); int(n) == port {
			target, found = Field(p, "targetPort"), true
			break
		}
	}
	if !found {
		return "", fmt.Errorf("Service %s has no port %d; its ports are %v", name, port, servicePorts(svc))
	}
	if n, ok := target.(float64); target == nil || ok && n == 0 {
		target = float64(port) // targetPort defaults to port
	}
	selector, _ := Field(svc.Fields, "spec", "selector").(map[string]any)
	if len(selector) == 0 {
		return "", fmt.Errorf("Service %s selects no pods", name)
	}
	var stopped, portless []string
	for _, o := range r.Objects {
		if !slices.Contains(workloadKinds, o.Kind) || !selects(selector, Field(o.Fields, "spec", "template", "metadata", "labels")) {
			continue
		}
		obj := o.Kind + "/" + o.Name
		replicas := 1 // the API's default when the field is left out
		if n, ok := Field(o.Fields, "spec", "replicas").(float64); ok {
			replicas = int(n)
		}
		switch {
		case o.Kind != "DaemonSet" && replicas < 1:
			stopped = append(stopped, obj)
		case !exposes(o, target):
			portless = append(portless, obj)
		case o.Kind == "DaemonSet":
			return fmt.Sprintf("%s:%d → %s", name, port, obj), nil
		default:
			return fmt.Sprintf("%s:%d → %s (%d)", name, port, obj, replicas), nil
		}
	}
	switch {
	case len(stopped) > 0:
		return "", fmt.Errorf("Service %s selects %s, scaled to 0 replicas", name, strings.Join(stopped, ", "))
	case len(portless) > 0:
		return "", fmt.Errorf("Service %s port %d targets %v, which no container of %s exposes", name, port, target, strings.Join(portless, ", "))
	}
	return "", fmt.Errorf("Service %s selects no Deployment, StatefulSet or DaemonSet", name)
}

// selects says whether a label selector matches labels.
func selects(selector map[string]any, labels any) bool {
	m, _ := labels.(map[string]any)
	for k, v := range selector {
		if m[k] != v {
			return false
		}
	}
	return true
}

// exposes says whether a container of the workload's pod template has the port: a number is a
// containerPort, a string names one.
func exposes(o Object, target any) bool {
	containers, _ := Field(o.Fields, "spec", "template", "spec", "containers").([]any)
	for _, c := range containers {
		ports, _ := Field(c, "ports").([]any)
		for _, p := range ports {
			switch t := target.(type) {
			case float64:
				if n, _ := Field(p, "containerPort").(float64); n == t {
					return true
				}
			case string:
				if Field(p, "name") == t {
					return true
				}
			}
		}
	}
	return false
}

// hop is one step of a path: what sends, and the address it sends to.
type hop struct {
	from, address string
}

// walk resolves every hop, and describes the path or names the first hop that breaks (its
// Service is the failed check's object).
func (r *Rendered) walk(check string, hops []hop) Result {
	var steps []string
	for _, h := range hops {
		host, portText, err := net.SplitHostPort(h.address)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil {
			return fail(check, "Release/"+r.Names.Release, "%s sends to %q, which is not host:port", h.from, h.address)
		}
		desc, err := r.backend(host, port)
		if err != nil {
			name, _, _ := strings.Cut(host, ".")
			return fail(check, "Service/"+name, "%s → %s: %v", h.from, h.address, err)
		}
		steps = append(steps, desc)
	}
	return pass(check, "Release/"+r.Names.Release, "%s", strings.Join(steps, "; "))
}

// hostPort is the host:port of a URL, with the scheme's default port when it has none.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// checkTracePath is check 9: apps → collector → Tempo distributor → ingesters (Tempo 2) or
// Kafka (Tempo 3) → metrics-generator → Prometheus.
func checkTracePath(r *Rendered) Result {
	const check = "trace path"
	s, n := r.spec, r.Names
	apps := appCollectorEndpoints(r)
	if len(apps) == 0 {
		return fail(check, "Release/"+n.Release, "no workload exports spans: no container sets OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	}
	var hops []hop
	for _, a := range apps {
		hops = append(hops, hop{"the apps", a})
	}
	relay, _, err := configMapYAML(r, n.CollectorConfigMap, "relay")
	if err != nil {
		return fail(check, "ConfigMap/"+n.CollectorConfigMap, "%v", err)
	}
	ep, _ := Field(relay, "exporters", s.TempoExporter, "endpoint").(string)
	hops = append(hops, hop{"the collector's " + s.TempoExporter, ep})
	cfg, err := tempoConfig(r)
	if err != nil {
		return fail(check, "ConfigMap/"+n.TempoConfigMap, "%v", err)
	}
	// Tempo 2 writes through the ingesters; Tempo 3 through Kafka, which it reads back from.
	if s.NeedsKafka {
		kafka, _ := Field(cfg, "ingest", "kafka", "address").(string)
		hops = append(hops, hop{"the distributor's Kafka writes", kafka})
	} else {
		hops = append(hops, hop{"the distributor's ingester writes", fmt.Sprintf("%s:%d", n.TempoIngesterService, tempoGRPCPort)})
	}
	hops = append(hops, hop{"Tempo's metrics-generator", fmt.Sprintf("%s:%d", n.TempoMetricsGeneratorService, tempoGRPCPort)})
	writes, _ := Field(cfg, "metrics_generator", "storage", "remote_write").([]any)
	for _, w := range writes {
		raw, _ := Field(w, "url").(string)
		hops = append(hops, hop{"the metrics-generator's remote write", hostPort(raw)})
	}
	return r.walk(check, hops)
}

// checkQueryPath is check 10: Grafana's Tempo datasource → query-frontend, and the Prometheus
// datasource its service map reads → Prometheus.
func checkQueryPath(r *Rendered) Result {
	const check = "query path"
	obj := "ConfigMap/" + r.Names.GrafanaDatasourceConfigMap
	sources, err := grafanaDatasources(r)
	if err != nil {
		return fail(check, obj, "%v", err)
	}
	var hops []hop
	for _, ds := range sources {
		raw, _ := ds["url"].(string)
		switch {
		case ds["type"] == "tempo":
			hops = append(hops, hop{"Grafana's Tempo datasource", hostPort(raw)})
		case ds["uid"] == prometheusDSUID:
			hops = append(hops, hop{"Grafana's " + prometheusDSUID + " datasource", hostPort(raw)})
		}
	}
	if len(hops) < 2 {
		return fail(check, obj, "Grafana lacks the Tempo datasource or the %s datasource", prometheusDSUID)
	}
	return r.walk(check, hops)
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// appCollectorEndpoints are the distinct host:port the workloads' OTLP exporters send to, with
// $(VAR) references expanded from the container's environment as Kubernetes does.
func appCollectorEndpoints(r *Rendered) []string {
	var out []string
	for _, o := range r.Objects {
		if !slices.Contains(workloadKinds, o.Kind) {
			continue
		}
		containers, _ := Field(o.Fields, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			env := map[string]string{}
			list, _ := Field(c, "env").([]any)
			for _, e := range list {
				name, _ := Field(e, "name").(string)
				value, _ := Field(e, "value").(string)
				env[name] = value
			}
			for _, key := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
				v, ok := env[key]
				if !ok {
					continue
				}
				v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
					if x, ok := env[envRef.FindStringSubmatch(ref)[1]]; ok {
						return x
					}
					return ref
				})
				if a := hostPort(v); !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
