package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// The cache is an OCI image layout (github.com/opencontainers/image-spec, image-layout.md):
// blobs/sha256/<hex> holds every manifest, config and layer once, and index.json lists one
// manifest per image and platform, annotated with the reference it was pulled as. That keeps
// tag → digest: the tag a pod names resolves to the manifest pulled for it, with no registry.
const (
	refAnnotation    = "org.opencontainers.image.ref.name"
	sourceAnnotation = "io.svcgraph.source-digest" // what the tag named at the registry (an index for multi-platform images)
	layoutFile       = "oci-layout"
	layoutContent    = `{"imageLayoutVersion":"1.0.0"}`
	indexFile        = "index.json"
	lockFile         = ".lock"
	partialPrefix    = ".partial-"
	lockPoll         = 200 * time.Millisecond
)

// Cache is the image cache in a directory (svcgraph's cache directory's images/).
type Cache struct {
	Dir string
	mu  sync.Mutex // index.json read-modify-write within this process
}

// OpenCache returns the image cache under svcgraph's cache directory. Nothing is created until
// something is written.
func OpenCache(cacheDir string) *Cache { return &Cache{Dir: filepath.Join(cacheDir, "images")} }

// Entry is one image in the cache: a reference, the platform it was pulled for and the manifest
// it resolved to.
type Entry struct {
	Ref      string
	Platform Platform
	Manifest v1.Descriptor // digest, size and media type of the image manifest
	Source   string        // the digest the reference named at the registry when it was pulled
}

// Lock takes the cache for writing (one prepare or import at a time; readers need no lock, as
// every file appears whole through a rename). It waits for another svcgraph until ctx ends.
func (c *Cache) Lock(ctx context.Context, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, writeError(err, c.Dir)
	}
	l := flock.New(filepath.Join(c.Dir, lockFile))
	ok, err := l.TryLock()
	if err == nil && !ok {
		if waiting != nil {
			waiting()
		}
		ok, err = l.TryLockContext(ctx, lockPoll)
	}
	if err != nil || !ok {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, reason.Wrap(reason.Internal, err, "", "cannot lock the image cache %s", c.Dir)
	}
	return func() { _ = l.Unlock() }, nil
}

func (c *Cache) blobPath(h v1.Hash) string { return filepath.Join(c.Dir, "blobs", h.Algorithm, h.Hex) }

// hasBlob says whether the blob is in the cache with the right size (its content was verified
// when it was written).
func (c *Cache) hasBlob(d v1.Descriptor) bool {
	fi, err := os.Stat(c.blobPath(d.Digest))
	return err == nil && fi.Mode().IsRegular() && (d.Size <= 0 || fi.Size() == d.Size)
}

// writeBlob stores a blob: into a partial file first, renamed into place only when complete and,
// with verify, only when its sha256 is its digest. An interrupted or failed write leaves nothing
// under the blob's name, so a blob in the cache is always whole. count sees the bytes as they come.
func (c *Cache) writeBlob(d v1.Descriptor, r io.Reader, verify bool, count func(int64)) error {
	dst := c.blobPath(d.Digest)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return writeError(err, dir)
	}
	tmp, err := os.CreateTemp(dir, partialPrefix+d.Digest.Hex[:12]+"-*")
	if err != nil {
		return writeError(err, dir)
	}
	defer os.Remove(tmp.Name())
	var h hash.Hash
	var w io.Writer = tmp
	if verify {
		h = sha256.New()
		w = io.MultiWriter(tmp, h)
	}
	n, err := io.Copy(w, &countingReader{r: r, count: count})
	if err != nil {
		tmp.Close()
		var de destError
		if errors.As(err, &de) {
			return writeError(de.error, tmp.Name())
		}
		return err
	}
	if err := tmp.Close(); err != nil {
		return writeError(err, tmp.Name())
	}
	if d.Size > 0 && n != d.Size {
		return fmt.Errorf("blob %s has %d bytes, not %d", d.Digest, n, d.Size)
	}
	if verify {
		if got := hex.EncodeToString(h.Sum(nil)); d.Digest.Algorithm != "sha256" || got != d.Digest.Hex {
			return fmt.Errorf("blob %s has digest sha256:%s", d.Digest, got)
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return writeError(err, dst)
	}
	return nil
}

// writeBytes stores a small blob (a manifest) whose content is in memory.
func (c *Cache) writeBytes(d v1.Descriptor, data []byte) error {
	if c.hasBlob(d) {
		return nil
	}
	return c.writeBlob(d, bytes.NewReader(data), true, nil)
}

// readSmall reads a small blob (a manifest, a config) the cache holds whole, if it does.
func (c *Cache) readSmall(d v1.Descriptor, limit int64) ([]byte, bool) {
	if !c.hasBlob(d) {
		return nil, false
	}
	data, err := readLimited(c.blobPath(d.Digest), limit)
	return data, err == nil
}

// countingReader counts what is read, and marks the errors of writers it is copied to apart:
// io.Copy uses WriteTo when the source has one, so the cache file's errors come back through here.
type countingReader struct {
	r     io.Reader
	count func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.count != nil {
		c.count(int64(n))
	}
	return n, err
}

func (c *countingReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 256<<10)
	var total int64
	for {
		n, rerr := c.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, destError{werr}
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// readIndex returns the cache's index; an absent one is empty.
func (c *Cache) readIndex() (*v1.IndexManifest, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(c.Dir, indexFile), err)
	}
	return &idx, nil
}

// Entries lists the images in the cache's index, complete or not.
func (c *Cache) Entries() ([]Entry, error) {
	idx, err := c.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range idx.Manifests {
		e := Entry{Ref: d.Annotations[refAnnotation], Source: d.Annotations[sourceAnnotation], Manifest: d}
		if d.Platform != nil {
			e.Platform = Platform{d.Platform.OS, d.Platform.Architecture}
		}
		e.Manifest.Annotations, e.Manifest.Platform = nil, nil
		if e.Ref != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// Find returns the entry of ref for platform p, or nil.
func (c *Cache) Find(ref string, p Platform) (*Entry, error) {
	entries, err := c.Entries()
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if entries[i].Ref == ref && entries[i].Platform == p {
			return &entries[i], nil
		}
	}
	return nil, nil
}

// put adds or replaces entries in index.json, written whole through a rename. The caller holds
// the cache lock.
func (c *Cache) put(entries ...Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx, err := c.readIndex()
	if err != nil {
		return err
	}
	for _, e := range entries {
		d := e.Manifest
		d.Annotations = map[string]string{refAnnotation: e.Ref}
		if e.Source != "" {
			d.Annotations[sourceAnnotation] = e.Source
		}
		d.Platform = &v1.Platform{OS: e.Platform.OS, Architecture: e.Platform.Architecture}
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(m v1.Descriptor) bool {
			return m.Annotations[refAnnotation] == e.Ref && m.Platform != nil &&
				m.Platform.OS == e.Platform.OS && m.Platform.Architecture == e.Platform.Architecture
		})
		idx.Manifests = append(idx.Manifests, d)
	}
	slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int {
		return strings.Compare(a.Annotations[refAnnotation]+" "+a.Platform.String(), b.Annotations[refAnnotation]+" "+b.Platform.String())
	})
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(c.Dir, layoutFile), []byte(layoutContent)); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.Dir, indexFile), append(data, '\n'))
}

// manifest reads an entry's manifest from the cache.
func (c *Cache) manifest(e Entry) (*v1.Manifest, []byte, error) {
	data, err := os.ReadFile(c.blobPath(e.Manifest.Digest))
	if err != nil {
		return nil, nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s of %s: %w", e.Manifest.Digest, e.Ref, err)
	}
	return m, data, nil
}

// blobs lists an entry's blobs: manifest, config, then layers.
func (c *Cache) blobs(e Entry) ([]v1.Descriptor, error) {
	m, _, err := c.manifest(e)
	if err != nil {
		return nil, err
	}
	return append([]v1.Descriptor{e.Manifest, m.Config}, m.Layers...), nil
}

// complete says whether every blob of the entry is in the cache, and how many bytes they are.
func (c *Cache) complete(e Entry) (bool, int64) {
	blobs, err := c.blobs(e)
	if err != nil {
		return false, 0
	}
	var size int64
	for _, b := range blobs {
		if !c.hasBlob(b) {
			return false, 0
		}
		size += b.Size
	}
	return true, size
}

// Size is the bytes of all an entry's blobs (0 when the entry is not whole).
func (c *Cache) Size(e Entry) int64 {
	_, n := c.complete(e)
	return n
}

// Coverage is what the cache holds of a list of images for one platform.
type Coverage struct {
	Present []Entry  // complete entries, in the list's order
	Missing []string // references with no complete entry
	Bytes   int64    // of the present ones' blobs
}

// Cover looks every reference up for platform p. It reads manifests and sizes, not whole blobs.
func (c *Cache) Cover(refs []string, p Platform) (Coverage, error) {
	entries, err := c.Entries()
	if err != nil {
		return Coverage{}, reason.Wrap(reason.OfflineNotPrepared, err, "", "cannot read the image cache")
	}
	var cov Coverage
	for _, ref := range refs {
		i := slices.IndexFunc(entries, func(e Entry) bool { return e.Ref == ref && e.Platform == p })
		if i < 0 {
			cov.Missing = append(cov.Missing, ref)
			continue
		}
		ok, size := c.complete(entries[i])
		if !ok {
			cov.Missing = append(cov.Missing, ref)
			continue
		}
		cov.Present = append(cov.Present, entries[i])
		cov.Bytes += size
	}
	return cov, nil
}

// Err is nil when nothing is missing, else OFFLINE_NOT_PREPARED naming every missing image.
func (cov Coverage) Err(p Platform) error {
	if len(cov.Missing) == 0 {
		return nil
	}
	return reason.New(reason.OfflineNotPrepared, "",
		"%d image(s) for %s are not in svcgraph's image cache: %s", len(cov.Missing), p, strings.Join(cov.Missing, ", "))
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return writeError(err, filepath.Dir(path))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), partialPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return writeError(err, path)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return writeError(err, path)
	}
	if err := tmp.Close(); err != nil {
		return writeError(err, path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return writeError(err, path)
	}
	return nil
}
