package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// maxManifestBytes bounds a manifest or index read from the memo (real ones are a few KB).
const maxManifestBytes = 4 << 20

// OfferOptions say how Offers asks the registries.
type OfferOptions struct {
	Mirrors        []Mirror
	Workers        int           // images asked at once; below 1 is 1
	RequestTimeout time.Duration // bounds each request (0: only ctx does)
	Keychain       authn.Keychain
	Transport      http.RoundTripper
	// Memo, when set, keeps the manifests and configs read, by digest, in the image cache's blob
	// store. What a digest names never changes, so a later check asks the registry only which
	// digest a tag names — a HEAD, which Docker Hub does not count against its pull limit (a room
	// of laptops behind one address shares it) — and reads the rest from disk.
	Memo *Cache
}

// Offer is what one image's registry offers.
type Offer struct {
	Ref string
	// Platforms the image is built for: an index's manifests (attestations left out), or the
	// platform a single image's config names.
	Platforms []Platform
	// Any: a single image whose config names no platform, taken to run anywhere.
	Any bool
	// Err says why the registry could not be asked; the image is then unchecked.
	Err error
}

// Runs says whether the image has a build for p.
func (o Offer) Runs(p Platform) bool {
	if o.Any {
		return true
	}
	for _, q := range o.Platforms {
		if q == p {
			return true
		}
	}
	return false
}

// Offers asks each image's registry (or its mirror) which platforms it offers, reading only
// manifests and, for a single-platform image, its config (a few KB), with bounded workers. A
// registry that cannot be reached at all (no answer, as opposed to an HTTP error) is asked no
// more: its other images get the same error at once, so an unreachable network costs one
// request per registry, not one per image. ctx bounds the whole.
func Offers(ctx context.Context, refs []string, o OfferOptions) []Offer {
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	popts := []remote.Option{remote.WithAuthFromKeychain(o.Keychain), remote.WithUserAgent("svcgraph")}
	if o.Transport != nil {
		popts = append(popts, remote.WithTransport(o.Transport))
	}
	out := make([]Offer, len(refs))
	puller, err := remote.NewPuller(popts...)
	if err != nil {
		for i, ref := range refs {
			out[i] = Offer{Ref: ref, Err: err}
		}
		return out
	}
	a := &asker{puller: puller, o: o, down: map[string]error{}}
	var g errgroup.Group
	g.SetLimit(max(o.Workers, 1))
	for i, ref := range refs {
		g.Go(func() error {
			out[i] = a.offer(ctx, ref)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

type asker struct {
	puller *remote.Puller
	o      OfferOptions

	mu   sync.Mutex
	down map[string]error // registry host → why it could not be reached
}

func (a *asker) offer(ctx context.Context, ref string) Offer {
	res := Offer{Ref: ref}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		res.Err = err
		return res
	}
	src, err := sourceFor(parsed, a.o.Mirrors)
	if err != nil {
		res.Err = err
		return res
	}
	host := src.repo.RegistryStr()
	a.mu.Lock()
	res.Err = a.down[host]
	a.mu.Unlock()
	if res.Err != nil {
		return res
	}
	target := name.Reference(src.repo.Tag(parsed.Identifier()))
	if _, ok := parsed.(name.Digest); ok {
		target = src.repo.Digest(parsed.Identifier())
	}
	mediaType, manifest, err := a.manifest(ctx, src, target)
	if err != nil {
		res.Err = a.failed(host, src, err)
		return res
	}
	switch {
	case mediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(manifest))
		if err != nil {
			res.Err = fmt.Errorf("the index of %s from %s does not parse: %w", ref, src, err)
			return res
		}
		for _, d := range idx.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" { // attestations
				continue
			}
			res.Platforms = append(res.Platforms, Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture})
		}
	case mediaType.IsImage():
		p, err := a.configPlatform(ctx, src, manifest)
		if err != nil {
			res.Err = a.failed(host, src, err)
			return res
		}
		if p == nil || (p.OS == "" && p.Architecture == "") {
			res.Any = true
		} else {
			res.Platforms = []Platform{{OS: p.OS, Architecture: p.Architecture}}
		}
	default:
		res.Err = fmt.Errorf("%s from %s is a %s, not an image", ref, src, mediaType)
	}
	return res
}

// configPlatform reads the platform a single image's config names.
func (a *asker) configPlatform(ctx context.Context, src source, manifest []byte) (*v1.Platform, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, err
	}
	data, err := a.memoized(m.Config, maxConfigBytes, func() ([]byte, error) {
		var data []byte
		err := a.request(ctx, func(ctx context.Context) error {
			layer, err := a.puller.Layer(ctx, src.repo.Digest(m.Config.Digest.String()))
			if err != nil {
				return err
			}
			rc, err := layer.Compressed()
			if err != nil {
				return err
			}
			defer rc.Close()
			data, err = io.ReadAll(io.LimitReader(rc, maxConfigBytes))
			return err
		})
		return data, err
	})
	if err != nil {
		return nil, err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("the config of the image from %s does not parse: %w", src, err)
	}
	return cfg.Platform(), nil
}

// manifest reads what target names: with a memo, a HEAD for its digest and the memo's copy when
// it has one; otherwise (or when the registry refuses HEAD) a GET.
func (a *asker) manifest(ctx context.Context, src source, target name.Reference) (types.MediaType, []byte, error) {
	if a.o.Memo != nil {
		var d *v1.Descriptor
		err := a.request(ctx, func(ctx context.Context) (err error) {
			d, err = a.puller.Head(ctx, target)
			return err
		})
		var te *transport.Error
		switch {
		case err == nil:
			data, err := a.memoized(*d, maxManifestBytes, func() ([]byte, error) {
				desc, err := a.get(ctx, src.repo.Digest(d.Digest.String()))
				if err != nil {
					return nil, err
				}
				return desc.Manifest, nil
			})
			return d.MediaType, data, err
		case !errors.As(err, &te):
			return "", nil, err // no answer: a GET would get none either
		}
	}
	desc, err := a.get(ctx, target)
	if err != nil {
		return "", nil, err
	}
	if a.o.Memo != nil {
		_ = a.o.Memo.writeBytes(desc.Descriptor, desc.Manifest) // a memo that cannot be written is only slower next time
	}
	return desc.MediaType, desc.Manifest, nil
}

// get reads the manifest or index target names, under the request deadline.
func (a *asker) get(ctx context.Context, target name.Reference) (desc *remote.Descriptor, err error) {
	err = a.request(ctx, func(ctx context.Context) (err error) {
		desc, err = a.puller.Get(ctx, target)
		return err
	})
	return desc, err
}

// memoized is the blob d (at most limit bytes) from the memo, or fetched and then kept there.
func (a *asker) memoized(d v1.Descriptor, limit int64, fetch func() ([]byte, error)) ([]byte, error) {
	if a.o.Memo != nil {
		if data, ok := a.o.Memo.readSmall(d, limit); ok {
			return data, nil
		}
	}
	data, err := fetch()
	if err == nil && a.o.Memo != nil {
		_ = a.o.Memo.writeBytes(d, data) // verified against d's digest before it is kept
	}
	return data, err
}

// request runs one request under its own deadline.
func (a *asker) request(ctx context.Context, do func(context.Context) error) error {
	if a.o.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.o.RequestTimeout)
		defer cancel()
	}
	return do(ctx)
}

// failed words an error and, when the registry gave no answer at all, marks it down.
func (a *asker) failed(host string, src source, err error) error {
	err = fmt.Errorf("%s: %w", src, err)
	var te *transport.Error
	if !errors.As(err, &te) {
		a.mu.Lock()
		if a.down[host] == nil {
			a.down[host] = err
		}
		a.mu.Unlock()
	}
	return err
}
