package e2e

// The architecture part of the "cluster fits" step, on a cluster whose only node is arm64: the
// release's images live in a real registry on loopback, reached through --registry-mirror.

import (
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/registrytest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// serveForPlatforms starts a registry holding every image of list as an index of amd64 and
// arm64 builds, except amd64Only, a single amd64 image; it returns the registry and the
// --registry-mirror flags that reach it.
func serveForPlatforms(t *testing.T, list []images.Image, amd64Only string) (*registrytest.Registry, []string) {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	amd64, arm64 := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64"}
	seen := map[string]bool{}
	var flags []string
	for _, img := range list {
		if img.Ref == amd64Only {
			reg.Push(t, img.Ref, registrytest.Image(t, img.Ref, amd64, 1<<10))
		} else {
			reg.PushIndex(t, img.Ref, registrytest.Index(t, img.Ref, []v1.Platform{amd64, arm64}, 1<<10))
		}
		if r := img.Ref[:strings.IndexByte(img.Ref, '/')]; !seen[r] {
			seen[r] = true
			for _, f := range reg.MirrorFlags(r) {
				flags = append(flags, "--registry-mirror", f)
			}
		}
	}
	return reg, flags
}

// TestArchitecture: an image without an arm64 build is refused on an arm64 node, named, with
// nothing installed; once the registry has one, up installs and says every image runs there;
// with the registry gone, up says the check was skipped and goes on.
func TestArchitecture(t *testing.T) {
	w := newWorld(t, "arch", without("minikube"), onNodes(testcluster.Node{Name: "arm-1", CPUs: "8", Memory: "16Gi", Arch: "arm64"}))
	w.useContext(t, "graviton", nil)
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	victim := list[len(list)/2].Ref
	reg, mirrors := serveForPlatforms(t, list, victim)

	r := w.run(t, upLimit, w.upArgs(append([]string{"--no-forward"}, mirrors...)...)...)
	expect(t, r, 83)
	mustContain(t, r, "CLUSTER_UNSUPPORTED_ARCH", "nothing was installed",
		"image "+victim+" has no linux/arm64 build (it has linux/amd64): node arm-1")
	if n := strings.Count(r.output(), "has no linux/arm64 build"); n != 1 {
		t.Errorf("%d images named as lacking an arm64 build, want only %s\n%s", n, victim, r)
	}
	w.unchanged(t)

	t.Run("every image has an arm64 build", func(t *testing.T) {
		reg.PushIndex(t, victim, registrytest.Index(t, victim, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, 1<<10))
		r := w.run(t, upLimit, w.upArgs(append([]string{"--no-forward"}, mirrors...)...)...)
		expect(t, r, 0)
		if l := stepLine(t, r, "Checking that the cluster fits"); !strings.Contains(l, "all 26 images run on linux/arm64") {
			t.Errorf("fit step %q, want every image checked against linux/arm64", l)
		}
		w.podsReady(t)
	})

	t.Run("the registry gone", func(t *testing.T) {
		reg.Stop()
		r := w.run(t, upLimit, w.upArgs(append([]string{"--no-forward"}, mirrors...)...)...)
		expect(t, r, 0)
		mustContain(t, r, "warning: could not ask the registries which platforms the images are built for", "is not checked")
		if l := stepLine(t, r, "Checking that the cluster fits"); !strings.Contains(l, "architecture not checked (registries unreachable)") {
			t.Errorf("fit step %q, want the skipped check said", l)
		}
	})
}

// TestArchitectureOffline: under --offline the check reads the platform the image cache holds
// (prepare pulled this machine's) instead of asking registries, which are gone. On a minikube
// node of the other architecture every image is named, nothing is loaded into the node and
// nothing is installed.
func TestArchitectureOffline(t *testing.T) {
	host, other := "linux/"+runtime.GOARCH, otherPlatform()
	node := testcluster.Nodes(1, "8", "16Gi")[0]
	node.Arch = other.Architecture
	w := newWorld(t, "archoff", onNodes(node), withEnv("MINIKUBE_DOUBLE_NODE_IMAGES=true", "MINIKUBE_DOUBLE_NODE_ARCH="+other.Architecture))
	t.Cleanup(func() { w.teardown(t) })
	list := w.releaseImages(t)
	reg, mirrors := serveImages(t, list, registrytest.Options{}, 1<<10)
	expect(t, w.run(t, prepareLimit, w.prepareArgs(mirrors)...), 0)
	reg.Stop()

	r := w.run(t, upLimit, w.upArgs("--offline", "--no-forward")...)
	expect(t, r, 83)
	mustContain(t, r, "CLUSTER_UNSUPPORTED_ARCH", "nothing was installed",
		"has no "+other.OS+"/"+other.Architecture+" build (it has "+host+"): node "+node.Name)
	if n, want := strings.Count(r.output(), "build (it has "+host+")"), len(list); n != want {
		t.Errorf("%d images named as lacking a %s build, want all %d\n%s", n, other.Architecture, want, r)
	}
	w.unchanged(t)
	if calls := countCalls(w.minikubeCalls(t), "image load"); calls != 0 {
		t.Errorf("%d `minikube image load` runs for images the node cannot run", calls)
	}
}
