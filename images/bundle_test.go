package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/bundletest"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// preparedCache is a cache dir with the test registry's images pulled for p and two stand-in
// chart packages where Pull keeps them.
func preparedCache(t testing.TB, p Platform, refs []string, mirrors []Mirror) (string, []chartmod.CachedChart, []Entry) {
	t.Helper()
	dir := t.TempDir()
	c := OpenCache(dir)
	pulled, err := c.Pull(context.Background(), refs, PullOptions{Platform: p, Mirrors: mirrors, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	o := chartOptions(dir)
	for _, name := range []string{chartmod.DemoChart, chartmod.TempoChart} {
		data := make([]byte, 3000)
		rand.Read(data)
		version := chartmod.DefaultDemoVersion
		repo := chartmod.DefaultDemoRepoURL
		if name == chartmod.TempoChart {
			version, repo = chartmod.DefaultTempoVersion, chartmod.DefaultTempoRepoURL
		}
		if err := chartmod.StoreChart(dir, chartmod.CachedChart{Name: name, Version: version, RepoURL: repo, Digest: sha256hex(data)}, data); err != nil {
			t.Fatal(err)
		}
	}
	charts, err := chartmod.CachedCharts(o)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	for _, p := range pulled {
		entries = append(entries, p.Entry)
	}
	return dir, charts, entries
}

func chartOptions(cacheDir string) chartmod.Options {
	return chartmod.Options{Release: "my-otel-demo", Namespace: "otel-demo", CacheDir: cacheDir, Helm: cli.New()}
}

func writeBundle(t testing.TB, dir string, charts []chartmod.CachedChart, entries []Entry) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "workshop.bundle")
	m, err := OpenCache(dir).WriteBundleFile(context.Background(), file, "test", chartmod.Pair{Demo: "0.30.2", Tempo: "1.9.4"}, charts, entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Images) != len(entries) || len(m.Charts) != 2 {
		t.Fatalf("bundle manifest: %+v", m)
	}
	return file
}

func importBundle(dir, file string, p Platform) (BundleManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return BundleManifest{}, err
	}
	defer f.Close()
	return OpenCache(dir).ImportBundle(context.Background(), f, file, p, nil)
}

// A bundle made from one cache, imported into an empty one, leaves the second with every image
// whole and both charts where Pull finds them; the same blobs, byte for byte.
func TestBundleRoundTrip(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	src, charts, entries := preparedCache(t, amd64, refs, mirrors)
	file := writeBundle(t, src, charts, entries)

	dst := t.TempDir()
	m, err := importBundle(dst, file, amd64)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pair.Demo != "0.30.2" || m.SvcgraphVersion != "test" || m.Platform != "linux/amd64" {
		t.Errorf("manifest: %+v", m)
	}
	cov, err := OpenCache(dst).Cover(refs, amd64)
	if err != nil || len(cov.Missing) > 0 {
		t.Fatalf("after import: %+v %v", cov, err)
	}
	got, err := chartmod.CachedCharts(chartOptions(dst))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Digest != charts[i].Digest {
			t.Errorf("chart %s: digest %s, want %s", got[i].Name, got[i].Digest, charts[i].Digest)
		}
	}
	for _, e := range entries {
		blobs, _ := OpenCache(src).blobs(e)
		for _, b := range blobs {
			a, _ := os.ReadFile(OpenCache(src).blobPath(b.Digest))
			c, _ := os.ReadFile(OpenCache(dst).blobPath(b.Digest))
			if !bytes.Equal(a, c) {
				t.Errorf("blob %s differs after the round trip", b.Digest)
			}
		}
	}
	// Importing again is harmless.
	if _, err := importBundle(dst, file, amd64); err != nil {
		t.Fatalf("second import: %v", err)
	}
}

// Bundles that must be refused, each leaving the cache exactly as empty as it was.
func TestBundleRefusals(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	src, charts, entries := preparedCache(t, amd64, refs, mirrors)
	file := writeBundle(t, src, charts, entries)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(data []byte) string {
		f := filepath.Join(t.TempDir(), "bad.bundle")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	flip := func(at int) string {
		data := bytes.Clone(good)
		data[at] ^= 0x01
		return variant(data)
	}
	cases := []struct {
		name string
		file string
		p    Platform
		kind reason.Kind
		says string
	}{
		{"byte flipped in a layer", flip(len(good) / 2), amd64, reason.BundleInvalid, "corrupt"},
		{"byte flipped in the manifest", flip(700), amd64, reason.BundleInvalid, ""},
		{"byte flipped in a tar header", flip(5), amd64, reason.BundleInvalid, "corrupt"},
		{"truncated in the middle", variant(good[:len(good)/2]), amd64, reason.BundleInvalid, "truncated"},
		{"truncated before its sum", variant(good[:len(good)-2048]), amd64, reason.BundleInvalid, "truncated"},
		{"empty", variant(nil), amd64, reason.BundleInvalid, "not an svcgraph bundle"},
		{"another format", variant(bundletest.RewriteManifest(t, good, func(m *BundleManifest) { m.Format = "svcgraph-bundle/v2" })), amd64, reason.BundleInvalid, `format "svcgraph-bundle/v2"`},
		{"another platform", file, arm64, reason.BundlePlatform, "holds images for linux/amd64, and this machine's minikube node is linux/arm64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := importBundle(dst, tc.file, tc.p)
			e := reason.Of(err)
			t.Logf("%s", err)
			if e.Kind != tc.kind || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("import: %v (%s), want %s saying %q", err, e.Kind.ID, tc.kind.ID, tc.says)
			}
			var left []string
			filepath.Walk(dst, func(path string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() && filepath.Base(path) != lockFile {
					left = append(left, path)
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("a refused import left files: %v", left)
			}
		})
	}
}

// An archive for minikube image load holds both the docker-save manifest and the OCI index over
// the cached blobs.
func TestArchiveHasBothFormats(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	dir, _, entries := preparedCache(t, amd64, refs, mirrors)
	c := OpenCache(dir)
	file, err := c.WriteArchiveFile(context.Background(), t.TempDir(), entries[0])
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(file)
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name], _ = io.ReadAll(tr)
	}
	var dm []dockerManifest
	if err := json.Unmarshal(names["manifest.json"], &dm); err != nil || len(dm) != 1 || dm[0].RepoTags[0] != refs[0] {
		t.Fatalf("manifest.json: %s (%v)", names["manifest.json"], err)
	}
	for _, p := range append([]string{dm[0].Config, "oci-layout", "index.json", "blobs/sha256/" + entries[0].Manifest.Digest.Hex}, dm[0].Layers...) {
		if _, ok := names[p]; !ok {
			t.Errorf("archive lacks %s", p)
		}
	}
	if !strings.Contains(string(names["index.json"]), `"io.containerd.image.name":"`+refs[0]+`"`) {
		t.Errorf("index.json: %s", names["index.json"])
	}

	// A damaged blob is named, and dropped from the cache.
	blobs, _ := c.blobs(entries[0])
	layer := blobs[len(blobs)-1]
	data, _ := os.ReadFile(c.blobPath(layer.Digest))
	data[10] ^= 0xff
	os.WriteFile(c.blobPath(layer.Digest), data, 0o644)
	_, err = c.WriteArchiveFile(context.Background(), t.TempDir(), entries[0])
	if reason.Of(err).Kind != reason.OfflineNotPrepared || !strings.Contains(err.Error(), "cached copy of "+refs[0]+" is damaged") {
		t.Fatalf("archive of a damaged image: %v", err)
	}
	if cov, _ := c.Cover(refs[:1], amd64); len(cov.Missing) != 1 {
		t.Errorf("the damaged image still counts as cached")
	}
}
