package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/registrytest"
)

var (
	amd64 = Platform{"linux", "amd64"}
	arm64 = Platform{"linux", "arm64"}
)

// testRegistry holds a multi-platform index, a single-platform image and one image shared
// layer-for-layer under two tags, behind mirrors for docker.io and ghcr.io.
func testRegistry(t *testing.T) (*registrytest.Registry, []string, []Mirror) {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	both := []v1.Platform{amd64.v1(), arm64.v1()}
	reg.PushIndex(t, "docker.io/library/busybox:latest", registrytest.Index(t, "busybox", both, 3000, 5000))
	reg.Push(t, "ghcr.io/open-telemetry/demo:1.9.0-frontend", registrytest.Image(t, "frontend", amd64.v1(), 20000, 1000))
	shared := registrytest.Image(t, "tempo", amd64.v1(), 7000)
	reg.Push(t, "docker.io/grafana/tempo:2.4.1", shared)
	reg.Push(t, "docker.io/grafana/tempo:latest", shared)
	mirrors := mirrorsTo(t, reg, "docker.io", "ghcr.io")
	refs := []string{"docker.io/library/busybox:latest", "ghcr.io/open-telemetry/demo:1.9.0-frontend",
		"docker.io/grafana/tempo:2.4.1", "docker.io/grafana/tempo:latest"}
	return reg, refs, mirrors
}

// mirrorsTo are the mirrors that send registries' requests to reg.
func mirrorsTo(t testing.TB, reg *registrytest.Registry, registries ...string) []Mirror {
	t.Helper()
	var mirrors []Mirror
	for _, f := range reg.MirrorFlags(registries...) {
		m, err := ParseMirror(f)
		if err != nil {
			t.Fatal(err)
		}
		mirrors = append(mirrors, m)
	}
	return mirrors
}

func TestPullFillsTheCacheOnceAndOnlyOnce(t *testing.T) {
	reg, refs, mirrors := testRegistry(t)
	c := OpenCache(t.TempDir())
	ctx := context.Background()
	var prog Progress
	var done []string
	pulled, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 3, Progress: &prog,
		Done: func(p Pulled) { done = append(done, p.Ref) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(pulled) != len(refs) || len(done) != len(refs) {
		t.Fatalf("pulled %d, done %v; want all of %v", len(pulled), done, refs)
	}
	if prog.BytesDone.Load() != prog.Bytes.Load() || prog.Bytes.Load() < 3000+5000+20000+1000+7000 {
		t.Errorf("progress %d of %d bytes", prog.BytesDone.Load(), prog.Bytes.Load())
	}
	cov, err := c.Cover(refs, amd64)
	if err != nil || len(cov.Missing) > 0 {
		t.Fatalf("cover after pull: %+v, %v", cov, err)
	}
	// The two tempo tags share every blob: each was fetched once, and so was every other blob.
	for digest, n := range reg.BlobGets() {
		if n != 1 {
			t.Errorf("blob %s fetched %d times", digest, n)
		}
	}
	if pulled[2].Manifest.Digest != pulled[3].Manifest.Digest {
		t.Errorf("tempo tags resolved to %s and %s", pulled[2].Manifest.Digest, pulled[3].Manifest.Digest)
	}
	// busybox is an index: the amd64 manifest is what the cache keeps, the index is its source.
	if pulled[0].Source == pulled[0].Manifest.Digest.String() || pulled[0].Source == "" {
		t.Errorf("busybox source %q, manifest %s", pulled[0].Source, pulled[0].Manifest.Digest)
	}

	before := len(reg.BlobGets())
	again, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for digest, n := range reg.BlobGets() {
		if n != 1 {
			t.Errorf("second pull fetched blob %s again (%d GETs)", digest, n)
		}
	}
	if len(reg.BlobGets()) != before {
		t.Errorf("second pull fetched new blobs")
	}
	for _, p := range again {
		if p.Fetched != 0 {
			t.Errorf("second pull fetched %d bytes for %s", p.Fetched, p.Ref)
		}
	}

	// With the registry gone, the complete cache is kept, with a warning per image.
	reg.Stop()
	var warnings []string
	if _, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors, Warn: func(s string) { warnings = append(warnings, s) }}); err != nil {
		t.Fatalf("pull with the registry down and a full cache: %v", err)
	}
	if len(warnings) != len(refs) {
		t.Errorf("warnings: %q", warnings)
	}
}

func TestPullRefusesAnotherPlatform(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	c := OpenCache(t.TempDir())
	// busybox has arm64; the frontend is amd64 only.
	if _, err := c.Pull(context.Background(), refs[:1], PullOptions{Platform: arm64, Mirrors: mirrors}); err != nil {
		t.Fatalf("arm64 busybox: %v", err)
	}
	_, err := c.Pull(context.Background(), refs[1:2], PullOptions{Platform: arm64, Mirrors: mirrors})
	if reason.Of(err).Kind != reason.ImagePull || !strings.Contains(err.Error(), "built for linux/amd64 only, not linux/arm64") {
		t.Fatalf("arm64 pull of an amd64 image: %v", err)
	}
	cov, _ := c.Cover(refs[:2], arm64)
	if len(cov.Present) != 1 || cov.Missing[0] != refs[1] {
		t.Errorf("cover: %+v", cov)
	}
	if cov, _ := c.Cover(refs[:1], amd64); len(cov.Missing) != 1 {
		t.Errorf("the arm64 pull counts for amd64: %+v", cov)
	}
}

func TestPullNamesTheImageAndWhereFrom(t *testing.T) {
	_, _, mirrors := testRegistry(t)
	c := OpenCache(t.TempDir())
	_, err := c.Pull(context.Background(), []string{"docker.io/library/nosuch:1"}, PullOptions{Platform: amd64, Mirrors: mirrors})
	if reason.Of(err).Kind != reason.ImagePull || !strings.Contains(err.Error(), "docker.io/library/nosuch:1") ||
		!strings.Contains(err.Error(), "mirror http://127.0.0.1") {
		t.Fatalf("missing image: %v", err)
	}
}

// A blob missing from the cache makes its image incomplete; the next pull fetches just that blob.
func TestCoverSeesAMissingBlob(t *testing.T) {
	reg, refs, mirrors := testRegistry(t)
	c := OpenCache(t.TempDir())
	ctx := context.Background()
	pulled, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := c.manifest(pulled[1].Entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(c.blobPath(m.Layers[0].Digest)); err != nil {
		t.Fatal(err)
	}
	cov, err := c.Cover(refs, amd64)
	if err != nil || len(cov.Missing) != 1 || cov.Missing[0] != refs[1] {
		t.Fatalf("cover: %+v %v", cov, err)
	}
	if err := cov.Err(amd64); reason.Of(err).Kind != reason.OfflineNotPrepared || !strings.Contains(err.Error(), refs[1]) {
		t.Errorf("cover error: %v", err)
	}
	if _, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors}); err != nil {
		t.Fatal(err)
	}
	gets := reg.BlobGets()
	for digest, n := range gets {
		want := 1
		if digest == m.Layers[0].Digest.String() {
			want = 2
		}
		if n != want {
			t.Errorf("blob %s fetched %d times, want %d", digest, n, want)
		}
	}
	if partials, _ := filepath.Glob(filepath.Join(c.Dir, "blobs", "sha256", partialPrefix+"*")); len(partials) > 0 {
		t.Errorf("partial files left: %v", partials)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"busybox:latest": "docker.io/library/busybox:latest",
		"busybox":        "docker.io/library/busybox:latest",
		"otel/opentelemetry-collector-contrib:0.97.0": "docker.io/otel/opentelemetry-collector-contrib:0.97.0",
		"docker.io/grafana/grafana:10.4.0":            "docker.io/grafana/grafana:10.4.0",
		"index.docker.io/library/redis:7.2":           "docker.io/library/redis:7.2",
		"ghcr.io/open-feature/flagd:v0.9.0":           "ghcr.io/open-feature/flagd:v0.9.0",
		"127.0.0.1:5000/x/y:1":                        "127.0.0.1:5000/x/y:1",
		"busybox@sha256:" + strings.Repeat("a", 64):   "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Normalize("UPPER/case"); err == nil {
		t.Errorf("Normalize accepted an invalid reference")
	}
}

func TestParseMirror(t *testing.T) {
	for in, want := range map[string]Mirror{
		"docker.io=http://127.0.0.1:5000":         {Registry: "docker.io", Host: "127.0.0.1:5000", Insecure: true},
		"index.docker.io=https://mirror.gcr.io":   {Registry: "docker.io", Host: "mirror.gcr.io"},
		"ghcr.io=https://harbor.corp/v2/ghcr":     {Registry: "ghcr.io", Host: "harbor.corp", Prefix: "ghcr"},
		"quay.io=https://harbor.corp/proxy/quay/": {Registry: "quay.io", Host: "harbor.corp", Prefix: "proxy/quay"},
	} {
		got, err := ParseMirror(in)
		if err != nil || got != want {
			t.Errorf("ParseMirror(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"docker.io", "=http://x", "docker.io=ftp://x", "docker.io=http://", "a/b=http://x", "docker.io=http://x/UPPER"} {
		if _, err := ParseMirror(bad); err == nil {
			t.Errorf("ParseMirror(%q) accepted it", bad)
		}
	}
}

// An interrupted pull (Ctrl-C cancels the context) leaves only whole blobs in the cache, and the
// next pull fetches none of them again: it asks the registry only for what is still missing.
func TestInterruptedPullResumes(t *testing.T) {
	reg, refs, mirrors := testRegistry(t)
	c := OpenCache(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One worker, interrupted as soon as the first image is whole: the others are not.
	_, err := c.Pull(ctx, refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 1, Done: func(Pulled) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted pull returned %v, want context.Canceled", err)
	}
	files, err := os.ReadDir(filepath.Join(c.Dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, f := range files {
		if strings.HasPrefix(f.Name(), partialPrefix) {
			t.Errorf("the interrupted pull left a partial blob %s", f.Name())
			continue
		}
		kept["sha256:"+f.Name()] = true
	}
	before := reg.BlobGets()
	finished := 0
	for digest := range before {
		if kept[digest] {
			finished++
		}
	}
	if finished == 0 {
		t.Fatalf("no blob finished before the interrupt: the test proves nothing")
	}

	if _, err := c.Pull(context.Background(), refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	after := reg.BlobGets()
	fetched := 0
	for digest, n := range after {
		switch {
		case kept[digest] && n != before[digest]:
			t.Errorf("blob %s was whole in the cache and was fetched again (%d GETs, %d before)", digest, n, before[digest])
		case !kept[digest] && n > before[digest]:
			fetched++
		}
	}
	if fetched == 0 {
		t.Errorf("the second pull fetched nothing: the interrupt left no work, the test proves nothing")
	}
	t.Logf("%d blobs finished before the interrupt were not fetched again; %d missing ones were", finished, fetched)
	if cov, err := c.Cover(refs, amd64); err != nil || len(cov.Missing) > 0 {
		t.Errorf("cover after the resumed pull: %+v, %v", cov, err)
	}
}
