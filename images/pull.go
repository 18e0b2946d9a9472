package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// DefaultWorkers is how many blobs prepare fetches at once: enough to fill a link that gives
// each connection a share (registries and their CDNs do), few enough to be polite.
const DefaultWorkers = 6

// maxConfigBytes bounds an image config read into memory (real ones are a few KB).
const maxConfigBytes = 4 << 20

// PullOptions say where from and how prepare pulls.
type PullOptions struct {
	Platform  Platform
	Mirrors   []Mirror
	Workers   int               // blobs fetched at once; 1 pulls one after the other
	Keychain  authn.Keychain    // nil: the usual one (~/.docker/config.json and credential helpers)
	Transport http.RoundTripper // nil: go-containerregistry's default, which honours HTTPS_PROXY
	Progress  *Progress         // counters the caller shows while Pull runs; may be nil
	Done      func(Pulled)      // called once per image when it is whole in the cache; may be nil
	Warn      func(string)
}

// Progress is what Pull has done so far, safe to read while it runs.
type Progress struct {
	Bytes, BytesDone   atomic.Int64 // of the blobs to fetch (known once every manifest is read)
	Images, ImagesDone atomic.Int64
}

// Pulled says that one image is whole in the cache.
type Pulled struct {
	Entry
	Size    int64 // of all its blobs
	Fetched int64 // bytes fetched for it by this run (0: everything was in the cache)
}

// resolved is one image after its manifest was read: where it comes from, what it is made of.
type resolved struct {
	ref      string
	src      source
	entry    Entry
	raw      []byte // the platform manifest
	blobs    []v1.Descriptor
	pending  atomic.Int64 // blobs still to fetch
	fetched  atomic.Int64
	keepOnly bool // the registry could not be asked, but the cache has the image whole
}

// Pull puts every image into the cache for o.Platform: each reference is resolved to its
// platform's manifest through its mirror, and every blob not yet in the cache is fetched by
// o.Workers workers, largest first, each blob once however many images share it. A blob already
// in the cache is never fetched again, so an interrupted Pull resumes where it stopped. An image
// enters the index only once all its blobs are in the cache.
func (c *Cache) Pull(ctx context.Context, refs []string, o PullOptions) ([]Pulled, error) {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	unlock, err := c.Lock(ctx, func() { o.warn("waiting for another svcgraph that writes the image cache " + c.Dir) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	popts := []remote.Option{remote.WithAuthFromKeychain(o.Keychain), remote.WithUserAgent("svcgraph")}
	if o.Transport != nil {
		popts = append(popts, remote.WithTransport(o.Transport))
	}
	puller, err := remote.NewPuller(popts...)
	if err != nil {
		return nil, reason.Wrap(reason.Internal, err, "", "cannot make a registry client")
	}
	p := &pull{cache: c, o: o, puller: puller}
	o.Progress.Images.Store(int64(len(refs)))

	images := make([]*resolved, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for i, ref := range refs {
		g.Go(func() (err error) {
			images[i], err = p.resolve(gctx, ref)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, p.failed(ctx, err)
	}
	if err := p.fetch(ctx, images); err != nil {
		return nil, p.failed(ctx, err)
	}
	out := make([]Pulled, len(images))
	for i, r := range images {
		out[i] = p.results[r.ref]
	}
	return out, nil
}

type pull struct {
	cache  *Cache
	o      PullOptions
	puller *remote.Puller

	mu      sync.Mutex
	results map[string]Pulled
	configs map[v1.Hash]*configFetch // two tags of one image share a config: fetched once
}

type configFetch struct {
	done chan struct{}
	err  error
}

func (o PullOptions) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

// failed prefers the interrupt to whatever it caused.
func (p *pull) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// resolve reads the manifest a reference names for the platform.
func (p *pull) resolve(ctx context.Context, ref string) (*resolved, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, reason.Wrap(reason.Usage, err, "", "invalid image reference %q", ref)
	}
	src, err := sourceFor(parsed, p.o.Mirrors)
	if err != nil {
		return nil, reason.Wrap(reason.Usage, err, "Check --registry-mirror.", "cannot mirror %s", ref)
	}
	target := name.Reference(src.repo.Tag(parsed.Identifier()))
	if _, ok := parsed.(name.Digest); ok {
		target = src.repo.Digest(parsed.Identifier())
	}
	r := &resolved{ref: ref, src: src, entry: Entry{Ref: ref, Platform: p.o.Platform}}
	desc, err := p.puller.Get(ctx, target)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A workshop runs prepare again on a bad network: what the cache has whole stays usable.
		if e, _ := p.cache.Find(ref, p.o.Platform); e != nil {
			if ok, _ := p.cache.complete(*e); ok {
				p.o.warn(fmt.Sprintf("could not ask %s about %s (%v); keeping the copy in the cache (%s)", src, ref, err, e.Manifest.Digest))
				r.entry, r.keepOnly = *e, true
				return r, nil
			}
		}
		return nil, pullError(err, ref, src, "cannot read the manifest of")
	}
	r.entry.Source = desc.Digest.String()
	r.raw, r.entry.Manifest = desc.Manifest, v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}
	switch {
	case desc.MediaType.IsIndex():
		child, err := p.platformManifest(desc.Manifest, ref)
		if err != nil {
			return nil, err
		}
		cd, err := p.puller.Get(ctx, src.repo.Digest(child.Digest.String()))
		if err != nil {
			return nil, pullError(err, ref, src, "cannot read the "+p.o.Platform.String()+" manifest of")
		}
		r.raw, r.entry.Manifest = cd.Manifest, v1.Descriptor{MediaType: cd.MediaType, Size: cd.Size, Digest: cd.Digest}
	case desc.MediaType.IsImage():
	default:
		return nil, reason.New(reason.ImagePull, "svcgraph pulls Docker v2 and OCI images only.",
			"%s is a %s, not an image svcgraph can pull", ref, desc.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(r.raw))
	if err != nil {
		return nil, reason.Wrap(reason.ImagePull, err, "", "the manifest of %s from %s does not parse", ref, src)
	}
	r.blobs = append([]v1.Descriptor{m.Config}, m.Layers...)
	if !desc.MediaType.IsIndex() {
		if err := p.checkConfigPlatform(ctx, r, m.Config); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// platformManifest picks the platform's manifest from an index.
func (p *pull) platformManifest(raw []byte, ref string) (v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, reason.Wrap(reason.ImagePull, err, "", "the index of %s does not parse", ref)
	}
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" { // attestations
			continue
		}
		if d.Platform.OS == p.o.Platform.OS && d.Platform.Architecture == p.o.Platform.Architecture {
			return d, nil
		}
		have = append(have, d.Platform.String())
	}
	return v1.Descriptor{}, reason.New(reason.ImagePull,
		"Pass the --platform of the machines the workshop uses; minikube runs images of its node's platform only.",
		"%s has no %s image (it has %s)", ref, p.o.Platform, strings.Join(have, ", "))
}

// checkConfigPlatform refuses a single-platform image built for another platform. Its config
// (a few KB) is fetched into the cache now for that.
func (p *pull) checkConfigPlatform(ctx context.Context, r *resolved, d v1.Descriptor) error {
	if err := p.fetchConfig(ctx, r.src, d); err != nil {
		return err
	}
	data, err := readLimited(p.cache.blobPath(d.Digest), maxConfigBytes)
	if err != nil {
		return reason.Wrap(reason.ImagePull, err, "", "cannot read the config of %s", r.ref)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return reason.Wrap(reason.ImagePull, err, "", "the config of %s does not parse", r.ref)
	}
	if !p.o.Platform.matches(cfg.Platform()) {
		return reason.New(reason.ImagePull,
			"Pass the --platform of the machines the workshop uses; minikube runs images of its node's platform only.",
			"%s is built for %s only, not %s", r.ref, cfg.Platform(), p.o.Platform)
	}
	return nil
}

// fetch gets every missing blob, largest first, and completes each image as its last blob lands.
func (p *pull) fetch(ctx context.Context, images []*resolved) error {
	p.results = map[string]Pulled{}
	type job struct {
		desc  v1.Descriptor
		src   source
		users []*resolved
	}
	jobs := map[v1.Hash]*job{}
	var order []*job
	for _, r := range images {
		if r.keepOnly {
			continue
		}
		for _, b := range r.blobs {
			if p.cache.hasBlob(b) {
				continue
			}
			j, ok := jobs[b.Digest]
			if !ok {
				j = &job{desc: b, src: r.src}
				jobs[b.Digest] = j
				order = append(order, j)
				p.o.Progress.Bytes.Add(b.Size)
			}
			if !slices.Contains(j.users, r) {
				j.users = append(j.users, r)
				r.pending.Add(1)
			}
		}
	}
	for _, r := range images {
		if r.pending.Load() == 0 {
			if err := p.complete(r); err != nil {
				return err
			}
		}
	}
	slices.SortStableFunc(order, func(a, b *job) int { return int(min(max(b.desc.Size-a.desc.Size, -1), 1)) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.o.Workers)
	for _, j := range order {
		g.Go(func() error {
			var mine atomic.Int64
			err := p.fetchBlob(gctx, j.src, j.desc, func(n int64) {
				p.o.Progress.BytesDone.Add(n)
				mine.Add(n)
			})
			if err != nil {
				return err
			}
			for _, r := range j.users {
				r.fetched.Add(mine.Load() / int64(len(j.users)))
				if r.pending.Add(-1) == 0 {
					if err := p.complete(r); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// fetchConfig fetches a config blob into the cache unless it is there, once however many
// resolving images ask at the same time.
func (p *pull) fetchConfig(ctx context.Context, src source, d v1.Descriptor) error {
	p.mu.Lock()
	if p.configs == nil {
		p.configs = map[v1.Hash]*configFetch{}
	}
	f, running := p.configs[d.Digest]
	if !running {
		f = &configFetch{done: make(chan struct{})}
		p.configs[d.Digest] = f
	}
	p.mu.Unlock()
	if !running {
		if !p.cache.hasBlob(d) {
			f.err = p.fetchBlob(ctx, src, d, nil)
		}
		close(f.done)
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchBlob copies one blob from the registry into the cache.
func (p *pull) fetchBlob(ctx context.Context, src source, d v1.Descriptor, count func(int64)) error {
	layer, err := p.puller.Layer(ctx, src.repo.Digest(d.Digest.String()))
	if err != nil {
		return pullError(err, d.Digest.String(), src, "cannot fetch blob")
	}
	rc, err := layer.Compressed()
	if err != nil {
		return pullError(err, d.Digest.String(), src, "cannot fetch blob")
	}
	defer rc.Close()
	// go-containerregistry checks the digest as the blob is read, so the cache need not.
	return pullError(p.cache.writeBlob(d, rc, false, count), d.Digest.String(), src, "cannot fetch blob")
}

// complete writes an image's manifest and then its index entry: the index never names an image
// whose blobs are not all there.
func (p *pull) complete(r *resolved) error {
	if !r.keepOnly {
		if err := p.cache.writeBytes(r.entry.Manifest, r.raw); err != nil {
			return err
		}
		if err := p.cache.put(r.entry); err != nil {
			return err
		}
	}
	_, size := p.cache.complete(r.entry)
	res := Pulled{Entry: r.entry, Size: size, Fetched: r.fetched.Load()}
	p.mu.Lock()
	p.results[r.ref] = res
	p.mu.Unlock()
	p.o.Progress.ImagesDone.Add(1)
	if p.o.Done != nil {
		p.o.Done(res)
	}
	return nil
}

// pullError blames the registry for an error, unless it already has a kind (the cache's own).
func pullError(err error, what string, src source, verb string) error {
	if err == nil {
		return nil
	}
	var e *reason.Error
	if errors.As(err, &e) {
		return err
	}
	return reason.Wrap(reason.ImagePull, err, "", "%s %s from %s", verb, what, src)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, err
}
