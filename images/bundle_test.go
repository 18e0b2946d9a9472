package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/bundletest"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/registrytest"
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
	// A file to hand to others (a share, a web server), readable as cp or tar would leave it, not
	// the 0600 of the temporary file it was written as.
	if st, err := os.Stat(file); err != nil || runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
		t.Fatalf("bundle file: %v, %v; want mode 0644", st.Mode(), err)
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
			nothingImported(t, dst)
		})
	}
}

// nothingImported fails t if the cache dir holds any file but its lock.
func nothingImported(t *testing.T, dir string) {
	t.Helper()
	var left []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(path) != lockFile {
			left = append(left, path)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("a refused import left files: %v", left)
	}
}

// The import copies blobs in the kernel, one after another, while other goroutines hash each
// staged copy. A blob whose bytes are wrong in its middle is refused and nothing is imported,
// whether it is the largest (hashed first, the other copies going on) or the smallest (hashed
// last, when every other blob is staged and checked); a blob longer than one kernel copy comes through byte
// for byte; the progress count adds up to the bundle's size.
func TestBundleFileImport(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ref := "docker.io/library/big:1"
	reg.Push(t, ref, registrytest.Image(t, "big", amd64.v1(), copyChunk+12345, 4000, 1500))
	mirrors := mirrorsTo(t, reg, "docker.io")
	src, charts, entries := preparedCache(t, amd64, []string{ref}, mirrors)
	file := writeBundle(t, src, charts, entries)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := walkBundle(context.Background(), f, file, amd64)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	largest, smallest := idx.blobs[0], idx.blobs[0]
	for _, b := range idx.blobs {
		if b.d.Size > largest.d.Size {
			largest = b
		}
		if b.d.Size < smallest.d.Size {
			smallest = b
		}
	}
	if largest.d.Size <= copyChunk {
		t.Fatalf("the largest blob (%d bytes) fits one kernel copy", largest.d.Size)
	}

	for name, b := range map[string]bundleBlob{"largest": largest, "smallest": smallest} {
		t.Run("wrong byte in the "+name+" blob", func(t *testing.T) {
			data := bytes.Clone(good)
			data[b.offset+b.d.Size/2] ^= 0x01
			bad := filepath.Join(t.TempDir(), "bad.bundle")
			if err := os.WriteFile(bad, data, 0o644); err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			_, err := importBundle(dst, bad, amd64)
			if reason.Of(err).Kind != reason.BundleInvalid || !strings.Contains(err.Error(), "corrupt: blob "+b.d.Digest.String()) {
				t.Fatalf("import: %v, want BUNDLE_INVALID naming %s", err, b.d.Digest)
			}
			nothingImported(t, dst)
		})
	}

	t.Run("whole", func(t *testing.T) {
		dst := t.TempDir()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var counted atomic.Int64
		if _, err := OpenCache(dst).ImportBundle(context.Background(), f, file, amd64, func(n int64) { counted.Add(n) }); err != nil {
			t.Fatal(err)
		}
		if counted.Load() != int64(len(good)) {
			t.Errorf("progress counted %d bytes of the bundle's %d", counted.Load(), len(good))
		}
		for _, b := range idx.blobs {
			a, _ := os.ReadFile(OpenCache(src).blobPath(b.d.Digest))
			c, _ := os.ReadFile(OpenCache(dst).blobPath(b.d.Digest))
			if len(a) == 0 || !bytes.Equal(a, c) {
				t.Errorf("blob %s (%d bytes) differs after the import", b.d.Digest, b.d.Size)
			}
		}
	})
}

// Ctrl-C during an import stops it with the context's error and imports nothing.
func TestBundleImportInterrupted(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	src, charts, entries := preparedCache(t, amd64, refs, mirrors)
	file := writeBundle(t, src, charts, entries)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dst := t.TempDir()
	// The first progress report comes after the walk, before any blob is staged.
	_, err = OpenCache(dst).ImportBundle(ctx, f, file, amd64, func(int64) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("import cancelled: %v, want context.Canceled", err)
	}
	nothingImported(t, dst)
}

// A bundle given as a pipe is refused before anything is read: the import needs a file.
func TestBundleFromPipeRefused(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Close()
	dst := t.TempDir()
	_, err = OpenCache(dst).ImportBundle(context.Background(), r, "/dev/stdin", amd64, nil)
	if reason.Of(err).Kind != reason.BundleInvalid || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("import from a pipe: %v", err)
	}
	nothingImported(t, dst)
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
