package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/english"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// The architecture check reads manifests only (a few KB per image, kept in the image cache by
// digest, so a re-run sends one HEAD per image), so it is quick when the registries answer; when
// they do not, up must not wait long for a check it can skip.
const (
	archCheckTimeout   = 20 * time.Second
	archRequestTimeout = 10 * time.Second
)

// archMisfit compares the architectures of the nodes pods may go to with the platforms the
// release's images offer: read from the registries (through --registry-mirror) or, under
// --offline, the platform the image cache holds them for (what will be loaded). Registries that
// cannot be asked leave their images unchecked, with a notice: the step still passes.
func (s *Session) archMisfit(ctx context.Context, f *kube.Facts) (*misfit, string, error) {
	if f.NodesHidden != nil {
		return nil, "architecture not checked (nodes hidden from this user)", nil
	}
	nodes := nodePlatforms(f.Nodes)
	if len(nodes) == 0 {
		return nil, "architecture not checked (no node names one)", nil
	}
	list, err := s.releaseImages()
	if err != nil {
		return nil, "", err
	}
	offers, err := s.imageOffers(ctx, list)
	if err != nil {
		return nil, "", err
	}
	var platforms []images.Platform
	for p := range nodes {
		platforms = append(platforms, p)
	}
	slices.SortFunc(platforms, func(a, b images.Platform) int { return strings.Compare(a.String(), b.String()) })
	m := &misfit{kind: reason.ClusterArch,
		advice: "Use nodes of an architecture every image is built for, or point the images named above at builds for your nodes in your -f/--set values."}
	var unchecked []images.Offer
	for _, o := range offers {
		if o.Err != nil {
			unchecked = append(unchecked, o)
			continue
		}
		for _, p := range platforms {
			if !o.Runs(p) {
				m.lines = append(m.lines, fmt.Sprintf("image %s has no %s build (it has %s): %s %s", o.Ref, p, offered(o),
					english.Noun(len(nodes[p]), "node"), strings.Join(nodes[p], ", ")))
			}
		}
	}
	if len(m.lines) > 0 {
		return m, "", nil
	}
	var names []string
	for _, p := range platforms {
		names = append(names, p.String())
	}
	on := strings.Join(names, " and ")
	switch {
	case len(unchecked) == len(offers):
		s.Warn(fmt.Sprintf("could not ask the registries which platforms the images are built for (%v); the nodes' architecture (%s) is not checked", unchecked[0].Err, on))
		return nil, "architecture not checked (registries unreachable)", nil
	case len(unchecked) > 0:
		s.Warn(fmt.Sprintf("could not ask the registries about %s (%v, …); those are not checked against the nodes' architecture", english.Count(len(unchecked), "image"), unchecked[0].Err))
		return nil, fmt.Sprintf("%d of %d images run on %s", len(offers)-len(unchecked), len(offers), on), nil
	}
	return nil, fmt.Sprintf("all %d images run on %s", len(offers), on), nil
}

// imageOffers are the platforms each image offers: the network's answer, or under --offline
// the cache's (the entries CheckImageCache found, which are what LoadImages loads).
func (s *Session) imageOffers(ctx context.Context, list []images.Image) ([]images.Offer, error) {
	if s.Config.Offline {
		var out []images.Offer
		for _, e := range s.Cached {
			out = append(out, images.Offer{Ref: e.Ref, Platforms: []images.Platform{e.Platform}})
		}
		return out, nil
	}
	_, mirrors, err := s.Config.workshop()
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, archCheckTimeout)
	defer cancel()
	offers := images.Offers(actx, images.Refs(list), images.OfferOptions{
		Mirrors: mirrors, Workers: images.DefaultWorkers, RequestTimeout: archRequestTimeout, Memo: s.imageCache()})
	if err := ctx.Err(); err != nil {
		return nil, err // Ctrl-C, not a registry's silence
	}
	return offers, nil
}

// nodePlatforms groups the nodes new pods may go to by platform (kubernetes.io/os, linux when
// unlabelled, and the architecture).
func nodePlatforms(nodes []kube.NodeFacts) map[images.Platform][]string {
	out := map[images.Platform][]string{}
	for _, n := range nodes {
		if !n.Schedulable || n.Arch == "" {
			continue
		}
		os := n.Labels["kubernetes.io/os"]
		if os == "" {
			os = "linux"
		}
		p := images.Platform{OS: os, Architecture: n.Arch}
		out[p] = append(out[p], n.Name)
	}
	return out
}

// offered lists an image's platforms for a message.
func offered(o images.Offer) string {
	var names []string
	for _, p := range o.Platforms {
		names = append(names, p.String())
	}
	return orNone(names)
}
