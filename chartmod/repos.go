package chartmod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// repoLockTimeout bounds the wait for another helm process holding repositories.lock.
const repoLockTimeout = 30 * time.Second

type repoRef struct{ Name, URL string }

func (o Options) repos() []repoRef {
	o = o.withDefaults()
	return []repoRef{{DemoRepoName, o.DemoRepoURL}, {TempoRepoName, o.TempoRepoURL}}
}

// AddRepos adds the demo and tempo repositories to the user's Helm configuration the way
// `helm repo add` does, so `helm search repo` and friends see them too: under repositories.lock,
// downloading each index into Helm's repository cache. An identical entry is left alone; an entry
// of the same name with another URL is an error rather than silently repointing the user's repo.
func AddRepos(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if o.Helm == nil {
		return reason.New(reason.Internal, "", "chartmod.AddRepos: no Helm settings given")
	}
	repoFile := o.Helm.RepositoryConfig
	if err := os.MkdirAll(filepath.Dir(repoFile), 0o755); err != nil {
		return reason.Wrap(reason.ChartRepo, err, "Check the permissions of your Helm configuration directory.", "cannot create %s", filepath.Dir(repoFile))
	}
	// The same lock file helm uses, so a concurrent `helm repo add` cannot lose our entry.
	lock := flock.New(strings.TrimSuffix(repoFile, filepath.Ext(repoFile)) + ".lock")
	lctx, cancel := context.WithTimeout(ctx, repoLockTimeout)
	defer cancel()
	locked, err := lock.TryLockContext(lctx, 100*time.Millisecond)
	if err == nil && !locked {
		err = errors.New("lock not acquired")
	}
	if err != nil {
		return reason.Wrap(reason.ChartRepo, err, "Another helm process holds the lock; wait for it to finish and try again.", "cannot lock %s", lock.Path())
	}
	defer func() { _ = lock.Unlock() }()

	f, err := repo.LoadFile(repoFile)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = repo.NewFile(), nil
	}
	if err != nil {
		return reason.Wrap(reason.ChartRepo, err, "Fix or move the file named above.", "cannot read Helm repositories file %s", repoFile)
	}
	changed := false
	for _, r := range o.repos() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if existing := f.Get(r.Name); existing != nil {
			if sameURL(existing.URL, r.URL) {
				continue
			}
			return reason.New(reason.ChartRepo,
				fmt.Sprintf("Remove it with `helm repo remove %s`, or point svcgraph at %s with --demo-repo/--tempo-repo.", r.Name, existing.URL),
				"Helm repository %q already exists with URL %s, not %s", r.Name, existing.URL, r.URL)
		}
		o.progress("adding chart repository %s (%s)", r.Name, r.URL)
		entry := &repo.Entry{Name: r.Name, URL: r.URL}
		cr, err := repo.NewChartRepository(entry, getter.All(o.Helm))
		if err != nil {
			return reason.Wrap(reason.ChartRepo, err, "", "invalid chart repository URL %s", r.URL)
		}
		cr.CachePath = o.Helm.RepositoryCache
		if _, err := cr.DownloadIndexFile(); err != nil {
			return reason.Wrap(reason.ChartRepo, err, "", "%s is not a reachable chart repository", r.URL)
		}
		f.Update(entry)
		changed = true
	}
	if !changed {
		return nil
	}
	if err := f.WriteFile(repoFile, 0o600); err != nil {
		return reason.Wrap(reason.ChartRepo, err, "Check the permissions of your Helm configuration directory.", "cannot write %s", repoFile)
	}
	return nil
}

func sameURL(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }
