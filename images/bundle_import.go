package images

import (
	"archive/tar"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// copyChunk is how much of a blob one kernel copy moves before Ctrl-C is looked at again: at the
// page cache's 2–3 GB/s a few milliseconds.
const copyChunk = 16 << 20

// bundleIndex is what a walk over a bundle's tar headers learns: the manifest, the charts (small,
// read whole) and where in the file each blob's bytes are.
type bundleIndex struct {
	m      BundleManifest
	charts map[string][]byte
	blobs  []bundleBlob
	end    int64 // the offset where the tar ends
}

// bundleBlob is one blob's bytes in the bundle file.
type bundleBlob struct {
	d      v1.Descriptor
	offset int64
}

// ImportBundle reads the bundle file f into the cache: the chart packages into the chart cache,
// the images into the image cache, for platform p only. Every blob and chart is checked against
// its digest and the manifest against the sum at the end; until all of it has checked out,
// everything is staged beside the cache, so a corrupt, truncated or foreign bundle imports nothing.
//
// It is as fast as a copy can be made safe: the tar headers are walked first (seeking over the
// data), then the kernel copies each blob into staging (copy_file_range on Linux: the bytes never
// pass through svcgraph), and every copy is hashed as soon as it is written, on all cores. So the
// bundle is read once, and what is checked is what landed in the cache.
func (c *Cache) ImportBundle(ctx context.Context, f *os.File, source string, p Platform, count func(int64)) (BundleManifest, error) {
	if count == nil {
		count = func(int64) {}
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return BundleManifest{}, reason.New(reason.BundleInvalid, "Copy the bundle into a file and give that file to --from-bundle. Nothing was imported.",
			"%s is not a regular file: svcgraph imports a bundle from a file, not a pipe or a device", source)
	}
	idx, err := walkBundle(ctx, f, source, p)
	if err != nil {
		return idx.m, err
	}
	m := idx.m
	invalid := bundleInvalid(source)
	type chartData struct {
		chart chartmod.CachedChart
		data  []byte
	}
	var toStore []chartData
	for _, ch := range m.Charts {
		file := fmt.Sprintf("%s-%s.tgz", ch.Name, ch.Version)
		data, ok := idx.charts[file]
		if !ok || !strings.EqualFold(sha256hex(data), ch.Digest) {
			return m, invalid("the bundle is corrupt: chart %s is missing or does not match its digest", file)
		}
		toStore = append(toStore, chartData{chartmod.CachedChart{Name: ch.Name, Version: ch.Version, RepoURL: ch.RepoURL, Digest: ch.Digest}, data})
	}
	sizes := map[string]int64{}
	for _, b := range idx.blobs {
		sizes[b.d.Digest.String()] = b.d.Size
	}
	var entries []Entry
	for _, img := range m.Images {
		hash, err := v1.NewHash(img.Digest)
		if err != nil || img.Platform != p.String() || sizes[img.Digest] != img.Size {
			return m, invalid("the bundle is corrupt: image %s is not described right", img.Ref)
		}
		entries = append(entries, Entry{Ref: img.Ref, Platform: p, Source: img.Source,
			Manifest: v1.Descriptor{Digest: hash, Size: img.Size, MediaType: types.MediaType(img.MediaType)}})
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
	var missing []bundleBlob
	toHash := int64(0)
	for _, b := range idx.blobs {
		if !c.hasBlob(b.d) {
			missing = append(missing, b)
			toHash += b.d.Size
		}
	}
	count(idx.end - toHash) // the headers, charts and blobs the cache has are read already
	if err := stage.stageBlobs(ctx, f, source, missing, count); err != nil {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		return m, err
	}

	// Everything checked out: move the staged blobs in, then the charts, then the index.
	for _, b := range missing {
		dst := c.blobPath(b.d.Digest)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return m, writeError(err, dst)
		}
		if err := os.Rename(stage.blobPath(b.d.Digest), dst); err != nil {
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

func bundleInvalid(source string) func(format string, args ...any) error {
	return func(format string, args ...any) error {
		return reason.New(reason.BundleInvalid, "", "%s: "+format, append([]any{source}, args...)...)
	}
}

// walkBundle reads the bundle's tar headers, its manifest (first, so a bundle for another format
// or platform is refused at once), charts and final sum, and seeks over the blobs' bytes
// (archive/tar seeks when its reader can), noting where each is. The walk proves every blob's
// bytes are in the file; their digests are checked when they are staged.
func walkBundle(ctx context.Context, f *os.File, source string, p Platform) (bundleIndex, error) {
	invalid := bundleInvalid(source)
	idx := bundleIndex{charts: map[string][]byte{}}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return idx, invalid("cannot read the bundle (%v)", err)
	}
	tr := tar.NewReader(f)
	next := func() (*tar.Header, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		switch {
		case err == io.EOF:
			return nil, err
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, invalid("the bundle is truncated")
		case err != nil:
			return nil, invalid("the bundle is corrupt (%v)", err)
		}
		return h, nil
	}
	h, err := next()
	if err == io.EOF || (err == nil && h.Name != bundleManifestName) {
		return idx, invalid("not an svcgraph bundle (it does not start with %s)", bundleManifestName)
	}
	if err != nil {
		return idx, err
	}
	raw, err := io.ReadAll(io.LimitReader(tr, maxBundleManifest))
	if err != nil {
		return idx, invalid("the bundle is truncated (%v)", err)
	}
	m := &idx.m
	if err := json.Unmarshal(raw, m); err != nil {
		return idx, invalid("its manifest is corrupt (%v)", err)
	}
	if m.Format != BundleFormat {
		return idx, reason.New(reason.BundleInvalid, "Make the bundle again with this svcgraph (`svcgraph prepare --bundle FILE`), or import it with the svcgraph version that made it ("+m.SvcgraphVersion+"). Nothing was imported.",
			"%s is a bundle of format %q (made by svcgraph %s); this svcgraph reads %q", source, m.Format, m.SvcgraphVersion, BundleFormat)
	}
	if m.Platform != p.String() {
		return idx, reason.New(reason.BundlePlatform, "",
			"%s holds images for %s, and this machine's minikube node is %s", source, m.Platform, p)
	}
	listed := map[string]int64{}
	for _, b := range m.Blobs {
		listed[b.Digest] = b.Size
	}
	seen := map[string]bool{}
	summed := false
	for {
		h, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return idx, err
		}
		if summed {
			return idx, invalid("it has %s after its final sum", h.Name)
		}
		switch {
		case h.Name == bundleSumName:
			data, _ := io.ReadAll(io.LimitReader(tr, 1024))
			sum := sha256.Sum256(raw)
			if strings.TrimSpace(string(data)) != hex.EncodeToString(sum[:]) {
				return idx, invalid("the bundle is corrupt: its manifest does not match the sum at its end")
			}
			summed = true
		case strings.HasPrefix(h.Name, bundleChartDir):
			data, err := io.ReadAll(io.LimitReader(tr, maxBundleChart))
			if err != nil {
				return idx, invalid("the bundle is truncated (%v)", err)
			}
			idx.charts[path.Base(h.Name)] = data
		case strings.HasPrefix(h.Name, bundleBlobDir):
			digest := "sha256:" + strings.TrimPrefix(h.Name, bundleBlobDir)
			size, ok := listed[digest]
			hash, herr := v1.NewHash(digest)
			// A regular entry only: its bytes are then the file's, from the offset on.
			if !ok || herr != nil || size != h.Size || h.Typeflag != tar.TypeReg || seen[digest] {
				return idx, invalid("the bundle is corrupt: %s is not a blob its manifest lists", h.Name)
			}
			seen[digest] = true
			offset, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return idx, invalid("cannot read the bundle (%v)", err)
			}
			idx.blobs = append(idx.blobs, bundleBlob{d: v1.Descriptor{Digest: hash, Size: size}, offset: offset})
		default:
			return idx, invalid("the bundle is corrupt: it holds %s, which no bundle has", h.Name)
		}
	}
	if !summed {
		return idx, invalid("the bundle is truncated (it lacks the sum at its end)")
	}
	for digest := range listed {
		if !seen[digest] {
			return idx, invalid("the bundle is incomplete: blob %s is missing", digest)
		}
	}
	if idx.end, err = f.Seek(0, io.SeekCurrent); err != nil {
		return idx, invalid("cannot read the bundle (%v)", err)
	}
	return idx, nil
}

// stageBlobs copies blobs from the bundle file f into c (the staging cache) and checks each
// copy's sha256, largest first: one goroutine copies, one blob after another, in the kernel where
// it can (so the disk, not the CPU, is its limit; it moves f's file offset), and one per core
// hashes each staged copy as soon as it is whole. The hashers trail the copy, so the bundle is
// read from its disk (a USB stick) once, what is hashed comes from the page cache, and what is
// checked is what landed in the cache. The first failure stops all.
func (c *Cache) stageBlobs(ctx context.Context, f *os.File, source string, blobs []bundleBlob, count func(int64)) error {
	blobs = slices.Clone(blobs)
	slices.SortStableFunc(blobs, func(a, b bundleBlob) int { return cmp.Compare(b.d.Size, a.d.Size) })
	if err := os.MkdirAll(filepath.Join(c.Dir, "blobs", "sha256"), 0o755); err != nil {
		return writeError(err, c.Dir)
	}
	g, gctx := errgroup.WithContext(ctx)
	staged := make(chan bundleBlob, len(blobs))
	g.Go(func() error {
		defer close(staged)
		for _, b := range blobs {
			if err := c.copyBundleBlob(gctx, f, source, b); err != nil {
				return err
			}
			staged <- b
		}
		return nil
	})
	for range min(runtime.GOMAXPROCS(0), max(len(blobs), 1)) {
		g.Go(func() error {
			for b := range staged {
				if err := c.checkStagedBlob(gctx, source, b, count); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// copyBundleBlob copies blob b's bytes from the bundle file into the staging cache.
// (*os.File).ReadFrom copies in the kernel from an *io.LimitedReader over an *os.File.
func (c *Cache) copyBundleBlob(ctx context.Context, f *os.File, source string, b bundleBlob) error {
	dst := c.blobPath(b.d.Digest)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return writeError(err, dst)
	}
	defer out.Close()
	if _, err := f.Seek(b.offset, io.SeekStart); err != nil {
		return bundleInvalid(source)("cannot read the bundle (%v)", err)
	}
	for left := b.d.Size; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := min(left, copyChunk)
		n, err := out.ReadFrom(&io.LimitedReader{R: f, N: chunk})
		left -= n
		var pe *fs.PathError
		switch {
		case err != nil && errors.As(err, &pe) && pe.Path == f.Name():
			return bundleInvalid(source)("cannot read the bundle (%v)", err)
		case err != nil:
			return writeError(err, dst)
		case n < chunk:
			return bundleInvalid(source)("the bundle is truncated")
		}
	}
	if err := out.Close(); err != nil {
		return writeError(err, dst)
	}
	return nil
}

// checkStagedBlob hashes the staged copy of blob b against its digest.
func (c *Cache) checkStagedBlob(ctx context.Context, source string, b bundleBlob, count func(int64)) error {
	file := c.blobPath(b.d.Digest)
	in, err := os.Open(file)
	if err != nil {
		return writeError(err, file)
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(h, &countingReader{r: ctxReader{ctx, in}, count: count})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return writeError(err, file)
	}
	if n != b.d.Size {
		return bundleInvalid(source)("the bundle is truncated")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.d.Digest.Hex {
		return bundleInvalid(source)("the bundle is corrupt: blob %s has digest sha256:%s", b.d.Digest, got)
	}
	return nil
}
