package chartmod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// repoLockTimeout bounds the wait for another helm process holding repositories.lock.
const repoLockTimeout = 30 * time.Second

// repoLockWait is repoLockTimeout; tests shorten it.
var repoLockWait = repoLockTimeout

// maxRepoNameTries bounds the search for a free repository name (open-telemetry-2, -3, …).
const maxRepoNameTries = 100

type repoRef struct{ Name, URL string }

func (o Options) repos() []repoRef {
	o = o.withDefaults()
	return []repoRef{{DemoRepoName, o.DemoRepoURL}, {TempoRepoName, o.TempoRepoURL}}
}

// AddRepos makes sure the user's Helm configuration has the demo and tempo repositories, the way
// `helm repo add` does, so `helm search repo` and friends see them too. An entry with the same
// URL, whatever its name, is used as it is. A missing one is added under svcgraph's preferred
// name, or under another when that name is taken by another URL (said with -v); its index goes
// into Helm's repository cache. Entries svcgraph did not add are never changed or removed.
func AddRepos(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if o.Helm == nil {
		return reason.New(reason.Internal, "", "chartmod.AddRepos: no Helm settings given")
	}
	if err := o.ValidateCharts(); err != nil {
		return err
	}
	repoFile := o.Helm.RepositoryConfig
	f, err := loadRepoFile(repoFile)
	if err != nil {
		return err
	}
	if len(missingRepos(f, o.repos())) == 0 {
		reportReused(f, o)
		return nil // nothing to write: no lock, no network
	}

	unlock, err := lockRepoFile(ctx, repoFile)
	if err != nil {
		return err
	}
	defer unlock()
	// Another process may have added entries while we waited: decide on the file as it is now.
	if f, err = loadRepoFile(repoFile); err != nil {
		return err
	}
	reportReused(f, o)
	missing := missingRepos(f, o.repos())
	if len(missing) == 0 {
		return nil
	}
	fetch := newFetcher(o)
	defer fetch.close()
	for _, r := range missing {
		name, err := freeRepoName(f, r.Name)
		if err != nil {
			return err
		}
		if name != r.Name {
			taken := f.Get(r.Name)
			o.detail("Helm repository name %s is taken by %s; adding %s as %s", r.Name, RedactURL(taken.URL), RedactURL(r.URL), name)
		}
		o.progress("adding chart repository %s (%s)", name, RedactURL(r.URL))
		idx, err := fetch.index(ctx, o, r.URL)
		if err != nil {
			return err
		}
		if err := cacheHelmIndex(o, name, fetch.rawIndex(r.URL), idx); err != nil {
			return err
		}
		f.Update(&repo.Entry{Name: name, URL: r.URL})
	}
	if err := f.WriteFile(repoFile, 0o600); err != nil {
		return reason.Wrap(reason.ChartRepo, err, fmt.Sprintf("Make %s writable, or free space on its disk.", filepath.Dir(repoFile)),
			"cannot write the Helm repositories file %s", repoFile)
	}
	return nil
}

func loadRepoFile(path string) (*repo.File, error) {
	f, err := repo.LoadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return repo.NewFile(), nil
	}
	if err != nil {
		return nil, reason.Wrap(reason.ChartRepo, err, "Fix or move the file named above.", "cannot read Helm repositories file %s", path)
	}
	return f, nil
}

// findRepo is the entry for url, whatever its name.
func findRepo(f *repo.File, url string) *repo.Entry {
	for _, e := range f.Repositories {
		if e != nil && sameURL(e.URL, url) {
			return e
		}
	}
	return nil
}

func missingRepos(f *repo.File, want []repoRef) []repoRef {
	var missing []repoRef
	for _, r := range want {
		if findRepo(f, r.URL) == nil && !slices.ContainsFunc(missing, func(m repoRef) bool { return sameURL(m.URL, r.URL) }) {
			missing = append(missing, r)
		}
	}
	return missing
}

func reportReused(f *repo.File, o Options) {
	for _, r := range o.repos() {
		if e := findRepo(f, r.URL); e != nil {
			o.detail("using your Helm repository %s for %s", e.Name, RedactURL(r.URL))
		}
	}
}

// freeRepoName is preferred when no entry has it, else the first free preferred-2, -3, ….
func freeRepoName(f *repo.File, preferred string) (string, error) {
	if !f.Has(preferred) {
		return preferred, nil
	}
	for i := 2; i <= maxRepoNameTries; i++ {
		if name := fmt.Sprintf("%s-%d", preferred, i); !f.Has(name) {
			return name, nil
		}
	}
	return "", reason.New(reason.ChartRepo, "Remove Helm repositories you no longer use (`helm repo list`).",
		"no free Helm repository name from %s to %s-%d", preferred, preferred, maxRepoNameTries)
}

// lockRepoFile takes the lock helm itself uses for repositories.yaml, so a concurrent
// `helm repo add` (or another svcgraph) cannot lose an entry. A lock held too long and a lock
// file that cannot be created are different troubles, and are told apart.
func lockRepoFile(ctx context.Context, repoFile string) (unlock func(), err error) {
	dir := filepath.Dir(repoFile)
	fix := fmt.Sprintf("Make Helm's configuration directory %s writable (or set HELM_REPOSITORY_CONFIG to a file in a writable one), or free space on its disk.", dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, reason.Wrap(reason.ChartRepo, err, fix, "cannot create Helm's configuration directory %s", dir)
	}
	lock := flock.New(strings.TrimSuffix(repoFile, filepath.Ext(repoFile)) + ".lock")
	lctx, cancel := context.WithTimeout(ctx, repoLockWait)
	defer cancel()
	locked, err := lock.TryLockContext(lctx, 100*time.Millisecond)
	switch {
	case err == nil && locked:
		return func() { _ = lock.Unlock() }, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err == nil || errors.Is(err, context.DeadlineExceeded):
		return nil, reason.New(reason.ChartRepo, "Another helm (or svcgraph) process holds the lock; wait for it to finish and try again.",
			"%s stayed locked for %s", lock.Path(), repoLockWait)
	default:
		return nil, reason.Wrap(reason.ChartRepo, err, fix, "cannot lock %s", lock.Path())
	}
}

// cacheHelmIndex writes a repository's index into Helm's repository cache under the entry's
// name, with the list of its charts, as `helm repo add` does.
func cacheHelmIndex(o Options, name string, data []byte, idx *repo.IndexFile) error {
	var charts strings.Builder
	for _, chart := range sortedKeys(idx.Entries) {
		fmt.Fprintln(&charts, chart)
	}
	dir := o.Helm.RepositoryCache
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = writeAtomic(filepath.Join(dir, helmpath.CacheChartsFile(name)), []byte(charts.String()))
	}
	if err == nil {
		err = writeAtomic(filepath.Join(dir, helmpath.CacheIndexFile(name)), data)
	}
	if err != nil {
		return reason.Wrap(reason.CacheUnwritable, err,
			fmt.Sprintf("Make Helm's repository cache %s writable (or set HELM_REPOSITORY_CACHE to a writable directory), or free space on its disk.", dir),
			"cannot write the index of Helm repository %s into Helm's cache", name)
	}
	return nil
}
