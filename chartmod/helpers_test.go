package chartmod

import (
	"context"
	"testing"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
)

// fixtureOptions serves the shared fixture repositories and returns options pointing at them.
func fixtureOptions(t testing.TB, demo, tempo, release string) (Options, *chartrepo.Server) {
	t.Helper()
	srv := chartrepo.Serve(t, chartrepo.Dir(t))
	return Options{
		DemoVersion: demo, TempoVersion: tempo,
		DemoRepoURL: srv.RepoURL("open-telemetry"), TempoRepoURL: srv.RepoURL("grafana-community"),
		Release: release, Namespace: "otel-demo",
		CacheDir: t.TempDir(), Helm: chartrepo.HelmSettings(t),
	}, srv
}

// prepare runs add, pull, patch and render.
func prepare(t testing.TB, o Options) (*Patched, *Rendered) {
	t.Helper()
	ctx := context.Background()
	if err := AddRepos(ctx, o); err != nil {
		t.Fatalf("AddRepos: %v", err)
	}
	pulled, err := Pull(ctx, o)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	p, err := Patch(ctx, pulled, o)
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	r, err := Render(p, o)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return p, r
}
