package images

import (
	"os"
	"strings"

	"github.com/svcgraph/svcgraph/internal/minikube"
)

// NotOnNode returns the entries whose image the node does not have, by what the node's runtime
// lists (`minikube image ls`). The kubelet looks an image up by the reference a pod names, so
// the reference must be listed (in any spelling: docker's busybox:latest is containerd's
// docker.io/library/busybox:latest); a runtime that also lists repo digests must list the cached
// manifest's, or the node holds another image under that tag.
func NotOnNode(listed []minikube.ListedImage, want []Entry) []Entry {
	tags := map[string]bool{}
	digests := map[string]map[string]bool{} // repository → manifest digests
	for _, img := range listed {
		for _, t := range img.RepoTags {
			if n, err := Normalize(t); err == nil {
				tags[n] = true
			}
		}
		for _, d := range img.RepoDigests {
			if n, err := Normalize(d); err == nil {
				repo, digest, _ := strings.Cut(n, "@")
				if digests[repo] == nil {
					digests[repo] = map[string]bool{}
				}
				digests[repo][digest] = true
				tags[n] = true // a pod may name the image by digest
			}
		}
	}
	var missing []Entry
	for _, e := range want {
		known := digests[repository(e.Ref)]
		if !tags[e.Ref] || (len(known) > 0 && !known[e.Manifest.Digest.String()]) {
			missing = append(missing, e)
		}
	}
	return missing
}

// repository is a full reference without its tag or digest.
func repository(ref string) string {
	if repo, _, ok := strings.Cut(ref, "@"); ok {
		return repo
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// TempDir makes a directory for load archives beside the cache (on its disk, which has room for
// images), removed by the caller.
func (c *Cache) TempDir() (string, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", writeError(err, c.Dir)
	}
	dir, err := os.MkdirTemp(c.Dir, ".load-")
	if err != nil {
		return "", writeError(err, c.Dir)
	}
	return dir, nil
}
