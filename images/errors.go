package images

import (
	"errors"
	"runtime"
	"syscall"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// writeError classifies a failed write into the cache: no room on the disk (or over a quota or a
// file size limit) is CACHE_NO_SPACE, anything else a cache that cannot be written.
func writeError(err error, path string) error {
	if isNoSpace(err) {
		return reason.Wrap(reason.CacheNoSpace, err, "", "no room left to write %s", path)
	}
	return reason.Wrap(reason.Internal, err, "Check the permissions of svcgraph's cache directory.", "cannot write %s", path)
}

func isNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return true
	}
	// Windows reports ERROR_HANDLE_DISK_FULL (39) and ERROR_DISK_FULL (112).
	var en syscall.Errno
	return runtime.GOOS == "windows" && errors.As(err, &en) && (en == 39 || en == 112)
}

// destError marks an error of the destination of a copy, as opposed to one of its source.
type destError struct{ error }

func (e destError) Unwrap() error { return e.error }
