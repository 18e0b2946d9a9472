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
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// An image archive is what `minikube image load FILE` hands to the node's container runtime:
// `docker load` reads manifest.json (the docker-save format), containerd's `ctr images import`
// reads the OCI layout's index.json. The archive carries both over one set of blobs, as
// `docker save` has since Docker 25, so either runtime loads it; containerd also keeps the
// manifest's digest, so the node lists the image with the digest the cache has.
const containerdNameAnnotation = "io.containerd.image.name"

// dockerManifest is one entry of the docker-save format's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes an entry's image as a load archive. Every blob is checked against its
// digest as it is copied: a damaged cache is named, not loaded.
func (c *Cache) WriteArchive(ctx context.Context, w io.Writer, e Entry) error {
	m, raw, err := c.manifest(e)
	if err != nil {
		return c.damaged(e, err)
	}
	tw := tar.NewWriter(markedWriter{w})
	path := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	tags := []string{}
	tag := ""
	if ref, err := name.ParseReference(e.Ref); err == nil {
		if _, isTag := ref.(name.Tag); isTag {
			tags, tag = append(tags, e.Ref), ref.Identifier()
		}
	}
	dm := []dockerManifest{{Config: path(m.Config.Digest), RepoTags: tags}}
	for _, l := range m.Layers {
		dm[0].Layers = append(dm[0].Layers, path(l.Digest))
	}
	desc := e.Manifest
	desc.Annotations = map[string]string{containerdNameAnnotation: e.Ref}
	if tag != "" {
		desc.Annotations[refAnnotation] = tag
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}}
	files := []struct {
		name string
		data any
	}{{layoutFile, json.RawMessage(layoutContent)}, {indexFile, index}, {"manifest.json", dm}}
	for _, f := range files {
		data, err := json.Marshal(f.data)
		if err != nil {
			return err
		}
		if err := writeTarFile(tw, f.name, data); err != nil {
			return err
		}
	}
	if err := writeTarFile(tw, path(e.Manifest.Digest), raw); err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if seen[b.Digest] {
			continue
		}
		seen[b.Digest] = true
		if err := c.copyBlob(ctx, tw, path(b.Digest), b, nil); err != nil {
			return c.damaged(e, err)
		}
	}
	return tw.Close()
}

// WriteArchiveFile writes an entry's load archive into dir and returns its path.
func (c *Cache) WriteArchiveFile(ctx context.Context, dir string, e Entry) (string, error) {
	file := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(e.Ref)+".tar")
	f, err := os.Create(file)
	if err != nil {
		return "", writeError(err, file)
	}
	if err := c.WriteArchive(ctx, f, e); err != nil {
		f.Close()
		var de destError
		if errors.As(err, &de) {
			return "", writeError(de.error, file)
		}
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", writeError(err, file)
	}
	return file, nil
}

// damaged says that the cache's copy of an image cannot be used (Cover sees the missing or bad
// blob from then on). Errors of the destination pass through as they are.
func (c *Cache) damaged(e Entry, err error) error {
	var de destError
	var known *reason.Error
	if errors.As(err, &de) || errors.As(err, &known) || errors.Is(err, context.Canceled) {
		return err
	}
	return reason.Wrap(reason.OfflineNotPrepared, err, "", "svcgraph's cached copy of %s is damaged", e.Ref)
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// copyBlob writes a cached blob into a tar under name, checking its digest as it goes. A blob
// whose content is not its digest is removed from the cache (the next prepare fetches it again).
func (c *Cache) copyBlob(ctx context.Context, tw *tar.Writer, name string, d v1.Descriptor, count func(int64)) error {
	f, err := os.Open(c.blobPath(d.Digest))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if d.Size > 0 && fi.Size() != d.Size {
		return fmt.Errorf("blob %s has %d bytes, not %d", d.Digest, fi.Size(), d.Size)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tw, h), &countingReader{r: ctxReader{ctx, f}, count: count}); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex {
		f.Close()
		_ = os.Remove(c.blobPath(d.Digest))
		return fmt.Errorf("blob %s in the cache has digest sha256:%s; it was removed", d.Digest, got)
	}
	return nil
}

// markedWriter marks its writer's errors as the destination's.
type markedWriter struct{ w io.Writer }

func (m markedWriter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = destError{err}
	}
	return n, err
}

// ctxReader ends a long copy when ctx does (Ctrl-C).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
