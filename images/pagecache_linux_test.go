package images

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// evict drops file's pages from the page cache (POSIX_FADV_DONTNEED, after an fsync: dirty pages
// stay), so the next read comes from the disk, as a bundle on a USB stick freshly plugged in is
// read. It checks with mincore that they went: on tmpfs they cannot, and the benchmark skips.
func evict(b *testing.B, file string) {
	b.Helper()
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	pages := make([]byte, (len(mem)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&pages[0]))); errno != 0 {
		b.Fatal(errno)
	}
	resident := 0
	for _, p := range pages {
		resident += int(p & 1)
	}
	if resident*100 > len(pages) {
		b.Skipf("%s: %d of %d pages still in memory after POSIX_FADV_DONTNEED (tmpfs?): no cold read to measure here", file, resident, len(pages))
	}
}
