package images

import (
	"errors"
	"runtime"
	"syscall"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// writeError says why the cache cannot be written, as chartmod does for the chart cache
// (CACHE_UNWRITABLE): no room on the disk (or over a quota or a file size limit), or anything else.
// Every file appears in the cache whole, through a rename, so what it holds stays usable.
func writeError(err error, path string) error {
	if isNoSpace(err) {
		return reason.Wrap(reason.CacheUnwritable, err,
			"Free disk space (or point XDG_CACHE_HOME at a larger disk), then run the command again: what is in the cache stays usable.",
			"no room left to write %s", path)
	}
	return reason.Wrap(reason.CacheUnwritable, err, "", "cannot write %s", path)
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
