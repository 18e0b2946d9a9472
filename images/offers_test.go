package images

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOffersReadsIndexesAndConfigs(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	offers := Offers(context.Background(), refs, OfferOptions{Mirrors: mirrors, Workers: 2, RequestTimeout: 10 * time.Second})
	if len(offers) != len(refs) {
		t.Fatalf("%d offers for %d images", len(offers), len(refs))
	}
	for i, o := range offers {
		if o.Ref != refs[i] || o.Err != nil {
			t.Fatalf("offer %d: %+v, want %s without error", i, o, refs[i])
		}
	}
	// busybox is an index of both platforms; the others are single amd64 images, known from
	// their configs.
	if !slices.Equal(offers[0].Platforms, []Platform{amd64, arm64}) || !offers[0].Runs(arm64) {
		t.Errorf("busybox offers %v, want linux/amd64 and linux/arm64", offers[0].Platforms)
	}
	for _, o := range offers[1:] {
		if !slices.Equal(o.Platforms, []Platform{amd64}) || o.Runs(arm64) || !o.Runs(amd64) {
			t.Errorf("%s offers %v (any %v), want linux/amd64 only", o.Ref, o.Platforms, o.Any)
		}
	}
}

// countingTransport counts requests and fails each as a network that is not there does.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("dial tcp: connect: network is unreachable")
}

// An unreachable registry costs the requests of one image, however many images it holds; every
// image is then unchecked with the reason.
func TestOffersAsksAnUnreachableRegistryOnce(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	one := &countingTransport{}
	Offers(context.Background(), refs[:1], OfferOptions{Mirrors: mirrors, Workers: 1, Transport: one})
	all := &countingTransport{}
	offers := Offers(context.Background(), refs, OfferOptions{Mirrors: mirrors, Workers: 1, Transport: all})
	if one.n.Load() == 0 || all.n.Load() != one.n.Load() {
		t.Errorf("%d requests for %d images of an unreachable registry, %d for one image", all.n.Load(), len(refs), one.n.Load())
	}
	for _, o := range offers {
		if o.Err == nil || len(o.Platforms) > 0 {
			t.Errorf("%s: %+v, want unchecked with the reason", o.Ref, o)
		}
	}
}

// A registry that answers with an error (here: no such image) is asked again for the others.
func TestOffersKeepsAskingAfterAnHTTPError(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	refs = append([]string{"docker.io/library/nothere:1"}, refs...)
	offers := Offers(context.Background(), refs, OfferOptions{Mirrors: mirrors, Workers: 1})
	if offers[0].Err == nil {
		t.Errorf("a missing image has no error: %+v", offers[0])
	}
	for _, o := range offers[1:] {
		if o.Err != nil {
			t.Errorf("%s after a 404: %v", o.Ref, o.Err)
		}
	}
}

// A registry that takes the connection and never answers: each request ends at its deadline,
// and the caller's end stops the rest.
func TestOffersEndWithTheirDeadlines(t *testing.T) {
	hung := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hung) })
	m, err := ParseMirror("docker.io=" + srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"docker.io/library/busybox:latest", "docker.io/grafana/tempo:2.4.1"}
	for _, o := range Offers(context.Background(), refs, OfferOptions{Mirrors: []Mirror{m}, Workers: 1, RequestTimeout: 200 * time.Millisecond}) {
		if !errors.Is(o.Err, context.DeadlineExceeded) {
			t.Errorf("%s from a registry that never answers: %v, want the request's deadline", o.Ref, o.Err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, o := range Offers(ctx, refs, OfferOptions{Mirrors: []Mirror{m}, Workers: 2}) {
		if !errors.Is(o.Err, context.Canceled) {
			t.Errorf("%s after the caller's end: %v", o.Ref, o.Err)
		}
	}
}

// requestCounter counts the requests that reach the registry by method and what they ask for
// ("GET manifests", "HEAD manifests", "GET blobs", "GET /v2/").
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	what := r.URL.Path
	for _, kind := range []string{"manifests", "blobs"} {
		if strings.Contains(r.URL.Path, "/"+kind+"/") {
			what = kind
		}
	}
	c.mu.Lock()
	c.n[r.Method+" "+what]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// With a memo, a second check reads no manifest or config again: HEADs only (Docker Hub counts
// GETs of manifests against its pull limit, not HEADs), and the same answers.
func TestOffersMemoAsksOnlyForDigests(t *testing.T) {
	_, refs, mirrors := testRegistry(t)
	memo := OpenCache(t.TempDir())
	check := func() ([]Offer, map[string]int) {
		count := &requestCounter{n: map[string]int{}}
		offers := Offers(context.Background(), refs, OfferOptions{Mirrors: mirrors, Workers: 1, Transport: count, Memo: memo})
		for _, o := range offers {
			if o.Err != nil {
				t.Fatalf("%s: %v", o.Ref, o.Err)
			}
		}
		return offers, count.n
	}
	first, n1 := check()
	second, n2 := check()
	// busybox is an index, the other three single images, two of them one image under two tags:
	// three distinct manifests and two configs, each read once (one worker: the second tag of
	// tempo finds its manifest in the memo already).
	if n1["HEAD manifests"] != len(refs) || n1["GET manifests"] != 3 || n1["GET blobs"] != 2 {
		t.Errorf("first check, with an empty memo: %v; want a HEAD per image, a GET of each distinct manifest and config", n1)
	}
	if n2["HEAD manifests"] != len(refs) || n2["GET manifests"] != 0 || n2["GET blobs"] != 0 {
		t.Errorf("second check: %v; want a HEAD per image and no GET of a manifest or config", n2)
	}
	for i := range first {
		if !slices.Equal(first[i].Platforms, second[i].Platforms) || first[i].Any != second[i].Any {
			t.Errorf("%s: %+v from the registry, %+v from the memo", first[i].Ref, first[i], second[i])
		}
	}
}
