package chartmod

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// This file is the ONE place that knows what differs between chart versions (DESIGN.md). Every
// fact comes from ../shared/charts/PATCHES.md; the section is named next to it. No other file and
// no other package branches on a chart version: they ask for a resolved spec.
//
// To cover another version: check its facts against the rows below (add a row where a fact
// changes) and widen demoCovered/tempoCovered. To mark it tested, put its package into the test
// repositories, add it to testedDemo/testedTempo, and let TestChainEveryPairAndRelease prove
// every pair.

const (
	DefaultDemoVersion  = "0.30.2"
	DefaultTempoVersion = "1.9.4"
	DefaultDemoRepoURL  = "https://open-telemetry.github.io/opentelemetry-helm-charts"
	// The grafana repository is frozen at 1.61.3 and deprecated; the community one lists every
	// version, 1.9.4 included (issue 3).
	DefaultTempoRepoURL = "https://grafana-community.github.io/helm-charts"

	DemoChart  = "opentelemetry-demo"
	TempoChart = "tempo-distributed"
	// The names svcgraph prefers for `helm repo add`; another is picked when one is taken.
	DemoRepoName  = "open-telemetry"
	TempoRepoName = "grafana-community"

	// Latest, given as a version, picks the newest covered version the repository offers.
	Latest = "latest"
)

// The ranges the rows below cover: PATCHES.md documents every fact for demo 0.30.0–0.41.0 (§1.3,
// §3) and tempo-distributed 1.9.4–3.3.0 (§1.8, §4). Every version inside them is accepted; the
// render checks prove each pair's patch before anything is installed.
var (
	demoCovered  = Range{From: "0.30.0", Through: "0.41.0"}
	tempoCovered = Range{From: "1.9.4", Through: "3.3.0"}
)

// The versions whose whole chain (pull, patch, render, checks, install) is tested against the
// shared fixture packages; every combination of them is a tested pair.
var (
	testedDemo  = []string{"0.30.2", "0.41.0"}
	testedTempo = []string{"1.9.4", "2.26.2", "3.3.0"}
)

// Range is an inclusive range of chart versions.
type Range struct {
	From    string `json:"from"`
	Through string `json:"through"`
}

func (r Range) String() string { return r.From + " to " + r.Through }

// Contains says whether v lies inside the range.
func (r Range) Contains(v *semver.Version) bool {
	return !v.LessThan(semver.MustParse(r.From)) && !v.GreaterThan(semver.MustParse(r.Through))
}

// Covered returns the version ranges svcgraph accepts for the demo and for tempo-distributed.
func Covered() (demo, tempo Range) { return demoCovered, tempoCovered }

// Pair is a combination of chart versions.
type Pair struct {
	Demo  string `json:"demo"`
	Tempo string `json:"tempo"`
}

func (p Pair) String() string { return DemoChart + " " + p.Demo + " + " + TempoChart + " " + p.Tempo }

// Tested says whether the pair is one of TestedPairs.
func (p Pair) Tested() bool {
	return slices.Contains(testedDemo, p.Demo) && slices.Contains(testedTempo, p.Tempo)
}

// TestedPairs lists the (demo, tempo) pairs whose whole chain svcgraph's tests run.
func TestedPairs() []Pair {
	var ps []Pair
	for _, d := range testedDemo {
		for _, t := range testedTempo {
			ps = append(ps, Pair{d, t})
		}
	}
	return ps
}

// parseVersion reads an exact version of chartName and refuses one outside covered.
func parseVersion(chartName, v string, covered Range) (*semver.Version, error) {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return nil, reason.New(reason.Usage,
			fmt.Sprintf("Give an exact %s version such as %s, or %s.", chartName, covered.Through, Latest),
			"%s version %q is not a version (MAJOR.MINOR.PATCH)", chartName, v)
	}
	if sv.Prerelease() != "" || sv.Metadata() != "" {
		return nil, reason.New(reason.Usage,
			fmt.Sprintf("Use a released %s version from %s, or %s.", chartName, covered, Latest),
			"%s version %s is a pre-release or build version, which svcgraph does not install", chartName, v)
	}
	if !covered.Contains(sv) {
		var pairs []string
		for _, p := range TestedPairs() {
			pairs = append(pairs, p.Demo+"/"+p.Tempo)
		}
		return nil, reason.New(reason.ChartVersion,
			fmt.Sprintf("Pick a version of %s from %s, or %s (tested demo/tempo pairs: %s); `svcgraph versions` lists what the repositories offer.",
				chartName, covered, Latest, strings.Join(pairs, ", ")),
			"%s version %s is outside the versions svcgraph knows how to patch (%s)", chartName, v, covered)
	}
	return sv, nil
}

// byVersion is one fact as a list of version ranges: the first row whose Until is above the
// version (or is empty, meaning "and everything later") gives the value.
type byVersion[T any] []struct {
	Until string // exclusive upper bound; "" = no bound
	Value T
}

func (b byVersion[T]) at(v *semver.Version) T {
	for _, row := range b {
		if row.Until == "" || v.LessThan(semver.MustParse(row.Until)) {
			return row.Value
		}
	}
	panic("version table without an open-ended last row") // a programming error in this file
}

// Names below may contain "{R}", replaced by the release name.

// Demo facts, PATCHES.md §1.8 and the table in §3.
var (
	demoCollectorConfigMap = byVersion[string]{{"0.35.0", "{R}-otelcol"}, {"0.36.0", "otelcol"}, {"0.40.2", "otel-collector"}, {"", "otel-collector-agent"}}
	demoTempoExporter      = byVersion[string]{{"0.41.0", "otlp/tempo"}, {"", "otlp_grpc/tempo"}}
	demoJaegerExporter     = byVersion[string]{{"0.40.2", "otlp"}, {"0.41.0", "otlp/jaeger"}, {"", "otlp_grpc/jaeger"}}
	demoSpanConnector      = byVersion[string]{{"0.41.0", "spanmetrics"}, {"", "span_metrics"}}
	demoPrometheus         = byVersion[string]{{"0.35.0", "{R}-prometheus-server"}, {"", "prometheus"}}
	demoPromOTLPFlag       = byVersion[string]{{"0.33.8", "enable-feature=otlp-write-receiver"}, {"", "web.enable-otlp-receiver"}}
	demoFrontendProxy      = byVersion[string]{{"0.35.0", "{R}-frontendproxy"}, {"0.36.0", "frontendproxy"}, {"", "frontend-proxy"}}
	demoKafka              = byVersion[string]{{"0.35.0", "{R}-kafka"}, {"", "kafka"}}
	// From 0.35.0 every demo Service has a fixed name, so Tempo gets one too (§3.2); before, the
	// prefix follows the release so two demos in one namespace stay apart (§3.1).
	demoTempoPrefix = byVersion[string]{{"0.35.0", "{R}-tempo"}, {"", "tempo"}}
	// Where Grafana datasources live: in values (rendered into ConfigMap R-grafana / grafana, key
	// datasources.yaml) or as chart files loaded into ConfigMap grafana-datasources (§3, §1.7).
	demoDatasourcesInFiles = byVersion[bool]{{"0.37.8", false}, {"", true}}
	demoGrafanaConfigMap   = byVersion[string]{{"0.35.0", "{R}-grafana"}, {"0.37.8", "grafana"}, {"", "grafana-datasources"}}
	// A release name containing "prometheus" renames the prometheus chart's Service (§1.8).
	demoPrometheusInReleaseBreaks = byVersion[bool]{{"0.35.0", true}, {"", false}}
)

// Tempo facts, PATCHES.md §1.8 and §4.
var (
	tempoHTTPPort = byVersion[int]{{"1.41.0", 3100}, {"", 3200}}
	// Before 1.33.0 the processors go into the legacy global_overrides; from 1.33.0 that key is
	// silently dropped and only overrides.defaults works (§2).
	tempoProcessorsPath = byVersion[[]string]{
		{"1.33.0", []string{"global_overrides", "metrics_generator_processors"}},
		{"", []string{"overrides", "defaults", "metrics_generator", "processors"}}}
	// Tempo 3.0 removed local-blocks (§2).
	tempoProcessors    = byVersion[[]string]{{"3.0.0", []string{"service-graphs", "span-metrics", "local-blocks"}}, {"", []string{"service-graphs", "span-metrics"}}}
	tempoRetentionPath = byVersion[[]string]{
		{"3.0.0", []string{"compactor", "config", "compaction", "block_retention"}},
		{"", []string{"backendScheduler", "config", "provider", "compaction", "compaction", "block_retention"}}}
	// Tempo 3 writes through Kafka (§4).
	tempoNeedsKafka = byVersion[bool]{{"3.0.0", false}, {"", true}}
)

const (
	frontendProxyPort  = 8080
	prometheusPort     = 9090
	kafkaPort          = 9092
	tempoOTLPGRPCPort  = 4317
	tempoGRPCPort      = 9095 // every Tempo component's Service has it (§1.8)
	grafanaPath        = "/grafana/"
	prometheusDSUID    = "webstore-metrics" // the same in every demo version (§3)
	tempoDatasourceUID = "tempo"
	// The new provisioning file for demos that keep Grafana datasources in chart files (§3.2).
	grafanaDatasourceDir  = "grafana/provisioning/datasources/"
	tempoDatasourceFile   = grafanaDatasourceDir + "tempo.yaml"
	valuesDatasourcesFile = "datasources.yaml"
	remoteWriteFlag       = "web.enable-remote-write-receiver"
	blockRetention        = "8h"
)

// Names are the in-cluster names the other steps need for one release and version pair.
type Names struct {
	Release, Namespace string

	FrontendProxyService string
	FrontendProxyPort    int
	PrometheusService    string // also the name of the Prometheus server Deployment
	PrometheusPort       int
	GrafanaPath          string // served by the frontend proxy

	TempoPrefix               string // T in PATCHES.md: every Tempo object is named T-…
	TempoDistributorService   string
	TempoDistributorOTLPPort  int
	TempoQueryFrontendService string
	TempoQueryFrontendPort    int
	TempoConfigMap            string // key tempo.yaml
	// The write path behind the distributor: ingesters up to tempo-distributed 2.x ("" from
	// 3.0, where Kafka replaces them, §4), and the metrics-generator.
	TempoIngesterService         string
	TempoMetricsGeneratorService string

	CollectorConfigMap         string // key relay
	GrafanaDatasourceConfigMap string
	KafkaAddress               string // the demo's broker, host:port
}

// spec is every version-dependent fact resolved for one Options value.
type spec struct {
	Demo, Tempo *semver.Version
	Names       Names

	TempoExporter, JaegerExporter, SpanConnector string
	PromOTLPFlag                                 string
	DatasourcesInFiles                           bool
	ProcessorsPath, RetentionPath                []string
	Processors                                   []string
	NeedsKafka                                   bool
}

// resolve looks every fact up for the (defaulted) versions and release in o.
func resolve(o Options) (*spec, error) {
	o = o.withDefaults()
	d, err := parseVersion(DemoChart, o.DemoVersion, demoCovered)
	if err != nil {
		return nil, err
	}
	t, err := parseVersion(TempoChart, o.TempoVersion, tempoCovered)
	if err != nil {
		return nil, err
	}
	r := func(s string) string { return strings.ReplaceAll(s, "{R}", o.Release) }
	prefix := r(demoTempoPrefix.at(d))
	s := &spec{
		Demo: d, Tempo: t,
		TempoExporter:      demoTempoExporter.at(d),
		JaegerExporter:     demoJaegerExporter.at(d),
		SpanConnector:      demoSpanConnector.at(d),
		PromOTLPFlag:       demoPromOTLPFlag.at(d),
		DatasourcesInFiles: demoDatasourcesInFiles.at(d),
		ProcessorsPath:     tempoProcessorsPath.at(t),
		RetentionPath:      tempoRetentionPath.at(t),
		Processors:         tempoProcessors.at(t),
		NeedsKafka:         tempoNeedsKafka.at(t),
		Names: Names{
			Release: o.Release, Namespace: o.Namespace,
			FrontendProxyService:       r(demoFrontendProxy.at(d)),
			FrontendProxyPort:          frontendProxyPort,
			PrometheusService:          r(demoPrometheus.at(d)),
			PrometheusPort:             prometheusPort,
			GrafanaPath:                grafanaPath,
			TempoPrefix:                prefix,
			TempoDistributorService:    prefix + "-distributor",
			TempoDistributorOTLPPort:   tempoOTLPGRPCPort,
			TempoQueryFrontendService:  prefix + "-query-frontend",
			TempoQueryFrontendPort:     tempoHTTPPort.at(t),
			TempoConfigMap:             prefix + "-config",
			CollectorConfigMap:         r(demoCollectorConfigMap.at(d)),
			GrafanaDatasourceConfigMap: r(demoGrafanaConfigMap.at(d)),
			KafkaAddress:               fmt.Sprintf("%s:%d", r(demoKafka.at(d)), kafkaPort),
		},
	}
	s.Names.TempoMetricsGeneratorService = prefix + "-metrics-generator"
	if !s.NeedsKafka {
		s.Names.TempoIngesterService = prefix + "-ingester"
	}
	return s, nil
}
