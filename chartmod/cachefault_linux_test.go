package chartmod

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/faultydir"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// svcgraph's own cache is a convenience: a read-only or full one costs downloads and renders,
// never the run, and says so; nothing half-written is left behind.
func TestUnwritableCacheIsNoFailure(t *testing.T) {
	for _, mode := range []string{"ro", "full"} {
		if m := faultydir.Mode(); m != "" && m != mode {
			continue
		}
		t.Run(mode, func(t *testing.T) {
			faultydir.Run(t, mode, nil, func(t *testing.T, dir string) {
				o, srv := fixtureOptions(t, "0.30.2", "1.9.4", "demo")
				o.CacheDir = filepath.Join(dir, "svcgraph")
				if mode == "full" { // the directory exists, the disk is full
					o.CacheDir = dir
				}
				said := listen(&o)
				for run := 1; run <= 2; run++ {
					before := len(srv.Requests())
					p, r := prepare(t, o)
					if err := Check(r).Err(); err != nil {
						t.Fatalf("run %d: %v", run, err)
					}
					if p.Hash == "" {
						t.Fatal("no hash")
					}
					// Without a cache every run downloads both packages again.
					if got := srv.Requests()[before:]; run == 2 && !strings.HasSuffix(strings.Join(got, " "), ".tgz") {
						t.Errorf("run %d requested %v, want the packages downloaded again", run, got)
					}
				}
				if !strings.Contains(said.String(), "warn: cannot keep opentelemetry-demo 0.30.2 in the chart cache") {
					t.Errorf("no warning about the cache:\n%s", said)
				}
				entries, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
				for _, e := range entries {
					if strings.Contains(filepath.Base(e), ".tmp-") || strings.HasSuffix(e, ".tgz") {
						t.Errorf("left in the cache: %s", e)
					}
				}
			})
		})
	}
}

// Helm's own files: a read-only configuration directory is said to be read-only (not "another
// helm holds the lock"); with svcgraph's entries already there it needs no write at all. A full
// repository cache is CACHE_UNWRITABLE, and no entry is added without its index.
func TestUnwritableHelmDirectories(t *testing.T) {
	for _, mode := range []string{"ro", "full"} {
		if m := faultydir.Mode(); m != "" && m != mode {
			continue
		}
		t.Run(mode, func(t *testing.T) {
			var o Options
			setup := func(t *testing.T) {
				o, _ = fixtureOptions(t, "", "", "demo")
			}
			if mode == "ro" {
				faultydir.Run(t, mode, nil, func(t *testing.T, dir string) {
					setup(t)
					o.Helm.RepositoryConfig = filepath.Join(dir, "repositories.yaml")
					err := AddRepos(context.Background(), o)
					wantKind(t, err, reason.ChartRepo, "read-only file system", "Make Helm's configuration directory "+dir+" writable")
					if strings.Contains(reason.Of(err).Advise(), "Another helm") {
						t.Errorf("a read-only directory is blamed on another helm: %v", reason.Of(err).Advise())
					}
				})
				return
			}
			faultydir.Run(t, mode, nil, func(t *testing.T, dir string) {
				setup(t)
				o.Helm.RepositoryCache = dir
				err := AddRepos(context.Background(), o)
				wantKind(t, err, reason.CacheUnwritable, "no space left on device", "Make Helm's repository cache "+dir+" writable")
				if got := reposByNameIfAny(t, o); len(got) != 0 {
					t.Errorf("entries added without their index: %v", got)
				}
			})
		})
	}
}

// A read-only Helm configuration that already lists both repositories is fine: nothing to write.
func TestReadOnlyHelmConfigWithTheEntries(t *testing.T) {
	var o Options
	faultydir.Run(t, "ro", func(t *testing.T, dir string) {
		o, _ = fixtureOptions(t, "", "", "demo")
		o.Helm.RepositoryConfig = filepath.Join(dir, "repositories.yaml")
		writeRepos(t, o, [2]string{"otel", o.DemoRepoURL}, [2]string{"grafana", o.TempoRepoURL})
	}, func(t *testing.T, dir string) {
		if err := AddRepos(context.Background(), o); err != nil {
			t.Fatalf("AddRepos with a read-only configuration that lists both: %v", err)
		}
	})
}
