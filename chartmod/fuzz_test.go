package chartmod

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
)

const miniValues = `opentelemetry-collector:
  config:
    exporters:
      otlp: {endpoint: x}   # keep me
    service:
      pipelines:
        traces:
          exporters: [otlp, debug, spanmetrics]
        metrics: {receivers: [spanmetrics], exporters: [debug]}
prometheus:
  server:
    extraFlags:
      - "enable-feature=exemplar-storage"
grafana:
  datasources:
    datasources.yaml:
      datasources:
        - {name: Prometheus, uid: webstore-metrics, type: prometheus}
`

// FuzzPatchValues feeds arbitrary values.yaml documents to the values patcher. It must never
// panic, and whenever it succeeds Helm's own YAML reading must see exactly the original values
// plus the patch: the traces exporters with the Tempo exporter right after the Jaeger exporter,
// extraFlags with the remote-write flag appended, one more datasource (demos that keep them in
// values), the new tempo-distributed key — and nothing else changed.
func FuzzPatchValues(f *testing.F) {
	f.Add([]byte(miniValues), false)
	f.Add([]byte(miniValues), true)
	f.Add([]byte("opentelemetry-collector: {config: {exporters: {}, service: {pipelines: {traces: {exporters: [otlp, spanmetrics, otlp]}}}}}\nprometheus: {server: {extraFlags: [web.enable-remote-write-receiver]}}\ngrafana: {datasources: {datasources.yaml: {datasources: []}}}\n"), false)
	f.Add([]byte("a: &x [1]\nb: *x\n"), false)
	specs := map[bool]*spec{}
	for newer, v := range map[bool]string{false: "0.30.2", true: "0.41.0"} {
		s, err := resolve(Options{Release: "r", Namespace: "n", DemoVersion: v})
		if err != nil {
			f.Fatal(err)
		}
		specs[newer] = s
	}
	f.Fuzz(func(t *testing.T, data []byte, newer bool) {
		patchProperty(t, data, specs[newer])
	})
}

// The real values files hold the property too. They are not fuzz seeds: mutating 60 kB documents
// makes the fuzzer crawl.
func TestPatchValuesFixtures(t *testing.T) {
	dir := chartrepo.Dir(t)
	for file, v := range map[string]string{"opentelemetry-demo-0.30.2.tgz": "0.30.2", "opentelemetry-demo-0.41.0.tgz": "0.41.0"} {
		c, err := loader.Load(filepath.Join(dir, "open-telemetry", file))
		if err != nil {
			t.Fatal(err)
		}
		s, err := resolve(Options{Release: "r", Namespace: "n", DemoVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		orig := rawFile(c, chartutil.ValuesfileName).Data
		out, err := patchDemoValues(orig, s)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		patchProperty(t, orig, s)
		// The patch is spliced in as text: every original line is still there, in order, except
		// the flow-style traces exporters list, which gains an item.
		outLines := strings.Split(string(out), "\n")
		i := 0
		for _, l := range strings.Split(string(orig), "\n") {
			if strings.Contains(l, "exporters: [") && strings.Contains(l, s.JaegerExporter) {
				continue
			}
			for i < len(outLines) && outLines[i] != l {
				i++
			}
			if i == len(outLines) {
				t.Fatalf("%s: original line %q is missing or out of order in the patched values", file, l)
			}
			i++
		}
		if added := len(outLines) - len(strings.Split(string(orig), "\n")); added < 20 || added > 60 {
			t.Errorf("%s: patch added %d lines, want the (c)–(f) blocks only", file, added)
		}
	}
}

// patchProperty checks one run of the values patcher; see FuzzPatchValues.
func patchProperty(t *testing.T, data []byte, s *spec) {
	t.Helper()
	out, err := patchDemoValues(data, s)
	if err != nil {
		return
	}
	var before map[string]any
	if err := yaml.Unmarshal(data, &before); err != nil {
		return // yaml.v3 accepted what Helm's reader rejects; Helm would fail on the chart anyway
	}
	var after map[string]any
	if err := yaml.Unmarshal(out, &after); err != nil {
		t.Fatalf("patched values do not parse for Helm: %v\n%s", err, out)
	}
	if _, ok := after[TempoChart].(map[string]any); !ok {
		t.Fatalf("no %s mapping after the patch", TempoChart)
	}
	delete(after, TempoChart)

	col := []string{"opentelemetry-collector", "config"}
	exporters, _ := Field(after, append(col, "exporters")...).(map[string]any)
	if _, ok := exporters[s.TempoExporter]; !ok {
		t.Fatalf("exporter %s missing", s.TempoExporter)
	}
	delete(exporters, s.TempoExporter)
	tracesPath := append(col, "service", "pipelines", "traces", "exporters")
	oldTraces := strs(Field(before, tracesPath...))
	newTraces := strs(Field(after, tracesPath...))
	j := slices.Index(oldTraces, s.JaegerExporter)
	want := slices.Insert(slices.Clone(oldTraces), j+1, s.TempoExporter)
	if !slices.Equal(newTraces, want) {
		t.Fatalf("traces exporters %v, want %v", newTraces, want)
	}
	setIn(after, tracesPath, Field(before, tracesPath...))

	flagsPath := []string{"prometheus", "server", "extraFlags"}
	oldFlags, newFlags := strs(Field(before, flagsPath...)), strs(Field(after, flagsPath...))
	if !slices.Contains(newFlags, remoteWriteFlag) || len(newFlags) < len(oldFlags) || !slices.Equal(newFlags[:len(oldFlags)], oldFlags) {
		t.Fatalf("extraFlags %v, want %v extended by %s", newFlags, oldFlags, remoteWriteFlag)
	}
	setIn(after, flagsPath, Field(before, flagsPath...))

	if !s.DatasourcesInFiles {
		dsPath := []string{"grafana", "datasources", valuesDatasourcesFile, "datasources"}
		oldDS, _ := Field(before, dsPath...).([]any)
		newDS, _ := Field(after, dsPath...).([]any)
		if len(newDS) != len(oldDS)+1 || !reflect.DeepEqual(newDS[:len(oldDS)], oldDS) || Field(newDS[len(oldDS)], "type") != "tempo" {
			t.Fatalf("datasources %v, want %v plus a tempo one", newDS, oldDS)
		}
		setIn(after, dsPath, Field(before, dsPath...))
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the patch changed more than it should:\nbefore %v\nafter  %v", before, after)
	}
}

func setIn(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = v
}
