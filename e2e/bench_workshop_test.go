//go:build bench

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/registrytest"
)

// Issue 17: workshop mode. prepare of the default pair's image set (real-world layer sizes,
// bench_workshop_sizes_test.go, scaled down) from a loopback registry with its default workers
// against one blob at a time; bundle creation and import against a plain cp; cold up --offline
// against cold up. (Zarf beside the bundle: bench_zarf_test.go.)

type workshopBench struct {
	prepareN, importN, offlineN int
	scale                       float64       // real bytes / served bytes
	linkRate                    int64         // bytes per second per connection of the modelled link
	linkRTT                     time.Duration // added to every request of the modelled link
}

func workshopSettings(t *testing.T) workshopBench {
	b := workshopBench{
		prepareN: benchRounds(t, "BENCH_PREPARE_ROUNDS", 3),
		importN:  benchRounds(t, "BENCH_IMPORT_ROUNDS", 3),
		offlineN: benchRounds(t, "BENCH_OFFLINE_ROUNDS", 3),
		scale:    float64(benchRounds(t, "BENCH_WORKSHOP_SCALE", 10)),
		linkRate: int64(benchRounds(t, "BENCH_LINK_KBPS", 4000)) * 1000,
		linkRTT:  time.Duration(benchRounds(t, "BENCH_LINK_RTT_MS", 20)) * time.Millisecond,
	}
	if b.scale < 1 {
		t.Fatal("BENCH_WORKSHOP_SCALE: want 1 or more")
	}
	return b
}

func (b workshopBench) any() bool {
	return b.prepareN+b.importN+b.offlineN > 0
}

// workshopWorld serves the sized image set: a world whose minikube double reports loaded images
// on the node, its registry (blobs on disk) and the --registry-mirror flags that reach it.
func workshopWorld(t *testing.T, rep *benchReport, b workshopBench) (*world, *registrytest.Registry, []string, []images.Image) {
	w := offlineWorld(t, "workshop")
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	reg, mirrors := serveWorkshopImages(t, rep, b, list)
	return w, reg, mirrors, list
}

// serveWorkshopImages starts a registry (blobs on disk) holding the sized image under every
// reference of list, and returns it with the --registry-mirror flags that reach it.
func serveWorkshopImages(t *testing.T, rep *benchReport, b workshopBench, list []images.Image) (*registrytest.Registry, []string) {
	// serveImages gives the references, the mirrors and busybox's index; the sized images then
	// take over every tag (the small ones stay unreferenced in the registry).
	reg, mirrors := serveImages(t, list, registrytest.Options{BlobDir: filepath.Join(t.TempDir(), "registry")}, 1024)
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	var served int64
	seen := map[string]bool{}
	for _, img := range list {
		sizes, ok := defaultPairSizes[img.Ref]
		if !ok {
			t.Fatalf("svcgraph images lists %s, which the benchmark has no sizes for (bench_workshop_sizes_test.go)", img.Ref)
		}
		layers := scaledLayers(img.Ref, sizes, b.scale)
		for _, l := range layers {
			if !seen[l.Seed] {
				seen[l.Seed] = true
				served += l.Size
			}
		}
		reg.Push(t, img.Ref, registrytest.ImageOf(t, host, layers...))
	}
	real, nLayers := realBytes(defaultPairSizes)
	rep.sections = append(rep.sections, fmt.Sprintf("Workshop image set: %d images, %d distinct layers; real-world size %s (distinct layers), served at 1/%g: %s of layers (linux/%s).",
		len(list), nLayers, mb(real), b.scale, mb(served), runtime.GOARCH))
	return reg, mirrors
}

func mb(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB" }

// clearImageCache empties a world's image cache (the charts stay: both sides of a pair need them).
func (w *world) clearImageCache(t *testing.T) {
	if err := os.RemoveAll(filepath.Join(w.dir, "cache", "svcgraph", "images")); err != nil {
		t.Fatal(err)
	}
}

// alternate is the order of a pair's sides in round i: A first in even rounds, B first in odd ones.
func alternate(i int, a, b *series) []*series {
	if i%2 == 1 {
		return []*series{b, a}
	}
	return []*series{a, b}
}

func benchWorkshop(t *testing.T, rep *benchReport, b workshopBench) {
	w, reg, mirrors, list := workshopWorld(t, rep, b)
	rep.sampleLoad("workshop images served")
	rep.flush()
	bundle := filepath.Join(w.dir, "workshop.svcgraph")

	// 1. prepare with its default workers against one blob at a time, the same bytes, back to back
	// (the order alternates per round), on the bare loopback and on the modelled link.
	if b.prepareN > 0 {
		links := []struct {
			name    string
			rate    int64
			latency time.Duration
		}{
			{"loopback", 0, 0},
			{fmt.Sprintf("%d kB/s per connection, +%s per request", b.linkRate/1000, b.linkRTT), b.linkRate, b.linkRTT},
		}
		for _, link := range links {
			reg.SetLink(link.rate, link.latency)
			par := &series{name: fmt.Sprintf("prepare, %d workers (default) — %s", images.DefaultWorkers, link.name)}
			one := &series{name: "prepare --workers 1 — " + link.name}
			for i := range b.prepareN {
				for _, s := range alternate(i, par, one) {
					w.clearImageCache(t)
					args := w.prepareArgs(mirrors)
					if s == one {
						args = append(args, "--workers", "1")
					}
					s.add(w.timed(t, 30*time.Minute, "svcgraph", args...))
				}
				rep.sampleLoad(fmt.Sprintf("prepare %s round %d", link.name, i+1))
			}
			rep.rows = append(rep.rows, par.row(), one.row())
			rep.ratios = append(rep.ratios, fmt.Sprintf("prepare one blob at a time / default workers (%s): %s", link.name, ratio(one, par)))
			rep.flush()
		}
		reg.SetLink(0, 0)
	}

	// 2. The bundle: made by prepare from an empty cache (the registry on loopback), then imported
	// under a fresh HOME against cp of the same file (both from the page cache, to the same disk).
	if b.importN > 0 {
		made := &series{name: "prepare --bundle, empty cache (loopback registry)"}
		for range b.importN {
			w.clearImageCache(t)
			os.Remove(bundle)
			made.add(w.timed(t, 30*time.Minute, "svcgraph", w.prepareArgs(mirrors, "--bundle", bundle)...))
		}
		st, err := os.Stat(bundle)
		if err != nil {
			t.Fatal(err)
		}
		rep.rows = append(rep.rows, made.row())
		rep.sections = append(rep.sections, fmt.Sprintf("svcgraph bundle: %d bytes (%s) for %d images and 2 charts.", st.Size(), mb(st.Size()), len(list)))
		rep.flush()
	}
	if b.importN > 0 {
		imp := newWorld(t, "import", withEnv("MINIKUBE_DOUBLE_NODE_IMAGES=true", "SVCGRAPH_DEMO_REPO="+w.repo.RepoURL("open-telemetry"), "SVCGRAPH_TEMPO_REPO="+w.repo.RepoURL("grafana-community")))
		copied := filepath.Join(imp.dir, "copy.svcgraph")
		a := &series{name: "prepare --from-bundle (import, fresh cache)"}
		c := &series{name: "cp of the same bundle file"}
		cp, err := exec.LookPath("cp")
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.importN {
			for _, s := range alternate(i, a, c) {
				if err := os.RemoveAll(filepath.Join(imp.dir, "cache", "svcgraph")); err != nil {
					t.Fatal(err)
				}
				os.Remove(copied)
				if s == a {
					s.add(imp.timed(t, 30*time.Minute, "svcgraph", append(append([]string{"prepare"}, imp.names()...), "--from-bundle", bundle)...))
				} else {
					s.add(imp.timed(t, 30*time.Minute, cp, bundle, copied))
				}
			}
		}
		os.Remove(copied)
		rep.rows = append(rep.rows, a.row(), c.row())
		rep.ratios = append(rep.ratios, "bundle import speed as a share of cp's (cp time / import time): "+ratio(c, a))
		rep.sampleLoad("after import")
		rep.flush()
	}

	// 3. Cold up --offline against cold up: no release, no namespace and none of the images on the
	// node (the double's image store and the Node's status.images emptied) before each; the
	// profile, the chart cache and (for --offline) the image cache exist.
	if b.offlineN > 0 {
		// The cache holds the set after the items above; prepare fetches only what is missing.
		reg.SetLink(0, 0)
		expect(t, w.run(t, 30*time.Minute, w.prepareArgs(mirrors)...), 0)
		// --offline must not need the registry; plain up never pulls images (kwok runs no containers).
		reg.Stop()
		// The first up --offline creates the profile (cold rounds start from an existing one).
		w.timed(t, 15*time.Minute, "svcgraph", w.upArgs("--offline", "--no-forward")...)
		off := &series{name: "cold: svcgraph up --offline --no-forward (images loaded)"}
		on := &series{name: "cold: svcgraph up --no-forward"}
		for i := range b.offlineN {
			for _, s := range alternate(i, off, on) {
				w.coldReset(t)
				if s == off {
					s.add(w.timed(t, 15*time.Minute, "svcgraph", w.upArgs("--offline", "--no-forward")...))
				} else {
					s.add(w.timed(t, 15*time.Minute, "svcgraph", w.upArgs("--no-forward")...))
				}
			}
		}
		rep.rows = append(rep.rows, off.row(), on.row())
		rep.ratios = append(rep.ratios, "cold up --offline / cold up: "+ratio(off, on))
		rep.sampleLoad("after up --offline")
		rep.flush()
	}
}

// coldReset removes the release and its namespace and empties the node of images: the double's
// image store (what `minikube image ls` lists) and the Node's status.images (what a kubelet reports).
func (w *world) coldReset(t *testing.T) {
	t.Helper()
	r := w.run(t, 15*time.Minute, append([]string{"down"}, w.names()...)...)
	if r.code != 0 {
		t.Fatalf("svcgraph down exited %d\n%s", r.code, r)
	}
	w.waitNamespaceGone(t, 5*time.Minute)
	stores, _ := filepath.Glob(filepath.Join(w.mkState, "images", "*.json"))
	for _, f := range stores {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := w.cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if len(n.Status.Images) == 0 {
			continue
		}
		n.Status.Images = nil
		if _, err := w.cluster.Client.CoreV1().Nodes().UpdateStatus(ctx, &n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
