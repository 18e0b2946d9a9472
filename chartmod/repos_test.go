package chartmod

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// writeRepos gives the test's Helm configuration these entries (name, URL).
func writeRepos(t *testing.T, o Options, entries ...[2]string) {
	t.Helper()
	f := repo.NewFile()
	for _, e := range entries {
		f.Update(&repo.Entry{Name: e[0], URL: e[1]})
	}
	if err := os.MkdirAll(filepath.Dir(o.Helm.RepositoryConfig), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile(o.Helm.RepositoryConfig, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reposByName reads the test's repositories.yaml back.
func reposByName(t *testing.T, o Options) map[string]string {
	t.Helper()
	f, err := repo.LoadFile(o.Helm.RepositoryConfig)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range f.Repositories {
		if _, dup := m[e.Name]; dup {
			t.Errorf("repositories.yaml lists %s twice", e.Name)
		}
		m[e.Name] = e.URL
	}
	return m
}

// lines collects what svcgraph says through Options' Progress, Detail and Warn.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(prefix string) func(string) {
	return func(msg string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.all = append(l.all, prefix+msg)
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func listen(o *Options) *lines {
	l := &lines{}
	o.Progress, o.Detail, o.Warn = l.add("progress: "), l.add("detail: "), l.add("warn: ")
	return l
}

func TestAddRepos(t *testing.T) {
	o, srv := fixtureOptions(t, "", "", "demo")
	ctx := context.Background()
	// The user's own repositories must survive.
	writeRepos(t, o, [2]string{"bitnami", "https://charts.bitnami.com/bitnami"})
	if err := AddRepos(ctx, o); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bitnami": "https://charts.bitnami.com/bitnami", DemoRepoName: o.DemoRepoURL, TempoRepoName: o.TempoRepoURL}
	if got := reposByName(t, o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("repositories = %v, want %v", got, want)
	}
	for _, f := range []string{helmpath.CacheIndexFile(DemoRepoName), helmpath.CacheChartsFile(TempoRepoName)} {
		if _, err := os.Stat(filepath.Join(o.Helm.RepositoryCache, f)); err != nil {
			t.Errorf("not cached as helm repo add would: %v", err)
		}
	}
	if idx, err := repo.LoadIndexFile(filepath.Join(o.Helm.RepositoryCache, helmpath.CacheIndexFile(TempoRepoName))); err != nil || !idx.Has(TempoChart, "3.3.0") {
		t.Errorf("Helm's cached index of %s: %v", TempoRepoName, err)
	}

	// Identical entries: a no-op, no network, file untouched, no lock file needed.
	stat1, _ := os.Stat(o.Helm.RepositoryConfig)
	before := len(srv.Requests())
	if err := AddRepos(ctx, o); err != nil {
		t.Fatal(err)
	}
	stat2, _ := os.Stat(o.Helm.RepositoryConfig)
	if len(srv.Requests()) != before || !stat1.ModTime().Equal(stat2.ModTime()) {
		t.Error("adding identical repositories again was not a no-op")
	}
}

// The seed's recipe leaves `helm repo add grafana <url>`: svcgraph uses that entry, whatever its
// name and however its URL ends, and writes nothing.
func TestAddReposReusesAnEntryWithTheSameURL(t *testing.T) {
	o, srv := fixtureOptions(t, "", "", "demo")
	writeRepos(t, o, [2]string{"grafana", o.TempoRepoURL + "/"}, [2]string{"otel", strings.ToUpper(o.DemoRepoURL[:4]) + o.DemoRepoURL[4:]})
	stat1, _ := os.Stat(o.Helm.RepositoryConfig)
	said := listen(&o)
	if err := AddRepos(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got := reposByName(t, o); len(got) != 2 || got["grafana"] != o.TempoRepoURL+"/" {
		t.Errorf("repositories = %v, want the user's two entries only", got)
	}
	stat2, _ := os.Stat(o.Helm.RepositoryConfig)
	if !stat1.ModTime().Equal(stat2.ModTime()) || len(srv.Requests()) != 0 {
		t.Errorf("reusing entries wrote the file or made requests %v", srv.Requests())
	}
	for _, w := range []string{"detail: using your Helm repository grafana", "detail: using your Helm repository otel"} {
		if !strings.Contains(said.String(), w) {
			t.Errorf("-v lines lack %q:\n%s", w, said)
		}
	}
	// The charts come from the reused repositories.
	if _, err := Pull(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// A preferred name taken by another URL: another name, the user's entry intact, and -v says so.
func TestAddReposPicksAnotherName(t *testing.T) {
	o, srv := fixtureOptions(t, "", "", "demo")
	theirs := srv.URL + "/grafana"
	writeRepos(t, o, [2]string{DemoRepoName, theirs}, [2]string{DemoRepoName + "-2", "https://example.com/charts"})
	said := listen(&o)
	if err := AddRepos(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := reposByName(t, o)
	want := map[string]string{DemoRepoName: theirs, DemoRepoName + "-2": "https://example.com/charts",
		DemoRepoName + "-3": o.DemoRepoURL, TempoRepoName: o.TempoRepoURL}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("repositories = %v, want %v", got, want)
	}
	if w := fmt.Sprintf("detail: Helm repository name %s is taken by %s; adding %s as %s-3", DemoRepoName, theirs, o.DemoRepoURL, DemoRepoName); !strings.Contains(said.String(), w) {
		t.Errorf("-v lines lack %q:\n%s", w, said)
	}
	if _, err := os.Stat(filepath.Join(o.Helm.RepositoryCache, helmpath.CacheIndexFile(DemoRepoName+"-3"))); err != nil {
		t.Errorf("the index of the new name is not in Helm's cache: %v", err)
	}
}

// Runs sharing one repositories.yaml take helm's lock in turn: every URL ends up once, and
// nobody's entry is lost.
func TestAddReposConcurrently(t *testing.T) {
	o, srv := fixtureOptions(t, "", "", "demo")
	writeRepos(t, o, [2]string{"bitnami", "https://charts.bitnami.com/bitnami"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		oi := o
		if i%2 == 1 { // half of them use the other repository for Tempo, under the same preferred name
			oi.TempoRepoURL = srv.URL + "/grafana"
		}
		wg.Go(func() { errs <- AddRepos(context.Background(), oi) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := reposByName(t, o)
	byURL := map[string]int{}
	for _, u := range got {
		byURL[repoKey(u)]++
	}
	for _, u := range []string{o.DemoRepoURL, o.TempoRepoURL, srv.URL + "/grafana", "https://charts.bitnami.com/bitnami"} {
		if byURL[repoKey(u)] != 1 {
			t.Errorf("%s is listed %d times in %v", u, byURL[repoKey(u)], got)
		}
	}
	if len(got) != 4 {
		t.Errorf("repositories = %v, want 4 entries", got)
	}
}

// A lock held by another helm: a clear CHART_REPO error after the wait (shortened here), and
// Ctrl-C during the wait ends it at once.
func TestAddReposWaitsForHelmsLock(t *testing.T) {
	o, _ := fixtureOptions(t, "", "", "demo")
	writeRepos(t, o)
	other := flock.New(strings.TrimSuffix(o.Helm.RepositoryConfig, ".yaml") + ".lock")
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("taking the lock: %v", err)
	}
	defer other.Unlock()

	saved := repoLockWait
	repoLockWait = 300 * time.Millisecond
	defer func() { repoLockWait = saved }()
	wantKind(t, AddRepos(context.Background(), o), reason.ChartRepo, "stayed locked", "Another helm")

	repoLockWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- AddRepos(ctx, o) }()
	cancel()
	select {
	case err := <-done:
		if reason.Of(err).Kind.ID != reason.Interrupted.ID {
			t.Errorf("AddRepos after Ctrl-C = %v, want an interruption", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AddRepos still waits for the lock 5 s after Ctrl-C")
	}
	if got := reposByName(t, o); len(got) != 0 {
		t.Errorf("entries written without the lock: %v", got)
	}
}
