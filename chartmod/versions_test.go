package chartmod

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// justBelow is the version right under v that a table row must still cover: 0.35.0 → 0.34.999,
// 0.33.8 → 0.33.7, 3.0.0 → 2.999.999.
func justBelow(v string) string {
	s := semver.MustParse(v)
	switch {
	case s.Patch() > 0:
		return fmt.Sprintf("%d.%d.%d", s.Major(), s.Minor(), s.Patch()-1)
	case s.Minor() > 0:
		return fmt.Sprintf("%d.%d.999", s.Major(), s.Minor()-1)
	default:
		return fmt.Sprintf("%d.999.999", s.Major()-1)
	}
}

// boundary is one row edge of a fact, as PATCHES.md states it: below is the value just under
// until, from the value at until and just above it.
type boundary[T any] struct {
	until       string
	below, from T
}

// checkRows holds a table to the boundaries written out here from PATCHES.md: every Until of
// the table is listed (a new row needs a new line here), and the value changes exactly there.
func checkRows[T any](t *testing.T, fact string, table byVersion[T], want []boundary[T]) {
	t.Helper()
	var untils []string
	for _, row := range table {
		if row.Until != "" {
			untils = append(untils, row.Until)
		}
	}
	var listed []string
	for _, b := range want {
		listed = append(listed, b.until)
	}
	if !slices.Equal(untils, listed) {
		t.Errorf("%s: the table's rows end at %v, the test knows %v", fact, untils, listed)
	}
	for _, b := range want {
		u := semver.MustParse(b.until)
		above := fmt.Sprintf("%d.%d.%d", u.Major(), u.Minor(), u.Patch()+1)
		for v, w := range map[string]T{justBelow(b.until): b.below, b.until: b.from, above: b.from} {
			if got := table.at(semver.MustParse(v)); !reflect.DeepEqual(got, w) {
				t.Errorf("%s at %s = %v, want %v", fact, v, got, w)
			}
		}
	}
}

// The boundaries of every row of the version table, just below and at/above each Until.
func TestVersionTableBoundaries(t *testing.T) {
	// Demo, PATCHES.md §1.8 and §3.
	checkRows(t, "collector ConfigMap", demoCollectorConfigMap, []boundary[string]{
		{"0.35.0", "{R}-otelcol", "otelcol"}, {"0.36.0", "otelcol", "otel-collector"}, {"0.40.2", "otel-collector", "otel-collector-agent"}})
	checkRows(t, "Tempo exporter", demoTempoExporter, []boundary[string]{{"0.41.0", "otlp/tempo", "otlp_grpc/tempo"}})
	checkRows(t, "Jaeger exporter", demoJaegerExporter, []boundary[string]{
		{"0.40.2", "otlp", "otlp/jaeger"}, {"0.41.0", "otlp/jaeger", "otlp_grpc/jaeger"}})
	checkRows(t, "span-metrics connector", demoSpanConnector, []boundary[string]{{"0.41.0", "spanmetrics", "span_metrics"}})
	checkRows(t, "Prometheus Service", demoPrometheus, []boundary[string]{{"0.35.0", "{R}-prometheus-server", "prometheus"}})
	checkRows(t, "Prometheus OTLP flag", demoPromOTLPFlag, []boundary[string]{
		{"0.33.8", "enable-feature=otlp-write-receiver", "web.enable-otlp-receiver"}})
	checkRows(t, "frontend proxy", demoFrontendProxy, []boundary[string]{
		{"0.35.0", "{R}-frontendproxy", "frontendproxy"}, {"0.36.0", "frontendproxy", "frontend-proxy"}})
	checkRows(t, "Kafka", demoKafka, []boundary[string]{{"0.35.0", "{R}-kafka", "kafka"}})
	checkRows(t, "Tempo prefix", demoTempoPrefix, []boundary[string]{{"0.35.0", "{R}-tempo", "tempo"}})
	checkRows(t, "datasources in files", demoDatasourcesInFiles, []boundary[bool]{{"0.37.8", false, true}})
	checkRows(t, "Grafana ConfigMap", demoGrafanaConfigMap, []boundary[string]{
		{"0.35.0", "{R}-grafana", "grafana"}, {"0.37.8", "grafana", "grafana-datasources"}})
	checkRows(t, "release with prometheus breaks", demoPrometheusInReleaseBreaks, []boundary[bool]{{"0.35.0", true, false}})

	// tempo-distributed, PATCHES.md §1.8, §2 and §4.
	checkRows(t, "query-frontend HTTP port", tempoHTTPPort, []boundary[int]{{"1.41.0", 3100, 3200}})
	legacy := []string{"global_overrides", "metrics_generator_processors"}
	current := []string{"overrides", "defaults", "metrics_generator", "processors"}
	checkRows(t, "processors path", tempoProcessorsPath, []boundary[[]string]{{"1.33.0", legacy, current}})
	checkRows(t, "processors", tempoProcessors, []boundary[[]string]{
		{"3.0.0", []string{"service-graphs", "span-metrics", "local-blocks"}, []string{"service-graphs", "span-metrics"}}})
	checkRows(t, "retention path", tempoRetentionPath, []boundary[[]string]{{"3.0.0",
		[]string{"compactor", "config", "compaction", "block_retention"},
		[]string{"backendScheduler", "config", "provider", "compaction", "compaction", "block_retention"}}})
	checkRows(t, "needs Kafka", tempoNeedsKafka, []boundary[bool]{{"3.0.0", false, true}})
}

// Every version inside the covered ranges is accepted (whether or not a test installs it), the
// ones just outside are refused.
func TestCoveredRanges(t *testing.T) {
	for _, tc := range []struct {
		demo, tempo string
		ok          bool
	}{
		{"0.30.0", "1.9.4", true}, {"0.37.8", "2.0.0", true}, {"0.41.0", "3.3.0", true}, {"0.34.2", "1.61.3", true},
		{"0.29.999", "1.9.4", false}, {"0.41.1", "1.9.4", false}, {"0.30.2", "1.9.3", false}, {"0.30.2", "3.3.1", false},
	} {
		o := Options{DemoVersion: tc.demo, TempoVersion: tc.tempo, Release: "demo", Namespace: "n", CacheDir: t.TempDir(), Helm: chartrepo.HelmSettings(t)}
		err := o.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s: Validate() = %v, want ok=%t", tc.demo, tc.tempo, err, tc.ok)
		}
		if !tc.ok && reason.Of(err).Kind.ID != reason.ChartVersion.ID {
			t.Errorf("%s/%s: %v, want %s", tc.demo, tc.tempo, err, reason.ChartVersion.ID)
		}
		if tc.ok {
			if _, err := o.Names(); err != nil {
				t.Errorf("%s/%s: Names() = %v", tc.demo, tc.tempo, err)
			}
		}
	}
	if (Pair{"0.37.8", "2.26.2"}).Tested() || !(Pair{"0.41.0", "2.26.2"}).Tested() {
		t.Error("Tested() does not follow the tested versions")
	}
}

// A repository whose index lists versions above the covered range, a pre-release and versions
// the fixtures do not have: latest picks the newest covered one, and Offers lists the covered
// ones newest first.
func extendedRepos(t *testing.T) *chartrepo.Server {
	t.Helper()
	dir := chartrepo.WithVersions(t, chartrepo.Dir(t), "open-telemetry", "opentelemetry-demo-0.41.0.tgz", "0.40.10", "0.42.0", "1.0.0", "0.41.1-rc.1")
	dir = chartrepo.WithVersions(t, dir, "grafana-community", "tempo-distributed-2.26.2.tgz", "2.26.3", "3.4.0", "4.0.0")
	return chartrepo.Serve(t, dir)
}

func TestLatestPicksTheNewestCoveredVersion(t *testing.T) {
	srv := extendedRepos(t)
	o, _ := fixtureOptions(t, Latest, Latest, "demo")
	o.DemoRepoURL, o.TempoRepoURL = srv.RepoURL("open-telemetry"), srv.RepoURL("grafana-community")
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate with latest: %v", err)
	}
	_, r := prepare(t, o)
	if r.Pair != (Pair{"0.41.0", "3.3.0"}) {
		t.Errorf("latest pinned %v, want 0.41.0 and 3.3.0 (the newest inside the covered ranges)", r.Pair)
	}
	if err := Check(r).Err(); err != nil {
		t.Fatal(err)
	}

	offers, err := Offers(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"0.41.0", "0.40.10", "0.30.2"}, {"3.3.0", "2.26.3", "2.26.2", "1.9.4"}}
	for i, of := range offers {
		if !slices.Equal(of.Versions, want[i]) || of.Err != "" || !of.CachedAt.IsZero() {
			t.Errorf("%s offers %+v, want %v fresh from the repository", of.Chart, of, want[i])
		}
	}

	// A repository that no longer answers: the index kept by the last download, said so.
	dead := httptest.NewServer(nil)
	dead.Close()
	cachedOnly := o
	cachedOnly.TempoRepoURL = dead.URL + "/grafana-community"
	offers, err = Offers(context.Background(), cachedOnly)
	if err != nil {
		t.Fatal(err)
	}
	if of := offers[1]; of.Err == "" || len(of.Versions) != 0 {
		t.Errorf("an unreachable repository never read: %+v, want an error and no versions", of)
	}
	// A repository read once, then gone: the index kept from that read answers.
	srvDir := extendedRepos(t)
	moved := o
	moved.TempoRepoURL = srvDir.RepoURL("grafana-community")
	if _, err := Offers(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	srvDir.Close()
	offers, err = Offers(context.Background(), moved)
	if err != nil {
		t.Fatal(err)
	}
	if of := offers[1]; of.CachedAt.IsZero() || !slices.Equal(of.Versions, want[1]) {
		t.Errorf("a repository that stopped answering: %+v, want its cached versions", of)
	}
}

// A pair inside the ranges that no test installs is accepted; the render checks are its gate.
func TestUntestedPairInRange(t *testing.T) {
	srv := extendedRepos(t)
	o, _ := fixtureOptions(t, "0.41.0", "2.26.3", "demo")
	o.DemoRepoURL, o.TempoRepoURL = srv.RepoURL("open-telemetry"), srv.RepoURL("grafana-community")
	_, r := prepare(t, o)
	if err := Check(r).Err(); err != nil {
		t.Fatal(err)
	}
	if r.Pair.Tested() {
		t.Errorf("%v counts as tested", r.Pair)
	}
}
