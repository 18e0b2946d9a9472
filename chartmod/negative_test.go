package chartmod

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/reason"
)

func wantKind(t *testing.T, err error, k reason.Kind, contains ...string) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) || re.Kind.ID != k.ID {
		t.Fatalf("error = %v, want kind %s", err, k.ID)
	}
	t.Logf("%s: %v (advice: %s)", k.ID, err, re.Advise())
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) && !strings.Contains(re.Advise(), c) {
			t.Errorf("error %q (advice %q) does not mention %q", err, re.Advise(), c)
		}
	}
}

func TestPullCachedNeedsNoNetwork(t *testing.T) {
	o, srv := fixtureOptions(t, "0.41.0", "3.3.0", "demo")
	ctx := context.Background()
	first, err := Pull(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Requests()); n != 4 { // two indexes, two packages
		t.Errorf("first pull made %d requests %v, want 4", n, srv.Requests())
	}
	before := len(srv.Requests())
	second, err := Pull(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[before:]; len(got) != 0 {
		t.Errorf("cached pull made requests %v", got)
	}
	if second.DemoDigest != first.DemoDigest || second.TempoDigest != first.TempoDigest {
		t.Error("cached pull returned other digests")
	}

	// A damaged cached package is fetched again rather than trusted.
	if err := os.WriteFile(first.DemoFile, []byte("not a chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = len(srv.Requests())
	if _, err := Pull(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[before:]; len(got) != 2 || !strings.HasSuffix(got[1], "opentelemetry-demo-0.41.0.tgz") {
		t.Errorf("pull after damage requested %v, want the demo index and package again", got)
	}

	// Garbage whose .sha256 matches it (the digest holds, the package does not load) is pulled
	// again too, instead of failing every later run with CHART_UNSUPPORTED_LAYOUT.
	garbage := []byte("not a chart either")
	if err := os.WriteFile(first.DemoFile, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.DemoFile+".sha256", []byte(sha256hex(garbage)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = len(srv.Requests())
	third, err := Pull(ctx, o)
	if err != nil {
		t.Fatalf("pull over a garbage package with a matching digest: %v", err)
	}
	if got := srv.Requests()[before:]; len(got) != 2 || !strings.HasSuffix(got[1], "opentelemetry-demo-0.41.0.tgz") {
		t.Errorf("pull over garbage requested %v, want the demo index and package again", got)
	}
	if third.DemoDigest != first.DemoDigest {
		t.Errorf("digest after the re-pull %s, want %s", third.DemoDigest, first.DemoDigest)
	}
	if data, digest, ok := cached(first.DemoFile, first.DemoFile+".sha256"); !ok || digest != first.DemoDigest || len(data) == len(garbage) {
		t.Error("the re-pulled package did not replace the garbage in the cache")
	}
}

func TestPullTamperedPackage(t *testing.T) {
	dir := chartrepo.Tampered(t, chartrepo.Dir(t), "open-telemetry", "opentelemetry-demo-0.30.2.tgz")
	srv := chartrepo.Serve(t, dir)
	o, _ := fixtureOptions(t, "0.30.2", "1.9.4", "demo")
	o.DemoRepoURL = srv.RepoURL("open-telemetry")
	_, err := Pull(context.Background(), o)
	wantKind(t, err, reason.ChartDigest, "opentelemetry-demo 0.30.2", "sha256")
	if entries, _ := os.ReadDir(o.CacheDir + "/charts"); len(entries) > 0 {
		for _, e := range entries {
			files, _ := os.ReadDir(o.CacheDir + "/charts/" + e.Name())
			for _, f := range files {
				if strings.HasPrefix(f.Name(), "opentelemetry-demo") {
					t.Errorf("tampered package was cached as %s", f.Name())
				}
			}
		}
	}
}

func TestUnreachableRepository(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close() // nothing listens there any more
	o, _ := fixtureOptions(t, "", "", "demo")
	o.TempoRepoURL = url + "/grafana-community"
	_, err := Pull(context.Background(), o)
	wantKind(t, err, reason.ChartRepo, url)
	err = AddRepos(context.Background(), o)
	wantKind(t, err, reason.ChartRepo, url)
}

// Versions outside the covered ranges, malformed ones and pre-releases are refused before any
// request, naming the ranges (or what a version looks like).
func TestUnknownVersionRefusedBeforeAnyRequest(t *testing.T) {
	for _, tc := range []struct {
		demo, tempo string
		kind        reason.Kind
		mention     []string
	}{
		{"0.29.9", "", reason.ChartVersion, []string{"0.30.0 to 0.41.0", "latest", "0.30.2/1.9.4"}},
		{"0.41.1", "", reason.ChartVersion, []string{"0.30.0 to 0.41.0"}},
		{"", "1.9.3", reason.ChartVersion, []string{"1.9.4 to 3.3.0"}},
		{"", "3.4.0", reason.ChartVersion, []string{"1.9.4 to 3.3.0"}},
		{"0.41", "", reason.Usage, []string{`"0.41" is not a version`, "0.41.0"}},
		{"v0.41.0", "", reason.Usage, []string{"is not a version"}},
		{"", "3.3.0-rc.1", reason.Usage, []string{"pre-release", "1.9.4 to 3.3.0"}},
		{"", "lastest", reason.Usage, []string{"is not a version", "latest"}},
	} {
		o, srv := fixtureOptions(t, tc.demo, tc.tempo, "demo")
		wantKind(t, o.ValidateCharts(), tc.kind, tc.mention...)
		wantKind(t, o.Validate(), tc.kind, tc.mention...)
		_, err := Pull(context.Background(), o)
		wantKind(t, err, tc.kind, tc.mention...)
		if got := srv.Requests(); len(got) != 0 {
			t.Errorf("%s/%s still requested %v", tc.demo, tc.tempo, got)
		}
	}
}

func TestValidateReleaseNames(t *testing.T) {
	base := Options{Namespace: "otel-demo", CacheDir: t.TempDir(), Helm: chartrepo.HelmSettings(t)}
	for _, tc := range []struct {
		release, demo string
		ok            bool
	}{
		{"my-otel-demo", "0.30.2", true},
		{"my-prometheus", "0.30.2", false}, // the prometheus chart renames its Service (§1.8)
		{"my-prometheus", "0.41.0", true},  // fixed names from 0.35.0
		{"Bad_Name", "0.30.2", false},
		{"", "0.30.2", false},
	} {
		o := base
		o.Release, o.DemoVersion = tc.release, tc.demo
		err := o.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q, %s) = %v, want ok=%t", tc.release, tc.demo, err, tc.ok)
		}
		if tc.release == "my-prometheus" && !tc.ok {
			wantKind(t, err, reason.Usage, "prometheus", "0.35.0")
		}
	}
}

// Charts that lack what the patch expects fail with ChartLayout and say where, never panic.
func TestUnexpectedLayout(t *testing.T) {
	o, _ := fixtureOptions(t, "0.30.2", "1.9.4", "demo")
	pulled, err := Pull(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	withValues := func(c *chart.Chart, edit func(string) string) *chart.Chart {
		n := cloneChart(c)
		f := rawFile(n, chartutil.ValuesfileName)
		replaceRaw(n, chartutil.ValuesfileName, []byte(edit(string(f.Data))))
		vals, err := chartutil.ReadValues(rawFile(n, chartutil.ValuesfileName).Data)
		if err != nil {
			t.Fatal(err)
		}
		n.Values = vals
		return n
	}
	for _, tc := range []struct {
		name    string
		demo    func(string) string
		tempo   func(string) string
		mention string
	}{
		{"no traces exporters", func(s string) string {
			return strings.Replace(s, "exporters: [otlp, debug, spanmetrics]", "receivers: [otlp]", 1)
		}, nil, "opentelemetry-collector.config.service.pipelines.traces.exporters"},
		{"no jaeger exporter in traces", func(s string) string {
			return strings.Replace(s, "exporters: [otlp, debug, spanmetrics]", "exporters: [debug]", 1)
		}, nil, "spanmetrics"},
		{"extraFlags not a list", func(s string) string {
			return strings.Replace(s, "    extraFlags:\n      - \"enable-feature=exemplar-storage\"\n      - \"enable-feature=otlp-write-receiver\"", "    extraFlags: {}", 1)
		}, nil, "prometheus.server.extraFlags"},
		{"no grafana datasources", func(s string) string {
			return strings.Replace(s, "  datasources:\n    datasources.yaml:", "  otherDatasources:\n    datasources.yaml:", 1)
		}, nil, "grafana.datasources"},
		{"alternateConfig set", func(s string) string {
			return strings.Replace(s, "opentelemetry-collector:\n", "opentelemetry-collector:\n  alternateConfig:\n    receivers: {}\n", 1)
		}, nil, "alternateConfig"},
		{"tempo without metricsGenerator", nil, func(s string) string {
			return strings.Replace(s, "\nmetricsGenerator:", "\nmetricsGeneratorRenamed:", 1)
		}, "metricsGenerator"},
		{"tempo overrides as a string", nil, func(s string) string {
			return strings.Replace(s, "\nglobal_overrides:\n", "\nglobal_overrides: |\n", 1)
		}, "global_overrides"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := *pulled
			if tc.demo != nil {
				p.Demo = withValues(pulled.Demo, tc.demo)
				if rawFile(p.Demo, chartutil.ValuesfileName).Data == nil {
					t.Fatal("fixture edit failed")
				}
			}
			if tc.tempo != nil {
				p.Tempo = withValues(pulled.Tempo, tc.tempo)
			}
			_, err := Patch(context.Background(), &p, o)
			wantKind(t, err, reason.ChartLayout, tc.mention)
		})
	}
}

// Demos from 0.37.8 provision Grafana datasources from chart files; without them (f) has nowhere
// to go.
func TestUnexpectedLayoutDatasourceFiles(t *testing.T) {
	o, _ := fixtureOptions(t, "0.41.0", "2.26.2", "demo")
	pulled, err := Pull(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	p := *pulled
	p.Demo = cloneChart(pulled.Demo)
	p.Demo.Files = slices.DeleteFunc(p.Demo.Files, func(f *chart.File) bool {
		return strings.HasPrefix(f.Name, grafanaDatasourceDir+"default")
	})
	_, err = Patch(context.Background(), &p, o)
	wantKind(t, err, reason.ChartLayout, grafanaDatasourceDir, prometheusDSUID)
}
