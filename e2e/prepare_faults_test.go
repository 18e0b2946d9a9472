package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/faultydir"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/registrytest"
)

// prepare stopped halfway, by Ctrl-C or a full disk: the cache it leaves is consistent (no
// partial file, every blob whole, the index naming only whole images), and the next prepare
// fetches only what is not there yet, counted by the registry's blob GETs.

// heldLayerSize is the layer of the images whose downloads the Ctrl-C test holds: larger than
// the rest, so prepare (largest first) asks for them first.
const heldLayerSize = 32 << 10

// TestCtrlCDuringPrepareThenPrepare is Ctrl-C while prepare has most images whole and two layers
// half downloaded: it exits at once with the interrupted kind's code, and the prepare after it
// fetches those two layers and nothing it had already.
func TestCtrlCDuringPrepareThenPrepare(t *testing.T) {
	w := offlineWorld(t, "prepint")
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	reg, mirrors := serveImages(t, list, registrytest.Options{}, 8<<10, 4<<10)
	// Two images, not busybox (an index), get a layer of their own that the registry holds.
	var heldRefs, heldDigests []string
	for _, img := range list {
		if len(heldRefs) == 2 {
			break
		}
		if strings.HasPrefix(img.Ref, "docker.io/library/busybox:") {
			continue
		}
		layer := registrytest.Image(t, img.Ref, v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, heldLayerSize)
		reg.Push(t, img.Ref, layer)
		heldRefs = append(heldRefs, img.Ref)
		heldDigests = append(heldDigests, layerDigests(t, layer)...)
	}
	held := reg.Hold(heldDigests...)
	t.Cleanup(held.Release)

	ctx, cancel := context.WithTimeout(context.Background(), prepareLimit)
	defer cancel()
	prep := w.start(t, ctx, "interrupted with two layers half downloaded", w.prepareArgs(mirrors)...)
	for range heldDigests {
		select {
		case <-held.Arrived():
		case <-time.After(2 * time.Minute):
			_ = prep.cmd.Process.Kill()
			t.Fatalf("prepare never asked for the held layers %v\n%s", heldDigests, prep.output())
		}
	}
	// Every other image lands while the two downloads hang halfway.
	others := len(list) - len(heldRefs)
	for i := 0; i < others; i++ {
		if !prep.lines.waitLine("pulled ", 2*time.Minute) {
			_ = prep.cmd.Process.Kill()
			t.Fatalf("prepare pulled %d of the %d images not held\n%s", i, others, prep.output())
		}
	}
	go func() { prep.lines.drain(); close(prep.drained) }()
	prep.ctrlC(t, "prepare", 5*time.Second)
	w.resumePrepare(t, reg, mirrors, list, heldRefs, func() { held.Release() })
}

// resumePrepare checks what a stopped prepare left and runs prepare again: the cache is
// consistent, status names exactly the missing images, and the second prepare (after
// makeRoom) fetches every blob the cache lacked once and none that it had.
func (w *world) resumePrepare(t *testing.T, reg *registrytest.Registry, mirrors []string, list []images.Image, missing []string, makeRoom func()) {
	t.Helper()
	had := w.checkImageCache(t)
	r := w.run(t, 2*time.Minute, append([]string{"status"}, w.names()...)...)
	want := fmt.Sprintf("not ready: %d of %d images are not in the cache", len(missing), len(list))
	mustContain(t, r, want)
	for _, ref := range missing {
		mustContain(t, r, ref)
	}
	before := reg.BlobGets()
	makeRoom()

	r = w.run(t, prepareLimit, w.prepareArgs(mirrors)...)
	expect(t, r, 0)
	if n := strings.Count(r.stdout, "\npulled "); n != len(missing) {
		t.Errorf("the second prepare pulled %d images, want the %d missing ones\n%s", n, len(missing), r)
	}
	after := reg.BlobGets()
	refetched, fetched := 0, 0
	for digest, n := range after {
		again := n - before[digest]
		if again == 0 {
			continue
		}
		fetched++
		if again != 1 {
			t.Errorf("blob %s was fetched %d times by the second prepare", digest, again)
		}
		if had[strings.TrimPrefix(digest, "sha256:")] {
			refetched++
			t.Errorf("blob %s was in the cache and was fetched again (%d times)", digest, again)
		}
	}
	if fetched == 0 {
		t.Errorf("the second prepare fetched no blob, though %d images were missing", len(missing))
	}
	t.Logf("after the stop the cache held %d blobs; the second prepare fetched %d blobs, %d of them again", len(had), fetched, refetched)
	w.checkImageCache(t)
	r = w.run(t, 2*time.Minute, append([]string{"status"}, w.names()...)...)
	mustContain(t, r, fmt.Sprintf("offline (linux/%s): ready, the cache holds both charts and all %d images", runtime.GOARCH, len(list)))
}

// checkImageCache asserts the image cache is consistent: no partial file is left and every blob's
// content has its digest. It returns the blobs (sha256 hex) the cache holds.
func (w *world) checkImageCache(t *testing.T) map[string]bool {
	t.Helper()
	dir := filepath.Join(w.dir, "cache", "svcgraph", "images", "blobs", "sha256")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the image cache: %v", err)
	}
	blobs := map[string]bool{}
	for _, f := range files {
		if strings.HasPrefix(f.Name(), ".") {
			t.Errorf("a partial file is left in the cache: %s", f.Name())
			continue
		}
		if got := fileSHA256(t, filepath.Join(dir, f.Name())); got != f.Name() {
			t.Errorf("blob %s in the cache has the content of %s", f.Name(), got)
		}
		blobs[f.Name()] = true
	}
	if others, _ := filepath.Glob(filepath.Join(w.dir, "cache", "svcgraph", "images", ".import-*")); len(others) > 0 {
		t.Errorf("staging directories are left in the cache: %v", others)
	}
	t.Logf("the image cache holds %d whole blobs: %v…", len(blobs), slices.Sorted(maps.Keys(blobs))[:min(len(blobs), 3)])
	return blobs
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// layerDigests are the digests ("sha256:…") of an image's layers.
func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// TestPrepareOnAFullDisk is a disk that fills up while prepare downloads: the image cache is a
// tmpfs with room for the images' configs and a few layers (internal/faultydir: in a mount
// namespace of a child of this test, which svcgraph, its child, shares). prepare says there is
// no room and what to do, leaves a consistent cache, and once there is room again the next
// prepare completes, fetching none of the blobs that landed before the disk filled.
func TestPrepareOnAFullDisk(t *testing.T) {
	if faultydir.Mode() == "" {
		shareBinaries(t)
	}
	faultydir.Run(t, "full", nil, func(t *testing.T, dir string) {
		w := offlineWorld(t, "prepfull")
		t.Cleanup(func() { w.teardown(t) })
		list := w.releaseImages(t)
		reg, mirrors := serveImages(t, list, registrytest.Options{}, 8<<10, 4<<10)
		cacheDir := filepath.Join(w.dir, "cache", "svcgraph")
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(dir, filepath.Join(cacheDir, "images")); err != nil {
			t.Fatal(err)
		}
		// tmpfs counts whole pages: 26 configs of a page each, then room for a few 8 KiB layers.
		faultydir.Free(t, dir, 160<<10)

		r := w.run(t, prepareLimit, w.prepareArgs(mirrors)...)
		expect(t, r, reason.CacheUnwritable.ExitCode)
		mustContain(t, r, reason.CacheUnwritable.ID, "no room left to write "+filepath.Join(cacheDir, "images"), "Free disk space")

		cov, err := images.OpenCache(cacheDir).Cover(images.Refs(list), images.HostPlatform(runtime.GOARCH))
		if err != nil {
			t.Fatal(err)
		}
		if len(cov.Missing) == 0 {
			t.Fatalf("every image is in the cache after prepare ran out of room\n%s", r)
		}
		w.resumePrepare(t, reg, mirrors, list, cov.Missing, func() { faultydir.Free(t, dir, -1) })
	})
}
