// Package registrytest runs a real OCI registry (go-containerregistry's pkg/registry) on
// 127.0.0.1 for tests and benchmarks, with small generated images pushed under the references a
// test names, and counts the blob downloads it serves.
package registrytest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is a running registry. Images pushed for a reference registry/path:tag live under
// Host/registry/path:tag, so one registry stands in for docker.io, ghcr.io and quay.io at once,
// each reached through the mirror MirrorFlag names.
type Registry struct {
	Host string // 127.0.0.1:port

	srv      *httptest.Server
	mu       sync.Mutex
	blobGets map[string]int   // digest → GET requests of the blob
	held     map[string]*Held // digest → the hold its GETs wait on
	link     Options          // BytesPerSecond and Latency in force (SetLink changes them)
	stopped  bool
}

// Options shape the registry.
type Options struct {
	// BlobDir keeps blobs on disk instead of in memory (for benchmarks with gigabytes).
	BlobDir string
	// BytesPerSecond limits each blob download, as a registry CDN gives each connection its
	// share of a link; 0 is no limit.
	BytesPerSecond int64
	// Latency is added before each answer, as a round trip to a distant registry; 0 is none.
	Latency time.Duration
}

// Start runs a registry until the test ends (or Stop).
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	opts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	if o.BlobDir != "" {
		// The disk handler writes its uploads there but does not make the directory.
		if err := os.MkdirAll(o.BlobDir, 0o755); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(o.BlobDir)))
	}
	h := registry.New(opts...)
	r := &Registry{blobGets: map[string]int{}}
	r.SetLink(o.BytesPerSecond, o.Latency)
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		link := r.link
		r.mu.Unlock()
		if link.Latency > 0 {
			time.Sleep(link.Latency) // a distant registry's round trip, not synchronisation
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			digest := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
			r.mu.Lock()
			r.blobGets[digest]++
			held := r.held[digest]
			r.mu.Unlock()
			if held != nil {
				w = &holding{ResponseWriter: w, held: held, digest: digest, req: req}
			}
			if link.BytesPerSecond > 0 {
				w = &throttled{ResponseWriter: w, rate: link.BytesPerSecond, start: time.Now()}
			}
		}
		h.ServeHTTP(w, req)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Listener = l
	r.srv.Start()
	r.Host = l.Addr().String()
	t.Cleanup(r.Stop)
	return r
}

// SetLink changes the link model (Options.BytesPerSecond and Options.Latency) for the requests
// that start from now on, so one registry's images can be served over several links in turn.
func (r *Registry) SetLink(bytesPerSecond int64, latency time.Duration) {
	r.mu.Lock()
	r.link = Options{BytesPerSecond: bytesPerSecond, Latency: latency}
	r.mu.Unlock()
}

// Stop shuts the registry down: from then on nothing answers on its port.
func (r *Registry) Stop() {
	r.mu.Lock()
	stopped := r.stopped
	r.stopped = true
	r.mu.Unlock()
	if !stopped {
		r.srv.CloseClientConnections()
		r.srv.Close()
	}
}

// MirrorFlags are the --registry-mirror values that send svcgraph's pulls for these registries here.
func (r *Registry) MirrorFlags(registries ...string) []string {
	var out []string
	for _, reg := range registries {
		out = append(out, fmt.Sprintf("%s=http://%s/%s", reg, r.Host, reg))
	}
	return out
}

// BlobGets returns how often each blob (by digest) was asked for with GET.
func (r *Registry) BlobGets() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.blobGets))
	for k, v := range r.blobGets {
		out[k] = v
	}
	return out
}

// Held is a set of blobs whose downloads stop halfway until Release: a download in flight for as
// long as a test needs, with no sleeps.
type Held struct {
	arrived chan string
	release chan struct{}
	once    sync.Once
}

// Hold makes every GET of these blobs (digests as "sha256:…") send the first half of the blob,
// say so on Arrived, and wait for Release or for the client to hang up before sending the rest.
func (r *Registry) Hold(digests ...string) *Held {
	h := &Held{arrived: make(chan string, 64), release: make(chan struct{})}
	r.mu.Lock()
	if r.held == nil {
		r.held = map[string]*Held{}
	}
	for _, d := range digests {
		r.held[d] = h
	}
	r.mu.Unlock()
	return h
}

// Arrived gives the digest of each held download once its first half is sent.
func (h *Held) Arrived() <-chan string { return h.arrived }

// Release lets every held download, now and later, finish.
func (h *Held) Release() { h.once.Do(func() { close(h.release) }) }

// holding sends half of the first write, then waits for the hold to be released.
type holding struct {
	http.ResponseWriter
	held   *Held
	digest string
	req    *http.Request
	waited bool
}

func (w *holding) Write(p []byte) (int, error) {
	if w.waited || len(p) < 2 {
		return w.ResponseWriter.Write(p)
	}
	w.waited = true
	half := len(p) / 2
	n, err := w.ResponseWriter.Write(p[:half])
	if err != nil {
		return n, err
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case w.held.arrived <- w.digest:
	default:
	}
	select {
	case <-w.held.release:
	case <-w.req.Context().Done():
		return n, w.req.Context().Err()
	}
	m, err := w.ResponseWriter.Write(p[half:])
	return n + m, err
}

// local is where a full reference (docker.io/library/busybox:latest) lives in this registry.
func (r *Registry) local(ref string) (name.Reference, error) {
	return name.ParseReference(r.Host+"/"+ref, name.Insecure)
}

// Push stores an image or an index under a full reference.
func (r *Registry) Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	dst, err := r.local(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// PushIndex stores a multi-platform index under a full reference.
func (r *Registry) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	dst, err := r.local(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(dst, idx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// Image is a generated image for a platform: layers of pseudo-random bytes drawn from seed
// (served as gzip layers; no test unpacks them), so images of different seeds are distinct and
// incompressible like real layers, and the same seed gives the same image, digests and all,
// in every test and run (a node that is loaded again does not collect stale copies).
func Image(t testing.TB, seed string, platform v1.Platform, layerSizes ...int64) v1.Image {
	t.Helper()
	layers := make([]Layer, len(layerSizes))
	for i, size := range layerSizes {
		layers[i] = Layer{Seed: fmt.Sprintf("%s\x00%s\x00%d", seed, platform, i), Size: size}
	}
	return ImageOf(t, platform, layers...)
}

// Layer is one generated layer: the same seed and size give the same bytes, so two images that
// name the same layer share its blob, as images built on one base image do.
type Layer struct {
	Seed string
	Size int64
}

// ImageOf is a generated image for a platform made of these layers, in order.
func ImageOf(t testing.TB, platform v1.Platform, layerSpecs ...Layer) v1.Image {
	t.Helper()
	img := empty.Image
	var layers []v1.Layer
	for _, l := range layerSpecs {
		src := rand.NewChaCha8(sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d", l.Seed, l.Size))))
		data := make([]byte, l.Size)
		src.Read(data)
		layers = append(layers, static.NewLayer(data, types.DockerLayer))
	}
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = platform.OS, platform.Architecture
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(mutate.ConfigMediaType(img, types.DockerConfigJSON), types.DockerManifestSchema2)
}

// Index is a multi-platform index of one generated image per platform.
func Index(t testing.TB, seed string, platforms []v1.Platform, layerSizes ...int64) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		adds = append(adds, mutate.IndexAddendum{Add: Image(t, seed, p, layerSizes...), Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.DockerManifestList)
}

// throttled writes a blob no faster than rate bytes per second.
type throttled struct {
	http.ResponseWriter
	rate  int64
	start time.Time
	sent  int64
}

func (t *throttled) Write(p []byte) (int, error) {
	const chunk = 32 << 10
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		m, err := t.ResponseWriter.Write(p[:n])
		written += m
		t.sent += int64(m)
		if err != nil {
			return written, err
		}
		p = p[n:]
		// The link's pace: this connection may not be ahead of rate × elapsed.
		if ahead := time.Duration(float64(t.sent)/float64(t.rate)*float64(time.Second)) - time.Since(t.start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return written, nil
}
