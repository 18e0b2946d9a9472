package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/registrytest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// archives pulls generated images into an svcgraph image cache and writes the load archives
// svcgraph itself hands to `minikube image load`; one for another architecture too.
func archives(t *testing.T, refs map[string]string) map[string]images.Entry {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	host := images.HostPlatform("amd64")
	for ref, arch := range refs {
		reg.Push(t, ref, registrytest.Image(t, ref, v1.Platform{OS: "linux", Architecture: arch}, 4000, 2000))
	}
	var mirrors []images.Mirror
	for _, f := range reg.MirrorFlags("docker.io", "ghcr.io") {
		m, err := images.ParseMirror(f)
		if err != nil {
			t.Fatal(err)
		}
		mirrors = append(mirrors, m)
	}
	cache := images.OpenCache(t.TempDir())
	out := map[string]images.Entry{}
	dir := t.TempDir()
	for ref, arch := range refs {
		p := host
		p.Architecture = arch
		pulled, err := cache.Pull(context.Background(), []string{ref}, images.PullOptions{Platform: p, Mirrors: mirrors})
		if err != nil {
			t.Fatal(err)
		}
		file, err := cache.WriteArchiveFile(context.Background(), dir, pulled[0].Entry)
		if err != nil {
			t.Fatal(err)
		}
		out[file] = pulled[0].Entry
	}
	return out
}

func fileFor(t *testing.T, arch map[string]images.Entry, ref string) string {
	for f, e := range arch {
		if e.Ref == ref {
			return f
		}
	}
	t.Fatalf("no archive of %s", ref)
	return ""
}

// The double's `image load` and `image ls` as minikube v1.38.1's: JSON shape, exit codes, what a
// stopped profile and a refused archive do (minikube exits 0 either way), and svcgraph's driver
// reads the JSON back.
func TestImageLoadAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra = append(e.extra, "MINIKUBE_DOUBLE_NODE_ARCH=amd64")
	arch := archives(t, map[string]string{"docker.io/library/busybox:latest": "amd64",
		"ghcr.io/open-telemetry/demo:1.9.0-frontend": "amd64", "docker.io/library/redis:7.2-alpine": "arm64"})
	busybox := fileFor(t, arch, "docker.io/library/busybox:latest")
	frontend := fileFor(t, arch, "ghcr.io/open-telemetry/demo:1.9.0-frontend")
	redisArm := fileFor(t, arch, "docker.io/library/redis:7.2-alpine")

	r := e.must(14, "image", "load", "-p", "svcgraph", busybox)
	if !strings.Contains(r.stderr, `Exiting due to MK_USAGE: loading profile: cluster "svcgraph" does not exist`) {
		t.Errorf("load into a missing profile: %q", r.stderr)
	}
	e.must(14, "image", "ls", "--format", "json", "-p", "svcgraph")
	r = e.must(14, "image", "load", "-p", "svcgraph")
	if !strings.Contains(r.stderr, "Please provide an image in your local daemon to load into minikube via <minikube image load IMAGE_NAME>") {
		t.Errorf("load without arguments: %q", r.stderr)
	}

	e.must(0, "start", "-p", "svcgraph", "--cpus", "2", "--memory", "4096")
	if r := e.must(0, "image", "ls", "--format", "json", "-p", "svcgraph"); r.stdout != "[]\n" {
		t.Errorf("no images: %q", r.stdout)
	}
	// A corrupt archive and a missing file are refused by the runtime, and minikube still exits 0.
	corrupt := filepath.Join(t.TempDir(), "corrupt.tar")
	data, _ := os.ReadFile(frontend)
	data[len(data)/2] ^= 0xff
	os.WriteFile(corrupt, data, 0o644)
	e.must(0, "image", "load", "-p", "svcgraph", corrupt, filepath.Join(t.TempDir(), "missing.tar"))
	r = e.must(0, "image", "load", "-p", "svcgraph", redisArm)
	if !strings.Contains(r.stderr, "! The image '"+redisArm+"' does not match arch of the container runtime, use a multi-arch image instead") {
		t.Errorf("another architecture: %q", r.stderr)
	}
	r = e.must(0, "image", "load", "-p", "svcgraph", busybox, frontend)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("load printed %q %q", r.stdout, r.stderr)
	}
	r = e.must(0, "image", "ls", "--format", "json", "-p", "svcgraph")
	var list []minikube.ListedImage
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
		t.Fatalf("image ls json: %q (%v)", r.stdout, err)
	}
	if !strings.HasPrefix(r.stdout, `[{"id":"sha256:`) || !strings.Contains(r.stdout, `"repoDigests":["`) {
		t.Errorf("field order or id form: %s", r.stdout)
	}
	for _, img := range list {
		e := arch[fileFor(t, arch, img.RepoTags[0])]
		repo := img.RepoTags[0][:strings.LastIndex(img.RepoTags[0], ":")]
		if len(img.RepoDigests) != 1 || img.RepoDigests[0] != repo+"@"+e.Manifest.Digest.String() || img.Size == "" {
			t.Errorf("%+v: want repo digest %s@%s", img, repo, e.Manifest.Digest)
		}
	}
	if r := e.must(0, "image", "ls", "-p", "svcgraph"); r.stdout != "ghcr.io/open-telemetry/demo:1.9.0-frontend\ndocker.io/library/busybox:latest\n" {
		t.Errorf("image ls (short): %q", r.stdout)
	}

	// A stopped machine lists nothing and loads nothing; started again, its images are back.
	e.must(0, "stop", "-p", "svcgraph")
	if r := e.must(0, "image", "ls", "--format", "json", "-p", "svcgraph"); r.stdout != "[]\n" {
		t.Errorf("stopped: %q", r.stdout)
	}
	e.must(0, "start", "-p", "svcgraph")
	if r := e.must(0, "image", "list", "--format", "json", "-p", "svcgraph"); !strings.Contains(r.stdout, "busybox") {
		t.Errorf("after restart: %q", r.stdout)
	}
	// Deleted, the profile's images go with it.
	e.must(0, "delete", "-p", "svcgraph")
	e.must(0, "start", "-p", "svcgraph")
	if r := e.must(0, "image", "ls", "--format", "json", "-p", "svcgraph"); r.stdout != "[]\n" {
		t.Errorf("a new profile has images: %q", r.stdout)
	}
}

// Loaded images appear in the node's status.images as a kubelet reports them: repo digests, then
// tags, and the size; images another test loaded stay.
func TestImageLoadReportsOnTheNode(t *testing.T) {
	cl := testcluster.Require(t)
	e := newEnv(t)
	e.src = cl.Kubeconfig
	e.extra = append(e.extra, "MINIKUBE_DOUBLE_NODE_IMAGES=true", "MINIKUBE_DOUBLE_NODE_ARCH=amd64")
	arch := archives(t, map[string]string{"docker.io/library/busybox:latest": "amd64", "docker.io/grafana/tempo:2.4.1": "amd64"})
	e.must(0, "start", "-p", "svcgraph", "--cpus", "2", "--memory", "4096")
	for f := range arch {
		e.must(0, "image", "load", "-p", "svcgraph", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := cl.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	for _, n := range nodes.Items {
		for _, en := range arch {
			repo := en.Ref[:strings.LastIndex(en.Ref, ":")]
			found := false
			for _, img := range n.Status.Images {
				if len(img.Names) == 2 && img.Names[0] == repo+"@"+en.Manifest.Digest.String() && img.Names[1] == en.Ref && img.SizeBytes > 6000 {
					found = true
				}
			}
			if !found {
				t.Errorf("node %s does not report %s: %+v", n.Name, en.Ref, n.Status.Images)
			}
		}
		for i := 1; i < len(n.Status.Images); i++ {
			if n.Status.Images[i].SizeBytes > n.Status.Images[i-1].SizeBytes {
				t.Errorf("node %s's images are not biggest first: %+v", n.Name, n.Status.Images)
			}
		}
	}
}
