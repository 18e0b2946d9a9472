package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/svcgraph/svcgraph/images"
)

// transferTick is how often a transfer's bar and JSON progress are refreshed.
const transferTick = 500 * time.Millisecond

// PullImages pulls every image of the rendered release into the image cache, by digest, for the
// node's platform, through the configured mirrors; what the cache has already is not fetched.
type PullImages struct{}

func (PullImages) ID() string    { return "images" }
func (PullImages) Title() string { return "Pulling images" }

func (PullImages) Run(ctx context.Context, s *Session) error {
	list, err := s.releaseImages()
	if err != nil {
		return err
	}
	p, mirrors, err := s.Config.workshop()
	if err != nil {
		return err
	}
	for _, m := range mirrors {
		s.Debug(fmt.Sprintf("pulling %s images through %s", m.Registry, m))
	}
	prog := &images.Progress{}
	stop := s.showTransfer(func() Transfer {
		return Transfer{BytesDone: prog.BytesDone.Load(), BytesTotal: prog.Bytes.Load(),
			ItemsDone: int(prog.ImagesDone.Load()), ItemsTotal: int(prog.Images.Load()), Items: "images"}
	})
	pulled, err := s.imageCache().Pull(ctx, images.Refs(list), images.PullOptions{
		Platform: p, Mirrors: mirrors, Workers: s.Config.Workers, Progress: prog, Warn: s.Warn,
		Done: func(r images.Pulled) {
			if r.Fetched > 0 {
				s.Info(fmt.Sprintf("pulled %s (%s)", r.Ref, Bytes(r.Size)))
			} else {
				s.Debug(fmt.Sprintf("%s is in the cache already (%s)", r.Ref, Bytes(r.Size)))
			}
		},
	})
	stop()
	if err != nil {
		return err
	}
	var size int64
	s.Cached = nil
	for _, r := range pulled {
		size += r.Size
		s.Cached = append(s.Cached, r.Entry)
	}
	if fetched := prog.BytesDone.Load(); fetched > 0 {
		s.Result(fmt.Sprintf("%d images for %s (%s), fetched %s with %d workers", len(list), p, Bytes(size), Bytes(fetched), s.Config.Workers))
	} else {
		s.Result(fmt.Sprintf("%d images for %s (%s), all in the cache already", len(list), p, Bytes(size)))
	}
	return nil
}

// showTransfer refreshes the running step's transfer from now until the returned stop is called.
func (s *Session) showTransfer(read func() Transfer) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(transferTick)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				s.Transfer(read())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
