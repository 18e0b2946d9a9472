package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// A bundle is one file a workshop facilitator copies onto every laptop: a tar of a manifest
// (first, so a bundle for another format or platform is refused before gigabytes are read), the
// two chart packages, every blob of every image (each once), and last a sha256 of the manifest.
// Layers are compressed already, so the tar is not: importing is close to a plain copy.
const (
	BundleFormat       = "svcgraph-bundle/v1"
	bundleManifestName = "svcgraph-bundle.json"
	bundleSumName      = "svcgraph-bundle.sha256"
	bundleChartDir     = "charts/"
	bundleBlobDir      = "blobs/sha256/"
	maxBundleManifest  = 4 << 20
	maxBundleChart     = 64 << 20
)

// BundleManifest describes a bundle's contents.
type BundleManifest struct {
	Format          string        `json:"format"`
	SvcgraphVersion string        `json:"svcgraphVersion"`
	Platform        string        `json:"platform"`
	Pair            chartmod.Pair `json:"pair"`
	Charts          []BundleChart `json:"charts"`
	Images          []BundleImage `json:"images"`
	Blobs           []BundleBlob  `json:"blobs"`
}

// BundleChart is one chart package in a bundle.
type BundleChart struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	RepoURL string `json:"repoURL"`
	Digest  string `json:"digest"` // sha256 hex, as the repository index lists it
}

// BundleImage is one image: its reference, the manifest it resolved to and for which platform.
type BundleImage struct {
	Ref       string `json:"ref"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Platform  string `json:"platform"`
	Source    string `json:"source,omitempty"`
}

// BundleBlob is one blob: every manifest, config and layer the images need.
type BundleBlob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Bytes is the total size of the bundle's blobs.
func (m BundleManifest) Bytes() int64 {
	var n int64
	for _, b := range m.Blobs {
		n += b.Size
	}
	return n
}

// WriteBundle writes the charts and the cached images of entries (all for one platform) as a
// bundle. Every blob and chart is checked against its digest on the way out.
func (c *Cache) WriteBundle(ctx context.Context, w io.Writer, version string, pair chartmod.Pair, charts []chartmod.CachedChart, entries []Entry, count func(int64)) (BundleManifest, error) {
	m := BundleManifest{Format: BundleFormat, SvcgraphVersion: version, Pair: pair}
	var blobs []v1.Descriptor
	for _, e := range entries {
		if m.Platform == "" {
			m.Platform = e.Platform.String()
		}
		bs, err := c.blobs(e)
		if err != nil {
			return m, c.damaged(e, err)
		}
		for _, b := range bs {
			if !slices.ContainsFunc(blobs, func(x v1.Descriptor) bool { return x.Digest == b.Digest }) {
				blobs = append(blobs, b)
				m.Blobs = append(m.Blobs, BundleBlob{Digest: b.Digest.String(), Size: b.Size})
			}
		}
		m.Images = append(m.Images, BundleImage{Ref: e.Ref, Digest: e.Manifest.Digest.String(), MediaType: string(e.Manifest.MediaType),
			Size: e.Manifest.Size, Platform: e.Platform.String(), Source: e.Source})
	}
	for _, ch := range charts {
		m.Charts = append(m.Charts, BundleChart{Name: ch.Name, Version: ch.Version, RepoURL: ch.RepoURL, Digest: ch.Digest})
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	tw := tar.NewWriter(markedWriter{w})
	if err := writeTarFile(tw, bundleManifestName, manifest); err != nil {
		return m, err
	}
	for _, ch := range charts {
		data, err := os.ReadFile(ch.File)
		if err != nil || !strings.EqualFold(sha256hex(data), ch.Digest) {
			return m, reason.Wrap(reason.OfflineNotPrepared, errOr(err, "digest mismatch"), "", "svcgraph's cached %s %s is damaged", ch.Name, ch.Version)
		}
		if err := writeTarFile(tw, bundleChartDir+filepath.Base(ch.File), data); err != nil {
			return m, err
		}
	}
	for _, b := range blobs {
		if err := c.copyBlob(ctx, tw, bundleBlobDir+b.Digest.Hex, b, count); err != nil {
			return m, c.damaged(Entry{Ref: "an image"}, err)
		}
	}
	sum := sha256.Sum256(manifest)
	if err := writeTarFile(tw, bundleSumName, []byte(hex.EncodeToString(sum[:])+"\n")); err != nil {
		return m, err
	}
	return m, tw.Close()
}

// WriteBundleFile writes a bundle to path through a partial file, so an interrupted or failed
// write leaves no bundle that looks whole.
func (c *Cache) WriteBundleFile(ctx context.Context, file, version string, pair chartmod.Pair, charts []chartmod.CachedChart, entries []Entry, count func(int64)) (BundleManifest, error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+partialPrefix+"*")
	if err != nil {
		return BundleManifest{}, writeError(err, file)
	}
	defer os.Remove(tmp.Name())
	m, err := c.WriteBundle(ctx, tmp, version, pair, charts, entries, count)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	var de destError
	if errors.As(err, &de) {
		return m, writeError(de.error, file)
	}
	if err != nil && reason.Of(err).Kind == reason.Internal && !errors.Is(err, context.Canceled) {
		return m, writeError(err, file)
	}
	return m, err
}

// ImportBundle reads a bundle into the cache: the chart packages into the chart cache, the images
// into the image cache, for platform p only. Every blob and chart is checked against its digest
// and the manifest against the sum at the end; until all of it has checked out, everything is
// staged beside the cache, so a corrupt, truncated or foreign bundle imports nothing.
func (c *Cache) ImportBundle(ctx context.Context, r io.Reader, source string, p Platform, count func(int64)) (BundleManifest, error) {
	invalid := func(format string, args ...any) error {
		return reason.New(reason.BundleInvalid, "", "%s: "+format, append([]any{source}, args...)...)
	}
	tr := tar.NewReader(&countingReader{r: ctxReader{ctx, r}, count: count})
	next := func() (*tar.Header, error) {
		h, err := tr.Next()
		switch {
		case err == io.EOF:
			return nil, err
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, invalid("the bundle is truncated")
		case err != nil && ctx.Err() == nil:
			return nil, invalid("the bundle is corrupt (%v)", err)
		}
		return h, err
	}
	h, err := next()
	if err == io.EOF || (err == nil && h.Name != bundleManifestName) {
		return BundleManifest{}, invalid("not an svcgraph bundle (it does not start with %s)", bundleManifestName)
	}
	if err != nil {
		return BundleManifest{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(tr, maxBundleManifest))
	if err != nil {
		return BundleManifest{}, invalid("the bundle is truncated (%v)", err)
	}
	var m BundleManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, invalid("its manifest is corrupt (%v)", err)
	}
	if m.Format != BundleFormat {
		return m, reason.New(reason.BundleInvalid, "Make the bundle again with this svcgraph (`svcgraph prepare --bundle FILE`), or import it with the svcgraph version that made it ("+m.SvcgraphVersion+"). Nothing was imported.",
			"%s is a bundle of format %q (made by svcgraph %s); this svcgraph reads %q", source, m.Format, m.SvcgraphVersion, BundleFormat)
	}
	if m.Platform != p.String() {
		return m, reason.New(reason.BundlePlatform, "",
			"%s holds images for %s, and this machine's minikube node is %s", source, m.Platform, p)
	}
	blobs := map[string]int64{}
	for _, b := range m.Blobs {
		blobs[b.Digest] = b.Size
	}

	unlock, err := c.Lock(ctx, nil)
	if err != nil {
		return m, err
	}
	defer unlock()
	staging, err := os.MkdirTemp(c.Dir, ".import-")
	if err != nil {
		return m, writeError(err, c.Dir)
	}
	defer os.RemoveAll(staging)
	stage := &Cache{Dir: staging}
	charts := map[string][]byte{}
	seen := map[string]bool{}
	summed := false
	for {
		h, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, err
		}
		if summed {
			return m, invalid("it has %s after its final sum", h.Name)
		}
		switch {
		case h.Name == bundleSumName:
			data, _ := io.ReadAll(io.LimitReader(tr, 1024))
			sum := sha256.Sum256(raw)
			if strings.TrimSpace(string(data)) != hex.EncodeToString(sum[:]) {
				return m, invalid("the bundle is corrupt: its manifest does not match the sum at its end")
			}
			summed = true
		case strings.HasPrefix(h.Name, bundleChartDir):
			data, err := io.ReadAll(io.LimitReader(tr, maxBundleChart))
			if err != nil {
				return m, invalid("the bundle is truncated (%v)", err)
			}
			charts[path.Base(h.Name)] = data
		case strings.HasPrefix(h.Name, bundleBlobDir):
			digest := "sha256:" + strings.TrimPrefix(h.Name, bundleBlobDir)
			size, listed := blobs[digest]
			hash, herr := v1.NewHash(digest)
			if !listed || herr != nil || size != h.Size {
				return m, invalid("the bundle is corrupt: %s is not a blob its manifest lists", h.Name)
			}
			seen[digest] = true
			d := v1.Descriptor{Digest: hash, Size: size}
			if c.hasBlob(d) {
				continue // the tar reader skips it
			}
			if err := stage.writeBlob(d, tr, true, nil); err != nil {
				if ctx.Err() != nil {
					return m, ctx.Err()
				}
				var cacheErr *reason.Error
				if errors.As(err, &cacheErr) {
					return m, err // writing the cache failed: the disk, not the bundle
				}
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return m, invalid("the bundle is truncated")
				}
				return m, invalid("the bundle is corrupt: %v", err)
			}
		default:
			return m, invalid("the bundle is corrupt: it holds %s, which no bundle has", h.Name)
		}
	}
	if !summed {
		return m, invalid("the bundle is truncated (it lacks the sum at its end)")
	}
	for digest := range blobs {
		if !seen[digest] {
			return m, invalid("the bundle is incomplete: blob %s is missing", digest)
		}
	}
	type chartData struct {
		chart chartmod.CachedChart
		data  []byte
	}
	var toStore []chartData
	for _, ch := range m.Charts {
		file := fmt.Sprintf("%s-%s.tgz", ch.Name, ch.Version)
		data, ok := charts[file]
		if !ok || !strings.EqualFold(sha256hex(data), ch.Digest) {
			return m, invalid("the bundle is corrupt: chart %s is missing or does not match its digest", file)
		}
		toStore = append(toStore, chartData{chartmod.CachedChart{Name: ch.Name, Version: ch.Version, RepoURL: ch.RepoURL, Digest: ch.Digest}, data})
	}
	var entries []Entry
	for _, img := range m.Images {
		hash, err := v1.NewHash(img.Digest)
		if err != nil || img.Platform != p.String() || blobs[img.Digest] != img.Size {
			return m, invalid("the bundle is corrupt: image %s is not described right", img.Ref)
		}
		entries = append(entries, Entry{Ref: img.Ref, Platform: p, Source: img.Source,
			Manifest: v1.Descriptor{Digest: hash, Size: img.Size, MediaType: types.MediaType(img.MediaType)}})
	}

	// Everything checked out: move the staged blobs in, then the charts, then the index.
	staged, _ := filepath.Glob(filepath.Join(staging, "blobs", "sha256", "*"))
	for _, f := range staged {
		dst := filepath.Join(c.Dir, "blobs", "sha256", filepath.Base(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return m, writeError(err, dst)
		}
		if err := os.Rename(f, dst); err != nil {
			return m, writeError(err, dst)
		}
	}
	for _, ch := range toStore {
		if err := chartmod.StoreChart(filepath.Dir(c.Dir), ch.chart, ch.data); err != nil {
			return m, err
		}
	}
	for _, e := range entries {
		if ok, _ := c.complete(e); !ok {
			return m, invalid("the bundle is corrupt: image %s lacks blobs", e.Ref)
		}
	}
	if err := c.put(entries...); err != nil {
		return m, writeError(err, filepath.Join(c.Dir, indexFile))
	}
	return m, nil
}

func sha256hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
