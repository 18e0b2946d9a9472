package chartmod

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// downloadTimeout bounds each HTTP request; the demo package is well under 1 MB.
const downloadTimeout = 2 * time.Minute

// Pulled holds the two chart packages, loaded, exactly as the repositories published them.
type Pulled struct {
	Demo, Tempo *chart.Chart
	// Where the packages live in the cache, and their sha256 digests as the index lists them.
	DemoFile, TempoFile     string
	DemoDigest, TempoDigest string
}

// Pull fetches the exact demo and tempo versions into o.CacheDir and checks each package's sha256
// against the digest in its repository index (helm itself does not). A cached package whose
// digest still checks out is used without any network access.
func Pull(ctx context.Context, o Options) (*Pulled, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	p := &Pulled{}
	var err error
	if p.Demo, p.DemoFile, p.DemoDigest, err = pullOne(ctx, o, o.DemoRepoURL, DemoChart, o.DemoVersion); err != nil {
		return nil, err
	}
	if p.Tempo, p.TempoFile, p.TempoDigest, err = pullOne(ctx, o, o.TempoRepoURL, TempoChart, o.TempoVersion); err != nil {
		return nil, err
	}
	return p, nil
}

func pullOne(ctx context.Context, o Options, repoURL, name, version string) (*chart.Chart, string, string, error) {
	file := packageFile(o.CacheDir, repoURL, name, version)
	dir, digestFile := filepath.Dir(file), file+".sha256"

	if data, digest, ok := cached(file, digestFile); ok {
		o.progress("using cached %s %s", name, version)
		c, err := loadPackage(data, file, name, version)
		return c, file, digest, err
	}
	if o.Offline {
		return nil, "", "", notCached(name, version, repoURL)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", "", err
	}
	o.progress("pulling %s %s", name, version)
	providers := getter.All(o.Helm)
	indexData, err := fetch(providers, repoURL, strings.TrimSuffix(repoURL, "/")+"/index.yaml")
	if err != nil {
		return nil, "", "", reason.Wrap(reason.ChartRepo, err, "", "cannot download the index of chart repository %s", repoURL)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", "", reason.Wrap(reason.Internal, err, "", "cannot create cache directory")
	}
	indexFile := filepath.Join(dir, "index.yaml")
	if err := writeAtomic(indexFile, indexData); err != nil {
		return nil, "", "", reason.Wrap(reason.Internal, err, "", "cannot write %s", indexFile)
	}
	idx, err := repo.LoadIndexFile(indexFile)
	if err != nil {
		return nil, "", "", reason.Wrap(reason.ChartRepo, err, "", "chart repository %s has an invalid index", repoURL)
	}
	cv, err := idx.Get(name, version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, "", "", reason.New(reason.ChartVersion,
			"Check that the repository URL points at a repository that publishes this chart.",
			"chart repository %s does not list %s %s", repoURL, name, version)
	}
	if cv.Digest == "" {
		return nil, "", "", reason.New(reason.ChartDigest, "", "chart repository %s lists no digest for %s %s, so the package cannot be verified", repoURL, name, version)
	}
	pkgURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, "", "", reason.Wrap(reason.ChartRepo, err, "", "chart repository %s has an invalid URL for %s %s", repoURL, name, version)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", "", err
	}
	data, err := fetch(providers, repoURL, pkgURL)
	if err != nil {
		return nil, "", "", reason.Wrap(reason.ChartRepo, err, "", "cannot download %s %s from %s", name, version, pkgURL)
	}
	got := sha256hex(data)
	if !strings.EqualFold(got, cv.Digest) {
		return nil, "", "", reason.New(reason.ChartDigest, "",
			"%s %s from %s has sha256 %s, but the repository index says %s", name, version, pkgURL, got, cv.Digest)
	}
	c, err := loadPackage(data, pkgURL, name, version)
	if err != nil {
		return nil, "", "", err
	}
	if err := keepPackage(dir, file, digestFile, data, got); err != nil {
		return nil, "", "", reason.Wrap(reason.Internal, err, "", "cannot write %s", file)
	}
	return c, file, got, nil
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

func fetch(providers getter.Providers, repoURL, target string) ([]byte, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	g, err := providers.ByScheme(u.Scheme)
	if err != nil {
		return nil, err
	}
	buf, err := g.Get(target, getter.WithURL(repoURL), getter.WithTimeout(downloadTimeout))
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
