//go:build !linux

package images

import "testing"

// evict needs Linux's POSIX_FADV_DONTNEED and mincore; elsewhere the cold benchmarks skip.
func evict(b *testing.B, file string) {
	b.Skip("dropping one file from the page cache is implemented for Linux only")
}
