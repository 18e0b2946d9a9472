package chartmod

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Pulled holds the two chart packages, loaded, exactly as the repositories published them.
type Pulled struct {
	Demo, Tempo *chart.Chart
	// The versions pulled: as asked, or what "latest" picked.
	Pair Pair
	// Where the packages live in the cache ("" when the cache could not be written), and their
	// sha256 digests as the index lists them.
	DemoFile, TempoFile     string
	DemoDigest, TempoDigest string
}

// Pull fetches the exact demo and tempo versions into o.CacheDir and checks each package's sha256
// against the digest in its repository index (helm itself does not). A cached package whose
// digest still checks out is used without any network access. "latest" is pinned to the newest
// covered version the repository's index lists.
func Pull(ctx context.Context, o Options) (*Pulled, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	f := newFetcher(o)
	defer f.close()
	var err error
	if o.DemoVersion, err = f.pin(ctx, o, o.DemoRepoURL, DemoChart, o.DemoVersion, demoCovered); err != nil {
		return nil, err
	}
	if o.TempoVersion, err = f.pin(ctx, o, o.TempoRepoURL, TempoChart, o.TempoVersion, tempoCovered); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil { // what depends on the pinned versions
		return nil, err
	}
	p := &Pulled{Pair: Pair{o.DemoVersion, o.TempoVersion}}
	if p.Demo, p.DemoFile, p.DemoDigest, err = pullOne(ctx, o, f, o.DemoRepoURL, DemoChart, o.DemoVersion); err != nil {
		return nil, err
	}
	if p.Tempo, p.TempoFile, p.TempoDigest, err = pullOne(ctx, o, f, o.TempoRepoURL, TempoChart, o.TempoVersion); err != nil {
		return nil, err
	}
	return p, nil
}

func pullOne(ctx context.Context, o Options, f *fetcher, repoURL, name, version string) (*chart.Chart, string, string, error) {
	file := packageFile(o.CacheDir, repoURL, name, version)
	dir, digestFile := filepath.Dir(file), file+".sha256"

	if data, digest, ok := cached(file, digestFile); ok {
		c, err := loadPackage(data, file, name, version)
		if err == nil {
			o.progress("using cached %s %s", name, version)
			return c, file, digest, nil
		}
		// Its digest holds but it does not load (written by something else, or a bad package
		// the repository has since replaced): pulled again rather than failing every run.
		o.detail("cached %s %s is unusable (%v); pulling it again", name, version, err)
		_ = os.Remove(digestFile)
	}
	if o.Offline {
		return nil, "", "", notCached(name, version, repoURL)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", "", err
	}
	o.progress("pulling %s %s", name, version)
	idx, err := f.index(ctx, o, repoURL)
	if err != nil {
		return nil, "", "", err
	}
	cv, err := idx.Get(name, version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, "", "", reason.New(reason.ChartVersion,
			"Check that the repository URL points at a repository that publishes this chart; `svcgraph versions` lists what it offers.",
			"chart repository %s does not list %s %s", RedactURL(repoURL), name, version)
	}
	if cv.Digest == "" {
		return nil, "", "", reason.New(reason.ChartDigest, "", "chart repository %s lists no digest for %s %s, so the package cannot be verified", RedactURL(repoURL), name, version)
	}
	pkgURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, "", "", reason.Wrap(reason.ChartRepo, err, "", "chart repository %s has an invalid URL for %s %s", RedactURL(repoURL), name, version)
	}
	data, err := f.get(ctx, repoURL, pkgURL, maxPackageBytes)
	if err != nil {
		return nil, "", "", repoError(ctx, err, "", "cannot download %s %s from %s", name, version, RedactURL(pkgURL))
	}
	got := sha256hex(data)
	if !strings.EqualFold(got, cv.Digest) {
		return nil, "", "", reason.New(reason.ChartDigest, "",
			"%s %s from %s has sha256 %s, but the repository index says %s", name, version, RedactURL(pkgURL), got, cv.Digest)
	}
	c, err := loadPackage(data, RedactURL(pkgURL), name, version)
	if err != nil {
		return nil, "", "", err
	}
	if err := keepPackage(dir, file, digestFile, data, got); err != nil {
		// The package is in memory and verified: this run goes on, later ones download again.
		o.warn("cannot keep %s %s in the chart cache %s (%v); svcgraph works without it, but downloads the charts on every run",
			name, version, o.CacheDir, err)
		return c, "", got, nil
	}
	return c, file, got, nil
}

// keepPackage stores a verified package and then its digest: a digest file never vouches for a
// partial package.
func keepPackage(dir, file, digestFile string, data []byte, digest string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeAtomic(file, data); err != nil {
		return err
	}
	return writeAtomic(digestFile, []byte(digest+"\n"))
}

// cached returns a cached package if it matches the digest recorded when it was downloaded.
func cached(file, digestFile string) ([]byte, string, bool) {
	want, err := os.ReadFile(digestFile)
	if err != nil {
		return nil, "", false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", false
	}
	digest := sha256hex(data)
	if digest != strings.TrimSpace(string(want)) {
		return nil, "", false
	}
	return data, digest, true
}

func loadPackage(data []byte, source, name, version string) (*chart.Chart, error) {
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, reason.Wrap(reason.ChartLayout, err, "", "%s is not a loadable chart package", source)
	}
	if c.Metadata.Name != name || c.Metadata.Version != version { // the loader ensures Metadata
		return nil, reason.New(reason.ChartLayout, "", "%s holds %s %s, not %s %s", source, c.Metadata.Name, c.Metadata.Version, name, version)
	}
	return c, nil
}

func sha256hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
