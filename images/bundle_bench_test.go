package images

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/registrytest"
)

// BenchmarkImportBundle imports a 96 MB bundle (four images, layers of 1 KB to 48 MB, as real
// images mix them) into an empty cache; BenchmarkCopyBundle copies the same file with io.Copy,
// what `cp` does. Issue 17's goal is import ≥ 0.5× of copy's speed (BENCHMARKS.md). Both read
// the bundle from the page cache, the worst case for the import: the copy is then a memory copy,
// while the import still hashes every byte (SHA-256, about 1.45 GB/s per core here). The Cold
// pair first drops the bundle from the page cache (Linux), so both read it from the disk, as
// from a USB stick. All report the CPU time they used per operation (cpu-ms/op, all threads): on
// a shared machine the wall time says how busy the others are, the CPU time what the work costs.
//
//	go test ./images -run '^$' -bench 'Bundle' -benchtime 5x
func BenchmarkImportBundle(b *testing.B)     { benchImport(b, false) }
func BenchmarkCopyBundle(b *testing.B)       { benchCopy(b, false) }
func BenchmarkImportBundleCold(b *testing.B) { benchImport(b, true) }
func BenchmarkCopyBundleCold(b *testing.B)   { benchCopy(b, true) }

func benchImport(b *testing.B, cold bool) {
	file := benchBundle(b)
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		if cold {
			evict(b, file)
		}
		b.StartTimer()
		start := processCPU()
		if _, err := importBundle(dir, file, amd64); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - start
	}
	reportCPU(b, cpu)
}

func benchCopy(b *testing.B, cold bool) {
	file := benchBundle(b)
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		dst := filepath.Join(b.TempDir(), "copy")
		if cold {
			evict(b, file)
		}
		b.StartTimer()
		start := processCPU()
		if err := copyFile(file, dst); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - start
	}
	reportCPU(b, cpu)
}

func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// benchBundle writes the benchmarks' bundle and sets the bytes per operation to its size.
func benchBundle(b *testing.B) string {
	b.Helper()
	reg := registrytest.Start(b, registrytest.Options{BlobDir: filepath.Join(b.TempDir(), "registry")})
	var refs []string
	for i, sizes := range [][]int64{{48 << 20, 1 << 10}, {24 << 20, 8 << 20, 2 << 10}, {12 << 20, 3 << 20}, {1 << 20}} {
		ref := "docker.io/library/bench:" + string(rune('a'+i))
		reg.Push(b, ref, registrytest.Image(b, ref, amd64.v1(), sizes...))
		refs = append(refs, ref)
	}
	mirrors := mirrorsTo(b, reg, "docker.io")
	dir, charts, entries := preparedCache(b, amd64, refs, mirrors)
	file := writeBundle(b, dir, charts, entries)
	st, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	return file
}
