package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/faultydir"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// A disk that fills up during a pull: the error says so and what to do, no partial blob is left,
// and what the cache held before is still whole and usable.
func TestPullOnAFullDisk(t *testing.T) {
	var (
		refs    []string
		mirrors []Mirror
	)
	faultydir.Run(t, "full", func(t *testing.T, dir string) {
		_, refs, mirrors = testRegistry(t)
		// busybox while there is room.
		if _, err := OpenCache(dir).Pull(context.Background(), refs[:1], PullOptions{Platform: amd64, Mirrors: mirrors}); err != nil {
			t.Fatalf("pull before the disk filled: %v", err)
		}
	}, func(t *testing.T, dir string) {
		c := OpenCache(dir)
		_, err := c.Pull(context.Background(), refs, PullOptions{Platform: amd64, Mirrors: mirrors, Workers: 2})
		if err == nil {
			t.Fatal("pull into a full disk succeeded")
		}
		e := reason.Of(err)
		if e == nil || e.Kind != reason.CacheUnwritable || !strings.Contains(err.Error(), "no room left") || !strings.Contains(e.Advise(), "Free disk space") {
			t.Fatalf("pull into a full disk: %v (%+v), want CACHE_UNWRITABLE saying there is no room and to free space", err, e)
		}
		files, _ := os.ReadDir(filepath.Join(c.Dir, "blobs", "sha256"))
		for _, f := range files {
			if strings.HasPrefix(f.Name(), partialPrefix) {
				t.Errorf("a partial blob was left: %s", f.Name())
			}
		}
		cov, err := c.Cover(refs[:1], amd64)
		if err != nil || len(cov.Missing) > 0 {
			t.Errorf("busybox, cached before the disk filled: %+v, %v", cov, err)
		}
	})
}
