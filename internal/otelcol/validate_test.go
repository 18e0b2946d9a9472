package otelcol_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/otelcol"
	"github.com/svcgraph/svcgraph/internal/otelcol/otelcoltest"
)

// render is the collector svcgraph renders for the pair, with extra values files.
func render(t *testing.T, pair chartmod.Pair, valuesFiles ...string) *otelcol.Collector {
	t.Helper()
	srv := chartrepo.ServeFixtures(t)
	col, err := otelcol.Render(context.Background(), chartmod.Options{
		DemoVersion: pair.Demo, TempoVersion: pair.Tempo,
		DemoRepoURL: srv.RepoURL("open-telemetry"), TempoRepoURL: srv.RepoURL("grafana-community"),
		Release: "my-otel-demo", Namespace: "otel-demo", ValuesFiles: valuesFiles,
		CacheDir: t.TempDir(), Helm: chartrepo.HelmSettings(t),
	})
	if err != nil {
		t.Fatalf("render %s: %v", pair, err)
	}
	return col
}

// The real collector of each pair's version accepts the config svcgraph renders for it, with
// the pod's feature gates and a value for every environment variable the config references.
func TestRenderedConfigPassesValidate(t *testing.T) {
	for _, pair := range chartmod.TestedPairs() {
		t.Run(pair.Demo+"_"+pair.Tempo, func(t *testing.T) {
			col := render(t, pair)
			bin := otelcoltest.Binary(t, "otelcol", col.Version)
			env := otelcoltest.Env(otelcoltest.EnvRefs(col.Config), nil)
			out, err := otelcoltest.Validate(t, bin, col.Config, col.FeatureGates(), env)
			if err != nil {
				t.Fatalf("otelcol %s validate of %s's collector config (%s): %v\n%s", col.Version, pair, col.Object, err, out)
			}
			t.Logf("otelcol %s validate: the config of %s passes (env %v, args %v)", col.Version, col.Object, env, col.FeatureGates())
		})
	}
}

// The seed article's patch replaces the traces exporters with [otlp/tempo, debug] (Helm replaces
// lists, PATCHES.md §1.5), so the spanmetrics connector still feeds the metrics pipeline but is
// fed by nothing. The collector refuses to start on that config. Collector 0.97.0's `validate`
// checks each component's config and the pipelines' references but does not build the pipeline
// graph, so it lets this config pass: the proof is the collector's own start-up.
func TestArticlePatchRefusedByTheCollector(t *testing.T) {
	pair := chartmod.Pair{Demo: "0.30.2", Tempo: "1.9.4"}
	article := filepath.Join(t.TempDir(), "article.yaml")
	values := "opentelemetry-collector:\n  config:\n    service:\n      pipelines:\n        traces:\n          exporters: [otlp/tempo, debug]\n"
	if err := os.WriteFile(article, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	col := render(t, pair, article)
	bin := otelcoltest.Binary(t, "otelcol", col.Version)
	env := otelcoltest.Env(otelcoltest.EnvRefs(col.Config), nil)
	out, err := otelcoltest.Validate(t, bin, col.Config, col.FeatureGates(), env)
	t.Logf("otelcol %s validate of the article's config: err=%v\n%s", col.Version, err, out)

	// Started, on loopback addresses only, it must stop before it starts anything.
	cfg, _, err := otelcoltest.Loopback(col.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := otelcoltest.Start(t, "collector-article", append([]string{bin, "--config=" + file}, col.FeatureGates()...), env)
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatalf("the collector runs on the article's config:\n%s", otelcoltest.Tail(p.Output(), 20))
	}
	want := `connector "spanmetrics" used as receiver in metrics pipeline but not used in any supported exporter pipeline`
	if p.Err() == nil || !strings.Contains(p.Output(), want) {
		t.Fatalf("collector exit %v, want a failure saying %q:\n%s", p.Err(), want, otelcoltest.Tail(p.Output(), 20))
	}
	t.Logf("otelcol %s refuses the article's config (%v): %s", col.Version, p.Err(), want)
}

// validate is not a formality: the 0.97.0 collector rejects a component type it does not know,
// such as the exporter name later collectors (and demo 0.41.0) use for OTLP over gRPC.
func TestValidateRejectsAnUnknownComponent(t *testing.T) {
	col := render(t, chartmod.Pair{Demo: chartmod.DefaultDemoVersion, Tempo: chartmod.DefaultTempoVersion})
	bin := otelcoltest.Binary(t, "otelcol", col.Version)
	config := strings.Replace(col.Config, "\nexporters:\n", "\nexporters:\n  otlp_grpc/tempo:\n    endpoint: tempo:4317\n", 1)
	if config == col.Config {
		t.Fatalf("no exporters section in the rendered config:\n%s", col.Config)
	}
	out, err := otelcoltest.Validate(t, bin, config, nil, otelcoltest.Env(otelcoltest.EnvRefs(config), nil))
	if err == nil || !strings.Contains(out, `unknown type: "otlp_grpc"`) {
		t.Fatalf("validate of a config with an otlp_grpc exporter: err=%v, want unknown type \"otlp_grpc\":\n%s", err, out)
	}
}
