package chartmod

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/repo"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// repoCacheDir is svcgraph's cache folder for one repository URL: the same chart name and
// version from another repository may be a different package.
func repoCacheDir(cacheDir, repoURL string) string {
	sum := sha256.Sum256([]byte(repoKey(repoURL)))
	return filepath.Join(cacheDir, "charts", hex.EncodeToString(sum[:8]))
}

func indexCacheFile(cacheDir, repoURL string) string {
	return filepath.Join(repoCacheDir(cacheDir, repoURL), "index.yaml")
}

// index downloads the repository's index.yaml once per fetcher, and keeps a checked copy in
// svcgraph's cache for `svcgraph versions` when the repository does not answer.
func (f *fetcher) index(ctx context.Context, o Options, repoURL string) (*repo.IndexFile, error) {
	if fi, ok := f.indexes[repoKey(repoURL)]; ok {
		return fi.idx, nil
	}
	target, err := repo.ResolveReferenceURL(repoURL, "index.yaml")
	if err != nil {
		return nil, reason.Wrap(reason.ChartRepo, err, "", "invalid chart repository URL %s", RedactURL(repoURL))
	}
	data, err := f.get(ctx, repoURL, target, maxIndexBytes)
	if err != nil {
		return nil, repoError(ctx, err, "", "cannot download the index of chart repository %s", RedactURL(repoURL))
	}
	idx, err := parseIndex(data)
	if err != nil {
		return nil, reason.Wrap(reason.ChartRepo, err, "", "chart repository %s has an invalid index", RedactURL(repoURL))
	}
	if o.CacheDir != "" {
		file := indexCacheFile(o.CacheDir, repoURL)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
			err = writeChecked(file, data)
		}
		if err != nil {
			o.detail("cannot keep the index of %s in svcgraph's cache: %v", RedactURL(repoURL), err)
		}
	}
	f.indexes[repoKey(repoURL)] = fetchedIndex{idx, data}
	return idx, nil
}

// rawIndex is the index.yaml this fetcher downloaded for repoURL, as the repository sent it.
func (f *fetcher) rawIndex(repoURL string) []byte { return f.indexes[repoKey(repoURL)].raw }

// cachedIndex is the index kept by the last download, and when it was downloaded.
func cachedIndex(cacheDir, repoURL string) (*repo.IndexFile, time.Time, bool) {
	file := indexCacheFile(cacheDir, repoURL)
	data, ok := readChecked(file)
	if !ok {
		return nil, time.Time{}, false
	}
	idx, err := parseIndex(data)
	fi, statErr := os.Stat(file)
	if err != nil || statErr != nil {
		return nil, time.Time{}, false
	}
	return idx, fi.ModTime(), true
}

// parseIndex reads a repository index as Helm does (YAML or JSON), newest versions first.
func parseIndex(data []byte) (*repo.IndexFile, error) {
	idx := &repo.IndexFile{}
	if err := sigsyaml.Unmarshal(data, idx); err != nil {
		return nil, err
	}
	if idx.APIVersion == "" {
		return nil, errors.New("no apiVersion: not a Helm repository index")
	}
	for name, cvs := range idx.Entries {
		idx.Entries[name] = slices.DeleteFunc(cvs, func(cv *repo.ChartVersion) bool { return cv == nil || cv.Metadata == nil })
	}
	idx.SortEntries()
	return idx, nil
}

// offered lists the released versions of chartName in idx inside covered, newest first.
func offered(idx *repo.IndexFile, chartName string, covered Range) []string {
	var vs []*semver.Version
	for _, cv := range idx.Entries[chartName] {
		v, err := semver.StrictNewVersion(cv.Version)
		if err == nil && v.Prerelease() == "" && v.Metadata() == "" && covered.Contains(v) {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b *semver.Version) int { return b.Compare(a) })
	out := make([]string, 0, len(vs))
	for _, v := range slices.CompactFunc(vs, func(a, b *semver.Version) bool { return a.Equal(b) }) {
		out = append(out, v.Original())
	}
	return out
}

// pin returns version, or for "latest" the newest covered version the repository offers.
func (f *fetcher) pin(ctx context.Context, o Options, repoURL, chartName, version string, covered Range) (string, error) {
	if version != Latest {
		return version, nil
	}
	var idx *repo.IndexFile
	if o.Offline {
		// The index the last online run kept: "latest" is what prepare pulled.
		cached, _, ok := cachedIndex(o.CacheDir, repoURL)
		if !ok {
			return "", notCached(chartName, version, repoURL)
		}
		idx = cached
	} else {
		var err error
		if idx, err = f.index(ctx, o, repoURL); err != nil {
			return "", err
		}
	}
	vs := offered(idx, chartName, covered)
	if len(vs) == 0 {
		return "", reason.New(reason.ChartVersion,
			"Point svcgraph at a repository that publishes this chart, or give a version; `svcgraph versions` lists what the repositories offer.",
			"chart repository %s offers no %s version from %s", RedactURL(repoURL), chartName, covered)
	}
	o.progress("latest %s in %s is %s", chartName, RedactURL(repoURL), vs[0])
	return vs[0], nil
}

// Offer is what one repository offers of one chart inside the covered range.
type Offer struct {
	Chart    string    `json:"chart"`
	Repo     string    `json:"repository"`        // the URL, redacted
	Versions []string  `json:"versions"`          // newest first
	CachedAt time.Time `json:"cachedAt,omitzero"` // set when the repository did not answer and svcgraph's copy of its index was used
	Err      string    `json:"error,omitempty"`   // why nothing is listed
}

// Offers reads both repositories' indexes (or, when one does not answer, the copy svcgraph kept)
// and lists the covered versions each offers. It fails only when ctx ends.
func Offers(ctx context.Context, o Options) ([]Offer, error) {
	o = o.withDefaults()
	f := newFetcher(o)
	defer f.close()
	var out []Offer
	for _, c := range []struct {
		chart, url string
		covered    Range
	}{{DemoChart, o.DemoRepoURL, demoCovered}, {TempoChart, o.TempoRepoURL, tempoCovered}} {
		of := Offer{Chart: c.chart, Repo: RedactURL(c.url)}
		idx, err := f.index(ctx, o, c.url)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			if cached, at, ok := cachedIndex(o.CacheDir, c.url); ok {
				idx, of.CachedAt = cached, at
			} else {
				of.Err = err.Error()
			}
		}
		if idx != nil {
			of.Versions = offered(idx, c.chart, c.covered)
		}
		out = append(out, of)
	}
	return out, nil
}
