package steps

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// loadBatchBytes bounds the archives written for one `minikube image load`: one run per image
// would start minikube 26 times, one run for all would need the cache's size again on disk.
const loadBatchBytes = 1 << 30

// LoadImages loads the cached images the node lacks into minikube (`minikube image load` of
// archives written from the cache), skipping those `minikube image ls` already lists.
type LoadImages struct{}

func (LoadImages) ID() string    { return "load-images" }
func (LoadImages) Title() string { return "Loading images into minikube" }

func (LoadImages) Run(ctx context.Context, s *Session) error {
	profile := s.Config.Profile
	listed, err := s.Minikube.ImageList(ctx, profile)
	if err != nil {
		return err
	}
	missing := images.NotOnNode(listed, s.Cached)
	if len(missing) == 0 {
		s.Result(fmt.Sprintf("all %d images are on the node already", len(s.Cached)))
		return nil
	}
	cache := s.imageCache()
	dir, err := cache.TempDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sizes := map[string]int64{}
	var total, done int64
	for _, e := range missing {
		sizes[e.Ref] = cache.Size(e)
		total += sizes[e.Ref]
	}
	loaded, runs, count := 0, 0, len(missing)
	for len(missing) > 0 {
		var batch []images.Entry
		var files []string
		var bytes int64
		for len(missing) > 0 && (len(batch) == 0 || bytes+sizes[missing[0].Ref] <= loadBatchBytes) {
			e := missing[0]
			missing = missing[1:]
			s.Transfer(Transfer{BytesDone: done + bytes, BytesTotal: total, ItemsDone: loaded, ItemsTotal: count, Items: "images"})
			file, err := cache.WriteArchiveFile(ctx, dir, e)
			if err != nil {
				return err
			}
			batch, files, bytes = append(batch, e), append(files, file), bytes+sizes[e.Ref]
		}
		s.Progress(fmt.Sprintf("minikube image load of %d images (%s)", len(batch), Bytes(bytes)))
		if err := s.Minikube.ImageLoad(ctx, profile, files); err != nil {
			return err
		}
		for _, f := range files {
			_ = os.Remove(f)
		}
		for _, e := range batch {
			s.Info(fmt.Sprintf("loaded %s (%s)", e.Ref, Bytes(sizes[e.Ref])))
		}
		loaded, done, runs = loaded+len(batch), done+bytes, runs+1
	}
	s.Result(fmt.Sprintf("loaded %d images (%s) in %d minikube image load run(s); %d were on the node already",
		loaded, Bytes(total), runs, len(s.Cached)-loaded))
	return nil
}

// ImagesOnNode makes sure every image of the release is on the node before the install: minikube
// exits 0 even when the node's runtime refused an archive, so only its image list can tell.
type ImagesOnNode struct{}

func (ImagesOnNode) ID() string    { return "images-on-node" }
func (ImagesOnNode) Title() string { return "Checking the images on the node" }

func (ImagesOnNode) Run(ctx context.Context, s *Session) error {
	listed, err := s.Minikube.ImageList(ctx, s.Config.Profile)
	if err != nil {
		return err
	}
	if missing := images.NotOnNode(listed, s.Cached); len(missing) > 0 {
		var refs []string
		for _, e := range missing {
			refs = append(refs, e.Ref)
		}
		return reason.New(reason.ImageNotOnNode, "",
			"%d image(s) are not on minikube's node after loading, so the release would try to pull them: %s", len(refs), strings.Join(refs, ", "))
	}
	s.Result(fmt.Sprintf("all %d images of the release are on the node", len(s.Cached)))
	return nil
}
