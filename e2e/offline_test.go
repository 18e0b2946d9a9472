package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/bundletest"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/registrytest"
)

// Workshop mode end to end: a real OCI registry on loopback holds a generated image under every
// reference `svcgraph images` lists for the default pair; svcgraph reaches it only through
// --registry-mirror. The minikube double loads images as minikube does and reports them in the
// node's status.images, as a kubelet does.

// prepareLimit bounds one prepare or import (the images are small).
const prepareLimit = 5 * time.Minute

// offlineWorld is a world whose minikube double reports loaded images on the node.
func offlineWorld(t *testing.T, name string) *world {
	return newWorld(t, name, withEnv("MINIKUBE_DOUBLE_NODE_IMAGES=true"))
}

// releaseImages is `svcgraph images -o json` in the world: the list every test below serves.
func (w *world) releaseImages(t *testing.T, extra ...string) []images.Image {
	t.Helper()
	r := w.run(t, 2*time.Minute, append(append([]string{"images", "-o", "json"}, w.names()...), extra...)...)
	expect(t, r, 0)
	var list []images.Image
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("images -o json: %v\n%s", err, r)
	}
	return list
}

// serveImages starts a registry holding a generated image under every reference of list for
// this machine's platform (busybox as a two-platform index, as on Docker Hub), and returns it
// with the --registry-mirror flags that reach it.
func serveImages(t *testing.T, list []images.Image, o registrytest.Options, layerSizes ...int64) (*registrytest.Registry, []string) {
	t.Helper()
	return serve(t, list, o, func(ref string) bool { return strings.HasPrefix(ref, "docker.io/library/busybox:") }, layerSizes...)
}

// serveBothPlatforms is serveImages with every image a two-platform index, for a prepare
// --platform of the other one.
func serveBothPlatforms(t *testing.T, list []images.Image, layerSizes ...int64) (*registrytest.Registry, []string) {
	t.Helper()
	return serve(t, list, registrytest.Options{}, func(string) bool { return true }, layerSizes...)
}

// otherPlatform is the platform of the Apple-silicon laptop when this machine is not one, and
// the other way round.
func otherPlatform() v1.Platform {
	if runtime.GOARCH == "arm64" {
		return v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	return v1.Platform{OS: "linux", Architecture: "arm64"}
}

// serve pushes an image for every reference of list, as a two-platform index where index says so.
func serve(t *testing.T, list []images.Image, o registrytest.Options, index func(ref string) bool, layerSizes ...int64) (*registrytest.Registry, []string) {
	t.Helper()
	reg := registrytest.Start(t, o)
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	registries := map[string]bool{}
	for _, img := range list {
		if index(img.Ref) {
			reg.PushIndex(t, img.Ref, registrytest.Index(t, img.Ref, []v1.Platform{host, otherPlatform()}, layerSizes...))
		} else {
			reg.Push(t, img.Ref, registrytest.Image(t, img.Ref, host, layerSizes...))
		}
		registries[img.Ref[:strings.IndexByte(img.Ref, '/')]] = true
	}
	var flags []string
	for _, f := range reg.MirrorFlags(slices.Sorted(maps.Keys(registries))...) {
		flags = append(flags, "--registry-mirror", f)
	}
	return reg, flags
}

// prepareArgs is `prepare` with the world's names and the mirror flags.
func (w *world) prepareArgs(mirrors []string, extra ...string) []string {
	return append(append(append([]string{"prepare"}, w.names()...), mirrors...), extra...)
}

// checkOfflinePods asserts what up --offline promises for every pod of the release: each of its
// containers and init containers pulls IfNotPresent, and its image is on the pod's node, as the
// node's status.images says.
func (w *world) checkOfflinePods(t *testing.T, want []images.Image) {
	t.Helper()
	pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := images.Refs(want)
	checked := 0
	for _, p := range pods.Items {
		node, err := w.cluster.Client.CoreV1().Nodes().Get(w.ctx(t), p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s's node %q: %v", p.Name, p.Spec.NodeName, err)
		}
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			checked++
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("pod %s container %s pulls %s", p.Name, c.Name, c.ImagePullPolicy)
			}
			ref, err := images.Normalize(c.Image)
			if err != nil || !slices.Contains(refs, ref) {
				t.Errorf("pod %s container %s runs %s (%v), which svcgraph images did not list", p.Name, c.Name, c.Image, err)
			}
			if !nodeHas(node, ref) {
				t.Errorf("pod %s container %s: %s is not in node %s's status.images", p.Name, c.Name, ref, node.Name)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no containers in namespace %s", w.Namespace)
	}
	t.Logf("%d containers of %d pods pull IfNotPresent and find their image on the node", checked, len(pods.Items))
}

func nodeHas(n *corev1.Node, ref string) bool {
	for _, img := range n.Status.Images {
		if slices.Contains(img.Names, ref) {
			return true
		}
	}
	return false
}

// TestPrepareThenUpOffline: prepare pulls every image through the mirrors (the charts too); the
// registry goes away; up --offline installs from the cache alone, every pod Ready, pulling
// nothing. The bundle prepare wrote then carries the same to a fresh HOME, which installs too.
func TestPrepareThenUpOffline(t *testing.T) {
	w := offlineWorld(t, "offline")
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	if len(list) != 26 {
		t.Errorf("svcgraph images lists %d images for the default pair, want the 26 the issue counts", len(list))
	}
	reg, mirrors := serveImages(t, list, registrytest.Options{}, 16<<10, 4<<10)
	bundle := filepath.Join(t.TempDir(), "workshop.svcgraph")

	r := w.run(t, prepareLimit, w.prepareArgs(mirrors, "--bundle", bundle)...)
	expect(t, r, 0)
	pull := stepLine(t, r, "Pulling images")
	if !strings.Contains(pull, "26 images for linux/"+runtime.GOARCH) {
		t.Errorf("pull line: %q", pull)
	}
	if n := strings.Count(r.stdout, "\npulled "); n != len(list) {
		t.Errorf("%d 'pulled' lines for %d images\n%s", n, len(list), r)
	}
	mustContain(t, r, "Writing the bundle", bundle)
	for digest, n := range reg.BlobGets() {
		if n != 1 {
			t.Errorf("blob %s fetched %d times", digest, n)
		}
	}
	reg.Stop()
	chartRequests := len(w.repo.Requests())

	r = w.run(t, 2*time.Minute, append([]string{"status"}, w.names()...)...)
	expect(t, r, 0)
	mustContain(t, r, "offline (linux/"+runtime.GOARCH+"): ready, the cache holds both charts and all 26 images")

	r = w.run(t, upLimit, w.upArgs("--offline", "--no-forward")...)
	expect(t, r, 0)
	for _, line := range []string{"Checking the image cache", "Loading images into minikube", "Checking the images on the node"} {
		stepLine(t, r, line)
	}
	if strings.Contains(r.stdout, "Adding Helm repositories") {
		t.Errorf("up --offline added Helm repositories (that downloads their index)\n%s", r)
	}
	// up's 10 render checks and the pull-policy check of an offline release.
	if !strings.Contains(stepLine(t, r, "Pulling and patching the charts"), "11 checks passed") {
		t.Errorf("the offline render did not run the pull-policy check as an 11th\n%s", r)
	}
	if n := len(w.repo.Requests()); n != chartRequests {
		t.Errorf("up --offline asked the chart repository: %v", w.repo.Requests()[chartRequests:])
	}
	if calls := countCalls(w.minikubeCalls(t), "image load"); calls < 1 {
		t.Errorf("no minikube image load in the double's log")
	}
	w.podsReady(t)
	w.checkOfflinePods(t, list)

	// Again: everything is on the node, nothing is loaded.
	r = w.run(t, upLimit, w.upArgs("--offline", "--no-forward")...)
	expect(t, r, 0)
	if l := stepLine(t, r, "Loading images into minikube"); !strings.Contains(l, "all 26 images are on the node already") {
		t.Errorf("second up --offline: %q", l)
	}

	// The node has room for one demo: this one goes before the bundle's laptop installs its own.
	w.teardown(t)
	t.Run("bundle under a fresh HOME", func(t *testing.T) {
		// The same chart repositories: the bundle's charts are cached under their URLs.
		b := newWorld(t, "bundle", withEnv("MINIKUBE_DOUBLE_NODE_IMAGES=true",
			"SVCGRAPH_DEMO_REPO="+w.repo.RepoURL("open-telemetry"), "SVCGRAPH_TEMPO_REPO="+w.repo.RepoURL("grafana-community")))
		t.Cleanup(func() { b.teardown(t) })
		r := b.run(t, prepareLimit, append(append([]string{"prepare"}, b.names()...), "--from-bundle", bundle)...)
		expect(t, r, 0)
		if l := stepLine(t, r, "Importing the bundle"); !strings.Contains(l, "2 charts and 26 images") {
			t.Errorf("import line: %q", l)
		}
		r = b.run(t, upLimit, b.upArgs("--offline", "--no-forward")...)
		expect(t, r, 0)
		if n := len(w.repo.Requests()); n != chartRequests {
			t.Errorf("the bundle's laptop asked the chart repository: %v", w.repo.Requests()[chartRequests:])
		}
		b.podsReady(t)
		b.checkOfflinePods(t, list)
	})
}

// An image missing from the cache: up --offline names it, says to run prepare, and installs
// nothing. Bundles that are corrupt, cut short, of another bundle format or for another platform
// are refused with their exit codes and import nothing.
func TestOfflineRefusals(t *testing.T) {
	w := offlineWorld(t, "offmiss")
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	reg, mirrors := serveImages(t, list, registrytest.Options{}, 8<<10)
	bundle := filepath.Join(t.TempDir(), "workshop.svcgraph")
	expect(t, w.run(t, prepareLimit, w.prepareArgs(mirrors, "--bundle", bundle)...), 0)
	reg.Stop()

	// Drop one layer of redis from the cache.
	victim := "docker.io/library/redis:7.2-alpine"
	cache := images.OpenCache(filepath.Join(w.dir, "cache", "svcgraph"))
	e, err := cache.Find(victim, images.HostPlatform(runtime.GOARCH))
	if err != nil || e == nil {
		t.Fatalf("%s is not in the cache: %v", victim, err)
	}
	removeALayer(t, cache, *e)
	r := w.run(t, upLimit, w.upArgs("--offline", "--no-forward")...)
	expect(t, r, 70)
	mustContain(t, r, "OFFLINE_NOT_PREPARED", victim, "svcgraph prepare")
	w.unchanged(t)
	if calls := countCalls(w.minikubeCalls(t), "image load"); calls != 0 {
		t.Errorf("images were loaded although one was missing")
	}
	r = w.run(t, 2*time.Minute, append([]string{"status"}, w.names()...)...)
	mustContain(t, r, "not ready: 1 of 26 images are not in the cache ("+victim+")")

	// A bundle for the laptops of the other platform, made by the real command.
	other := otherPlatform()
	foreign := filepath.Join(t.TempDir(), "other-platform.svcgraph")
	_, bothMirrors := serveBothPlatforms(t, list, 8<<10)
	expect(t, w.run(t, prepareLimit, w.prepareArgs(bothMirrors, "--platform", other.String(), "--bundle", foreign)...), 0)

	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		bundle func() []byte
		kind   reason.Kind
		says   string
	}{
		{"corrupt", func() []byte { return flipped(data, len(data)/2) }, reason.BundleInvalid, "corrupt"},
		{"truncated", func() []byte { return data[:len(data)*2/3] }, reason.BundleInvalid, "truncated"},
		// A later svcgraph's bundle, whole and summed: refused for its format alone.
		{"another format", func() []byte {
			return bundletest.RewriteManifest(t, data, func(m *images.BundleManifest) {
				m.Format, m.SvcgraphVersion = "svcgraph-bundle/v2", "9.9.9"
			})
		}, reason.BundleInvalid, `format "svcgraph-bundle/v2" (made by svcgraph 9.9.9)`},
		{"another platform", func() []byte {
			raw, err := os.ReadFile(foreign)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}, reason.BundlePlatform, "holds images for " + other.String() + ", and this machine's minikube node is linux/" + runtime.GOARCH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := offlineWorld(t, "badbundle")
			file := filepath.Join(t.TempDir(), "workshop.svcgraph")
			if err := os.WriteFile(file, tc.bundle(), 0o644); err != nil {
				t.Fatal(err)
			}
			r := b.run(t, prepareLimit, append(append([]string{"prepare"}, b.names()...), "--from-bundle", file)...)
			expect(t, r, tc.kind.ExitCode)
			mustContain(t, r, tc.kind.ID, tc.says, "Nothing was imported")
			r = b.run(t, 2*time.Minute, append([]string{"status"}, b.names()...)...)
			mustContain(t, r, "offline (linux/"+runtime.GOARCH+"): not ready")
			if blobs, _ := filepath.Glob(filepath.Join(b.dir, "cache", "svcgraph", "images", "blobs", "sha256", "*")); len(blobs) > 0 {
				t.Errorf("a refused bundle left %d blobs in the cache", len(blobs))
			}
		})
	}
}

func flipped(data []byte, at int) []byte {
	out := slices.Clone(data)
	out[at] ^= 0x40
	return out
}

// removeALayer deletes the last layer of a cached image, as a user cleaning disk space might.
func removeALayer(t *testing.T, cache *images.Cache, e images.Entry) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cache.Dir, "blobs", "sha256", e.Manifest.Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest of %s: %v", e.Ref, err)
	}
	if err := os.Remove(filepath.Join(cache.Dir, "blobs", "sha256", m.Layers[len(m.Layers)-1].Digest.Hex)); err != nil {
		t.Fatal(err)
	}
}
