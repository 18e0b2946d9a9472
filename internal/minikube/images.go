package minikube

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/svcgraph/svcgraph/internal/english"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// ListedImage is one image of `minikube image ls --format json`: minikube's cruntime.ListImage,
// which is what the node's runtime reports (crictl images for containerd, CRI-O and cri-dockerd).
type ListedImage struct {
	ID          string   `json:"id"`
	RepoDigests []string `json:"repoDigests"`
	RepoTags    []string `json:"repoTags"`
	Size        string   `json:"size"` // bytes, as a decimal string
}

// ImageList returns the images on the profile's running nodes. A profile that is not running
// lists none (minikube asks only running machines).
func (d Driver) ImageList(ctx context.Context, profile string) ([]ListedImage, error) {
	res, err := d.run(ctx, "image", "ls", "--format", "json", "-p", profile)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, reason.Ensure(reason.MinikubeFailed, err, "", "minikube could not list the images of profile %q", profile)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if i := strings.IndexByte(out, '['); i >= 0 { // skip anything printed before the JSON
		out = out[i:]
	}
	var list []ListedImage
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, reason.Wrap(reason.MinikubeFailed, err, "", "reading `minikube image ls --format json -p %s` (output: %.200q)", profile, out)
	}
	return list, nil
}

// ImageLoad loads image archives into the profile's running nodes. minikube exits 0 even when a
// node's runtime refused an archive (machine.DoLoadImages logs the failure and returns nil), so
// only ImageList can tell whether the images arrived.
func (d Driver) ImageLoad(ctx context.Context, profile string, archives []string) error {
	args := append([]string{"image", "load", "-p", profile}, archives...)
	_, err := d.run(ctx, args...)
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return reason.Ensure(reason.ImageLoad, err, "", "minikube could not load %s into profile %q", english.Count(len(archives), "image archive"), profile)
}
