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

// ---- Presets (issue 14) ----------------------------------------------------------------------
//
// A preset is values laid under the user's -f/--set (the user wins), chosen per version pair
// like every other fact here. Both presets size Prometheus for Tempo's series. `lite` keeps the
// frontend, the frontend proxy, the load generator (fewer users, no browser) and every service
// the checkout path calls, with the whole collector → Tempo → Prometheus → Grafana chain and
// Jaeger; it gives everything it keeps a memory request below its limit, runs each Tempo
// component once with requests and limits, and drops:
//
//   - every version: OpenSearch (the collector's logs go to its debug exporter instead), the ad
//     and recommendation services (the frontend's calls to them fail, which the graph shows as
//     errors on the frontend), and Kafka's consumers (accounting, fraud detection);
//   - demo < 0.41.0 (demo app 1.x): nothing more. Kafka stays, because checkout waits for it and
//     exits without it there;
//   - demo 0.41.0 (demo app 2.x): the AI agent, chatbot and MCP services, the telemetry docs,
//     the OpAMP server, flagd's UI and Grafana's alert sidecar; Kafka too (checkout skips it
//     when KAFKA_ADDR is empty), unless Tempo needs it (tempo-distributed 3.x writes through it).
//
// Targets: requests ≤ 2.5 GiB and limits ≤ 3.5 GiB for every pair, so `minikube --memory 4G
// --cpus 2` holds it with room for the system pods (TestPresetLiteTargets proves it).
//
// Prometheus (both presets): Tempo's metrics-generator remote-writes about 25 series per
// service-graph edge (request/failed counters and two 8-bucket latency histograms) and about 18
// per (service, span, kind, status) for span metrics (calls, size and a 14-bucket histogram):
// with the demo's ~20 edges and ~300 span combinations that is ~6k series, beside the demo's
// own ~10k. At ~8 KiB per head series (the demo scrapes every 5s) that is ~130 MiB, plus
// ~150 MiB for Prometheus itself, and a WAL replay after a restart needs the head once more:
// 640Mi holds it where the demo's 300Mi/400Mi limits OOM-loop (lite, with about half the
// series, gets 448Mi and requests 256Mi). A 1d retention keeps the
// on-disk blocks (an emptyDir) and the WAL replay small; the tour never looks further back.

const (
	PresetFull = "full" // the charts' own services
	PresetLite = "lite" // a smaller demo that still draws the service graph
)

// Presets lists the preset names, the default first.
var Presets = []string{PresetFull, PresetLite}

const (
	prometheusLimit     = "640Mi"
	prometheusRetention = "1d"
	// lite runs about half the services, so about half the series: ~8k.
	prometheusLiteRequest = "256Mi"
	prometheusLiteLimit   = "448Mi"
)

var off = map[string]any{"enabled": false}

// presetDemoLite is lite's demo part, keyed by the demo's component names of that version.
var presetDemoLite = byVersion[func(s *spec) []kv]{
	{"0.41.0", func(*spec) []kv {
		return []kv{
			{"components.accountingService", off}, {"components.frauddetectionService", off},
			{"components.adService", off}, {"components.recommendationService", off},
			{"components.frontend.resources", res("128Mi", "200Mi", "")},
			{"components.cartService.resources", res("96Mi", "160Mi", "")},
			{"components.emailService.resources", res("64Mi", "100Mi", "")},
			{"components.paymentService.resources", res("80Mi", "120Mi", "")},
			{"components.kafka.resources", res("400Mi", "500Mi", "")},
			{"components.loadgenerator.resources", res("128Mi", "256Mi", "")},
			{"components.loadgenerator.envOverrides", []any{
				map[string]any{"name": "LOCUST_USERS", "value": "3"},
				map[string]any{"name": "LOCUST_BROWSER_TRAFFIC_ENABLED", "value": "false"}}},
			{"opentelemetry-collector.resources", res("128Mi", "200Mi", "")},
			{"jaeger.allInOne.resources", res("160Mi", "256Mi", "")},
			{"jaeger.allInOne.args", []any{"--memory.max-traces=2000", "--query.base-path=/jaeger/ui",
				"--prometheus.server-url=http://{{ include \"otel-demo.name\" . }}-prometheus-server:9090",
				"--prometheus.query.normalize-calls=true", "--prometheus.query.normalize-duration=true"}},
			{"grafana.resources", res("100Mi", "150Mi", "")},
		}
	}},
	{"", func(s *spec) []kv {
		v := []kv{
			{"components.accounting", off}, {"components.fraud-detection", off},
			{"components.ad", off}, {"components.recommendation", off},
			{"components.agent", off}, {"components.chatbot", off}, {"components.mcp", off},
			{"components.telemetry-docs", off}, {"components.opamp-server", off},
			{"components.flagd.sidecarContainers", []any{}},
			{"components.frontend.resources", res("128Mi", "224Mi", "")},
			{"components.frontend-proxy.resources", res("48Mi", "64Mi", "")},
			{"components.cart.resources", res("96Mi", "160Mi", "")},
			{"components.email.resources", res("64Mi", "100Mi", "")},
			{"components.payment.resources", res("80Mi", "128Mi", "")},
			{"components.astronomy-db.resources", res("64Mi", "96Mi", "")},
			{"components.load-generator.resources", res("96Mi", "160Mi", "")},
			{"components.load-generator.envOverrides", []any{
				map[string]any{"name": "LOAD_GENERATOR_VUS", "value": "2"},
				map[string]any{"name": "K6_BROWSER_ENABLED", "value": "false"}}},
			{"opentelemetry-collector.resources", res("128Mi", "200Mi", "")},
			// The jaeger chart's env list is replaced whole: the demo's entries with fewer traces.
			{"jaeger.jaeger.extraEnv", []any{
				map[string]any{"name": "MEMORY_MAX_TRACES", "value": "2000"},
				map[string]any{"name": "PROMETHEUS_ADDR", "value": "prometheus:9090"},
				map[string]any{"name": "OTEL_COLLECTOR_HOST", "value": "otel-collector"},
				map[string]any{"name": "OTEL_COLLECTOR_PORT_HTTP", "value": "4318"},
				map[string]any{"name": "JAEGER_HOST", "value": "0.0.0.0"},
				map[string]any{"name": "JAEGER_GRPC_PORT", "value": "4317"}}},
			{"jaeger.jaeger.resources", res("128Mi", "200Mi", "")},
			{"grafana.resources", res("128Mi", "200Mi", "")},
			{"grafana.sidecar.alerts.enabled", false},
			{"grafana.sidecar.resources", res("48Mi", "64Mi", "10m")},
			// Without ad and Kafka the collector's scrapes of them only fail.
			{"opentelemetry-collector.config.service.pipelines.metrics.receivers", []any{"otlp", s.SpanConnector}},
		}
		if s.NeedsKafka {
			return append(v, kv{"components.kafka.resources", res("320Mi", "400Mi", "")},
				kv{"components.kafka.envOverrides", []any{map[string]any{"name": "KAFKA_HEAP_OPTS", "value": "-Xmx200M -Xms200M"}}})
		}
		return append(v, kv{"components.kafka", off},
			kv{"components.checkout.initContainers", []any{}},
			kv{"components.checkout.envOverrides", []any{map[string]any{"name": "KAFKA_ADDR", "value": ""}}})
	}},
}

// presetTempoLite is lite's Tempo part: one replica of every component, with requests and limits.
var presetTempoLite = byVersion[[]kv]{
	{"3.0.0", []kv{
		{"ingester.replicas", 1}, {"ingester.config.replication_factor", 1},
		{"ingester.resources", res("96Mi", "160Mi", "20m")},
		{"compactor.resources", res("48Mi", "64Mi", "10m")},
		{"distributor.resources", res("48Mi", "64Mi", "20m")},
		{"querier.resources", res("48Mi", "64Mi", "10m")},
		{"queryFrontend.resources", res("32Mi", "48Mi", "10m")},
		{"metricsGenerator.resources", res("96Mi", "160Mi", "20m")},
		{"memcached.resources", res("48Mi", "80Mi", "10m")},
	}},
	{"", []kv{
		{"distributor.resources", res("48Mi", "64Mi", "20m")},
		{"querier.resources", res("48Mi", "64Mi", "10m")},
		{"queryFrontend.resources", res("32Mi", "48Mi", "10m")},
		{"metricsGenerator.resources", res("96Mi", "160Mi", "20m")},
		{"blockBuilder.resources", res("64Mi", "96Mi", "10m")},
		{"liveStore.resources", res("96Mi", "160Mi", "20m")},
		{"backendScheduler.resources", res("32Mi", "48Mi", "10m")},
		{"backendWorker.resources", res("48Mi", "64Mi", "10m")},
		{"memcached.resources", res("48Mi", "80Mi", "10m")},
	}},
}
