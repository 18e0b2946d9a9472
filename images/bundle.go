package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
	// Compact: indenting would add about 5 KB to every bundle (`jq` pretty-prints it anyway).
	manifest, err := json.Marshal(m)
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
	if err == nil {
		// CreateTemp makes the file 0600; the bundle is for others to read (copied to a share or
		// served from a laptop), so it gets the mode a plain file gets from cp or tar.
		err = tmp.Chmod(0o644)
	}
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
