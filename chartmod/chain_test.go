package chartmod

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// Names every pair must come out with, per PATCHES.md §1.8, §3 and §6.
func TestChainEveryPairAndRelease(t *testing.T) {
	type want struct{ collector, prometheus, proxy, tempoPrefix, grafanaCM string }
	expect := map[string]func(r string) want{
		"0.30.2": func(r string) want {
			return want{r + "-otelcol", r + "-prometheus-server", r + "-frontendproxy", r + "-tempo", r + "-grafana"}
		},
		"0.41.0": func(string) want {
			return want{"otel-collector-agent", "prometheus", "frontend-proxy", "tempo", "grafana-datasources"}
		},
	}
	qfPort := map[string]int{"1.9.4": 3100, "2.26.2": 3200, "3.3.0": 3200}
	for _, pair := range TestedPairs() {
		for _, release := range []string{"my-otel-demo", "demo"} {
			t.Run(pair.Demo+"_"+pair.Tempo+"_"+release, func(t *testing.T) {
				o, _ := fixtureOptions(t, pair.Demo, pair.Tempo, release)
				p, r := prepare(t, o)
				rep := Check(r)
				if err := rep.Err(); err != nil {
					t.Fatalf("checks failed:\n%s", rep)
				}
				w := expect[pair.Demo](release)
				n := p.Names
				got := want{n.CollectorConfigMap, n.PrometheusService, n.FrontendProxyService, n.TempoPrefix, n.GrafanaDatasourceConfigMap}
				if got != w {
					t.Errorf("names = %+v, want %+v", got, w)
				}
				if n.TempoQueryFrontendPort != qfPort[pair.Tempo] {
					t.Errorf("query-frontend port = %d, want %d", n.TempoQueryFrontendPort, qfPort[pair.Tempo])
				}
				for _, name := range []string{n.CollectorConfigMap, n.TempoConfigMap, n.GrafanaDatasourceConfigMap} {
					if r.Find("ConfigMap", name) == nil {
						t.Errorf("ConfigMap %s not rendered", name)
					}
				}
				if len(rep.Results) != 10 {
					t.Errorf("report has %d results, want the 8 checks of PATCHES.md §6 and the 2 path checks", len(rep.Results))
				}
				checkPatchedChartFile(t, p, pair.Tempo, o.TempoRepoURL)
				if strings.HasPrefix(pair.Tempo, "3.") {
					cfg, _, err := configMapYAML(r, n.TempoConfigMap, "tempo.yaml")
					if err != nil {
						t.Fatal(err)
					}
					if got := Field(cfg, "ingest", "kafka", "address"); got != n.KafkaAddress {
						t.Errorf("tempo.yaml ingest.kafka.address = %v, want %s", got, n.KafkaAddress)
					}
					if r.Find("Service", release+"-kafka") == nil && r.Find("Service", "kafka") == nil {
						t.Errorf("the demo's Kafka Service for %s was not rendered", n.KafkaAddress)
					}
				}
			})
		}
	}
}

// checkPatchedChartFile proves the packaged Chart.yaml stays consistent with the chart's metadata
// and still loads (a text append would make it unloadable, PATCHES.md §1.1).
func checkPatchedChartFile(t *testing.T, p *Patched, tempoVersion, repoURL string) {
	t.Helper()
	f := rawFile(p.Chart, chartutil.ChartfileName)
	var md chart.Metadata
	if err := yaml.Unmarshal(f.Data, &md); err != nil {
		t.Fatalf("patched Chart.yaml does not load: %v", err)
	}
	if err := md.Validate(); err != nil {
		t.Fatalf("patched Chart.yaml invalid: %v", err)
	}
	last := md.Dependencies[len(md.Dependencies)-1]
	if last.Name != TempoChart || last.Version != tempoVersion || last.Repository != repoURL || last.Condition != TempoChart+".enabled" {
		t.Errorf("Chart.yaml's last dependency = %+v, want %s %s from %s, condition %s.enabled", *last, TempoChart, tempoVersion, repoURL, TempoChart)
	}
	if len(md.Dependencies) != len(p.Chart.Metadata.Dependencies) || md.Version != p.Chart.Metadata.Version {
		t.Errorf("Chart.yaml (%d deps) and chart metadata (%d deps) disagree", len(md.Dependencies), len(p.Chart.Metadata.Dependencies))
	}
	if !bytes.Contains(p.Chart.Schema, []byte(`"`+TempoChart+`"`)) {
		t.Errorf("schema lacks the %s property", TempoChart)
	}
}

// The patch and the renders leave the pulled charts untouched, and the hash follows the inputs.
func TestPatchIsPureAndHashed(t *testing.T) {
	o, _ := fixtureOptions(t, "", "", "my-otel-demo")
	ctx := context.Background()
	pulled, err := Pull(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	origValues := slices.Clone(rawFile(pulled.Demo, chartutil.ValuesfileName).Data)
	origDeps := len(pulled.Demo.Metadata.Dependencies)
	a, err := Patch(ctx, pulled, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Patch(ctx, pulled, o)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Errorf("same inputs, different hashes %s and %s", a.Hash, b.Hash)
	}
	off := o
	off.SetValues = []string{"tempo-distributed.enabled=false"}
	pOff, err := Patch(ctx, pulled, off)
	if err != nil {
		t.Fatal(err)
	}
	rOff, err := Render(pOff, off)
	if err != nil {
		t.Fatal(err)
	}
	if pOff.Hash == a.Hash {
		t.Error("hash ignores user values")
	}
	other := o
	other.Release = "demo"
	c, err := Patch(ctx, pulled, other)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash == a.Hash {
		t.Error("hash ignores the release the names were rendered for")
	}
	if !bytes.Equal(rawFile(pulled.Demo, chartutil.ValuesfileName).Data, origValues) || len(pulled.Demo.Metadata.Dependencies) != origDeps {
		t.Error("Patch changed the pulled chart")
	}
	// Rendering with Tempo off must not have removed the subchart from the patched chart.
	if len(pOff.Chart.Dependencies()) != origDeps+1 {
		t.Errorf("patched chart has %d subcharts after a render, want %d", len(pOff.Chart.Dependencies()), origDeps+1)
	}

	// §6.8: switching Tempo off removes every Tempo object, and the report says so.
	if objs := rOff.TempoObjects(); len(objs) != 0 {
		t.Errorf("tempo-distributed.enabled=false still renders %d Tempo objects, e.g. %s/%s", len(objs), objs[0].Kind, objs[0].Name)
	}
	err = Check(rOff).Err()
	if err == nil || !strings.Contains(err.Error(), "tempo switch") {
		t.Errorf("checks with Tempo off: %v, want a failed tempo switch check", err)
	}
}

// The article's literal list `[otlp/tempo, debug]`, given as a user values file, replaces the
// traces exporters (Helm replaces lists, PATCHES.md §1.5): the collector check must catch it.
func TestArticlePatchFailsCollectorCheck(t *testing.T) {
	o, _ := fixtureOptions(t, "0.30.2", "1.9.4", "my-otel-demo")
	file := filepath.Join(t.TempDir(), "article.yaml")
	article := "opentelemetry-collector:\n  config:\n    service:\n      pipelines:\n        traces:\n          exporters: [otlp/tempo, debug]\n"
	if err := os.WriteFile(file, []byte(article), 0o644); err != nil {
		t.Fatal(err)
	}
	o.ValuesFiles = []string{file}
	_, r := prepare(t, o)
	rep := Check(r)
	var collector *Result
	for i := range rep.Results {
		if rep.Results[i].Check == "collector" {
			collector = &rep.Results[i]
		}
	}
	if collector == nil || collector.OK {
		t.Fatalf("collector check passed with the article's exporters:\n%s", rep)
	}
	if !strings.Contains(collector.Detail, "otlp") || collector.Object != "ConfigMap/my-otel-demo-otelcol" {
		t.Errorf("collector failure does not name the object and what it found: %+v", *collector)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "collector") {
		t.Errorf("Err() = %v, want the collector check named", err)
	}
	for _, x := range rep.Results {
		if x.Check != "collector" && !x.OK {
			t.Errorf("only the collector check should fail, but %s did: %s", x.Check, x.Detail)
		}
	}
}

// A release name containing "tempo" still yields the Tempo names the checks expect (§1.8), and
// --set values reach the render.
func TestReleaseWithTempoAndSetValues(t *testing.T) {
	o, _ := fixtureOptions(t, "0.30.2", "1.9.4", "my-tempo")
	o.SetValues = []string{"grafana.adminPassword=s3cret-from-set"}
	p, r := prepare(t, o)
	if err := Check(r).Err(); err != nil {
		t.Fatal(err)
	}
	if p.Names.TempoDistributorService != "my-tempo-tempo-distributor" {
		t.Errorf("distributor = %s", p.Names.TempoDistributorService)
	}
	if !strings.Contains(r.Manifest, "s3cret-from-set") && !strings.Contains(r.Manifest, "czNjcmV0LWZyb20tc2V0") {
		t.Error("--set value did not reach the rendered manifests")
	}
}

// §6.8 for the fixed names of newer demos: with Tempo off no tempo-… object is left.
func TestTempoOffNewestPair(t *testing.T) {
	o, _ := fixtureOptions(t, "0.41.0", "3.3.0", "demo")
	o.SetValues = []string{"tempo-distributed.enabled=false"}
	_, r := prepare(t, o)
	if objs := r.TempoObjects(); len(objs) != 0 {
		t.Errorf("tempo-distributed.enabled=false still renders %d Tempo objects, e.g. %s/%s", len(objs), objs[0].Kind, objs[0].Name)
	}
	if r.Find("ConfigMap", "otel-collector-agent") == nil {
		t.Error("the rest of the demo should still render")
	}
}

// User values that would leave the service graph empty are caught by the check that guards
// against them, and only by that one (the templated address also hides the distributor's config).
func TestChecksCatchBreakingUserValues(t *testing.T) {
	for _, tc := range []struct {
		name, demo, tempo string
		set               []string
		failing, mention  string
		file              string // a -f values file, if any
	}{
		// A template in a bare scalar makes tempo.yaml an "Error: …" text (PATCHES.md §1.7).
		{name: "templated kafka address", demo: "0.30.2", tempo: "3.3.0", failing: "tempo config", mention: "Error",
			file: "tempo-distributed:\n  ingest:\n    kafka:\n      address: '{{ .Release.Name }}-kafka:9092'\n"},
		{"no service-graphs processor", "0.41.0", "2.26.2",
			[]string{"tempo-distributed.overrides.defaults.metrics_generator.processors={span-metrics}"}, "tempo config", "service-graphs", ""},
		{"remote-write flag dropped by a list", "0.41.0", "1.9.4",
			[]string{"prometheus.server.extraFlags={enable-feature=exemplar-storage,web.enable-otlp-receiver}"}, "prometheus remote-write receiver", "--web.enable-remote-write-receiver", ""},
		// --set with an index replaces the whole list (PATCHES.md §1.5), Tempo's entry included.
		{"datasources replaced by --set with an index", "0.30.2", "2.26.2",
			[]string{"grafana.datasources.datasources\\.yaml.datasources[0].isDefault=true"}, "grafana tempo datasource", "no datasource of type tempo", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := fixtureOptions(t, tc.demo, tc.tempo, "demo")
			o.SetValues = tc.set
			if tc.file != "" {
				f := filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(f, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
				o.ValuesFiles = []string{f}
			}
			_, r := prepare(t, o)
			rep := Check(r)
			failed := rep.Failed()
			var names []string
			for _, f := range failed {
				names = append(names, f.Check)
				if f.Check == tc.failing && !strings.Contains(f.Detail, tc.mention) {
					t.Errorf("%s failed without mentioning %q: %s", f.Check, tc.mention, f.Detail)
				}
			}
			want := []string{tc.failing}
			switch {
			case tc.failing == "tempo config" && tc.mention == "Error":
				want = []string{"tempo distributor", "tempo config", "trace path"} // no config, no path
			case tc.failing == "grafana tempo datasource":
				want = []string{tc.failing, "query path"} // no datasource, no path to Tempo
			}
			if !slices.Equal(names, want) {
				t.Fatalf("want %v to fail, got:\n%s", want, rep)
			}
		})
	}
}
