package otelcol

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

const (
	core    = "go.opentelemetry.io/collector/"
	contrib = "github.com/open-telemetry/opentelemetry-collector-contrib/"
)

// modules maps kind and component type to the Go module that holds its factory. Newer collectors
// renamed some types (otlp → otlp_grpc, spanmetrics → span_metrics, k8sattributes →
// k8s_attributes); both names live in the same module.
var modules = map[string]map[string]string{
	"connectors": {
		"spanmetrics":  contrib + "connector/spanmetricsconnector",
		"span_metrics": contrib + "connector/spanmetricsconnector",
		"servicegraph": contrib + "connector/servicegraphconnector",
	},
	"exporters": {
		"debug":                 core + "exporter/debugexporter",
		"otlp":                  core + "exporter/otlpexporter",
		"otlp_grpc":             core + "exporter/otlpexporter",
		"otlphttp":              core + "exporter/otlphttpexporter",
		"otlp_http":             core + "exporter/otlphttpexporter",
		"opensearch":            contrib + "exporter/opensearchexporter",
		"prometheusremotewrite": contrib + "exporter/prometheusremotewriteexporter",
	},
	"extensions": {
		"health_check":       contrib + "extension/healthcheckextension",
		"k8s_leader_elector": contrib + "extension/k8sleaderelector",
		"k8s_observer":       contrib + "extension/observer/k8sobserver",
		"opamp":              contrib + "extension/opampextension",
	},
	"processors": {
		"batch":             core + "processor/batchprocessor",
		"memory_limiter":    core + "processor/memorylimiterprocessor",
		"k8sattributes":     contrib + "processor/k8sattributesprocessor",
		"k8s_attributes":    contrib + "processor/k8sattributesprocessor",
		"resource":          contrib + "processor/resourceprocessor",
		"resourcedetection": contrib + "processor/resourcedetectionprocessor",
		"transform":         contrib + "processor/transformprocessor",
		"filter":            contrib + "processor/filterprocessor",
		"gen_ai_normalizer": contrib + "processor/genainormalizerprocessor",
	},
	"receivers": {
		"otlp":             core + "receiver/otlpreceiver",
		"jaeger":           contrib + "receiver/jaegerreceiver",
		"zipkin":           contrib + "receiver/zipkinreceiver",
		"prometheus":       contrib + "receiver/prometheusreceiver",
		"hostmetrics":      contrib + "receiver/hostmetricsreceiver",
		"k8s_cluster":      contrib + "receiver/k8sclusterreceiver",
		"kafkametrics":     contrib + "receiver/kafkametricsreceiver",
		"kubeletstats":     contrib + "receiver/kubeletstatsreceiver",
		"receiver_creator": contrib + "receiver/receivercreator",
	},
}

// notServed are the component module versions the Go module proxy this project builds from does
// not serve (checked 2026-12-01 by asking it for each module's .info), with the nearest version it
// does serve, or "" when it serves none close enough to build with. A module missing here is
// taken at the collector's own version.
var notServed = map[string]string{
	contrib + "exporter/opensearchexporter@v0.97.0": "v0.96.0",
	// The collector of opentelemetry-demo 0.41.0: gen_ai_normalizer is served at no version,
	// k8s_leader_elector at none after 0.152.0.
	contrib + "processor/genainormalizerprocessor@v0.156.0": "",
	contrib + "extension/k8sleaderelector@v0.156.0":         "",
	contrib + "connector/spanmetricsconnector@v0.156.0":     "v0.155.0",
	contrib + "exporter/opensearchexporter@v0.156.0":        "v0.158.0",
	contrib + "extension/opampextension@v0.156.0":           "v0.157.0",
	contrib + "receiver/kubeletstatsreceiver@v0.156.0":      "v0.155.0",
}

// Module is one component module of a build.
type Module struct {
	Path, Version string
	Substituted   string // the collector's version when Version stands in for it, else ""
}

// Build is what the OpenTelemetry Collector Builder needs for one collector: a name, the
// collector version and the component modules, by kind.
type Build struct {
	Name, Version string
	Modules       map[string][]Module
	// Missing names the modules that cannot be had at all; such a build cannot be made.
	Missing []string
}

// NewBuild resolves every component to its module at the collector version (or the stand-in
// notServed names).
func NewBuild(name, version string, c Components) (*Build, error) {
	if _, err := semver.StrictNewVersion(version); err != nil {
		return nil, fmt.Errorf("collector version %q: %w", version, err)
	}
	b := &Build{Name: name, Version: version, Modules: map[string][]Module{}}
	v := "v" + version
	for _, kind := range Kinds {
		var paths []string
		for _, typ := range c[kind] {
			path, ok := modules[kind][typ]
			if !ok {
				return nil, fmt.Errorf("no Go module known for the %s type %q: add it to the table in internal/otelcol/modules.go", strings.TrimSuffix(kind, "s"), typ)
			}
			if !slices.Contains(paths, path) {
				paths = append(paths, path)
			}
		}
		slices.Sort(paths)
		for _, p := range paths {
			m := Module{Path: p, Version: v}
			if sub, ok := notServed[p+"@"+v]; ok {
				if sub == "" {
					b.Missing = append(b.Missing, p+"@"+v)
					continue
				}
				m.Version, m.Substituted = sub, v
			}
			b.Modules[kind] = append(b.Modules[kind], m)
		}
	}
	return b, nil
}

// Manifest is the builder's configuration file for b, building into outputPath. Every module is
// pinned to an exact version; scripts/otelcol pins the rest of the module graph with a go.sum.
func (b *Build) Manifest(outputPath string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# OpenTelemetry Collector Builder manifest made by internal/otelcol/cmd/otelcol-manifest.\n")
	fmt.Fprintf(&s, "dist:\n  module: github.com/svcgraph/svcgraph/%s\n  name: otelcol\n", b.Name)
	fmt.Fprintf(&s, "  description: %s, with only the components its config names\n", b.Name)
	fmt.Fprintf(&s, "  otelcol_version: %s\n  version: %s\n  output_path: %s\n", b.Version, b.Version, outputPath)
	for _, kind := range Kinds {
		if len(b.Modules[kind]) == 0 {
			continue
		}
		fmt.Fprintf(&s, "%s:\n", kind)
		for _, m := range b.Modules[kind] {
			fmt.Fprintf(&s, "  - gomod: %s %s\n", m.Path, m.Version)
			if m.Substituted != "" {
				fmt.Fprintf(&s, "    # %s is not served by the module proxy; %s is the nearest that is\n", m.Substituted, m.Version)
			}
		}
	}
	return s.String()
}
