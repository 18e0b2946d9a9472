package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/images"
)

// CheckImageCache makes sure the image cache holds every image of the rendered release for the
// node's platform, before up --offline changes anything: a missing one is named, with what to do.
type CheckImageCache struct{}

func (CheckImageCache) ID() string    { return "image-cache" }
func (CheckImageCache) Title() string { return "Checking the image cache" }

func (CheckImageCache) Run(ctx context.Context, s *Session) error {
	list, err := s.releaseImages()
	if err != nil {
		return err
	}
	p, _, err := s.Config.workshop()
	if err != nil {
		return err
	}
	cov, err := s.imageCache().Cover(images.Refs(list), p)
	if err != nil {
		return err
	}
	if err := cov.Err(p); err != nil {
		return err
	}
	s.Cached = cov.Present
	s.Result(fmt.Sprintf("all %d images for %s in the cache (%s)", len(list), p, Bytes(cov.Bytes)))
	return nil
}
