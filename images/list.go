// Package images is svcgraph's workshop mode: which container images a patched release runs (from
// the client-only render chartmod produces), pulling them by digest into an OCI image layout in
// svcgraph's cache (through registry mirrors, for one platform, with bounded workers, resumable),
// writing the archives `minikube image load` takes, and bundles that carry charts and images to
// laptops without a network. It is the only package that talks to a container registry, and it
// does so through go-containerregistry.
package images

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// dockerHub is how svcgraph (and Docker, containerd and the kubelet) spell Docker Hub in a full
// reference; go-containerregistry calls it index.docker.io.
const dockerHub = "docker.io"

// Image is one image the release runs.
type Image struct {
	Ref        string   `json:"image"`      // full reference: docker.io/library/busybox:latest
	PullPolicy string   `json:"pullPolicy"` // the most eager of its containers' (Always before IfNotPresent before Never)
	UsedBy     []string `json:"usedBy"`     // "Deployment/x container y", in render order
}

// List returns every distinct image of the rendered release, normalised to full references and
// sorted by reference.
func List(r *chartmod.Rendered) ([]Image, error) {
	containers, err := r.Containers()
	if err != nil {
		return nil, err
	}
	byRef := map[string]*Image{}
	var out []*Image
	for _, c := range containers {
		ref, err := Normalize(c.Image)
		if err != nil {
			return nil, reason.Wrap(reason.ChartCheck, err, "Check your -f/--set values: every image must be a valid reference.",
				"%s container %s has image %q", c.Workload, c.Name, c.Image)
		}
		img, ok := byRef[ref]
		if !ok {
			img = &Image{Ref: ref}
			byRef[ref] = img
			out = append(out, img)
		}
		img.UsedBy = append(img.UsedBy, fmt.Sprintf("%s container %s", c.Workload, c.Name))
		if p := c.EffectivePullPolicy(); eagerness(p) > eagerness(img.PullPolicy) {
			img.PullPolicy = p
		}
	}
	slices.SortFunc(out, func(a, b *Image) int { return strings.Compare(a.Ref, b.Ref) })
	list := make([]Image, len(out))
	for i, img := range out {
		list[i] = *img
	}
	return list, nil
}

func eagerness(policy string) int {
	return map[string]int{chartmod.PullNever: 1, chartmod.PullIfNotPresent: 2, chartmod.PullAlways: 3}[policy]
}

// Normalize turns an image reference as a pod spec may write it into the full form the kubelet
// and container runtimes use: busybox:latest → docker.io/library/busybox:latest, busybox →
// docker.io/library/busybox:latest, a digest kept as repo@sha256:….
func Normalize(image string) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", err
	}
	return fullName(ref), nil
}

// fullName formats a parsed reference with Docker Hub spelt docker.io.
func fullName(ref name.Reference) string {
	sep := ":"
	if _, ok := ref.(name.Digest); ok {
		sep = "@"
	}
	return repoName(ref.Context()) + sep + ref.Identifier()
}

func repoName(repo name.Repository) string {
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + repo.RepositoryStr()
}

// Refs returns the references of a list, in its order.
func Refs(list []Image) []string {
	refs := make([]string, len(list))
	for i, img := range list {
		refs[i] = img.Ref
	}
	return refs
}
