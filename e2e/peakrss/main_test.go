//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/svcgraph/svcgraph/internal/minikubetest"
)

// Why peakrss exists, and that it works: from this test process, made large (300 MiB touched),
// wait4's ru_maxrss of a child `cp` is this process's peak, not cp's; through peakrss it is cp's
// own few MiB.
func TestPeakRSSIsTheChilds(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "peakrss")
	if out, err := exec.Command(minikubetest.GoTool(), "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ballast := make([]byte, 300<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	direct := exec.Command("cp", src, filepath.Join(dir, "a"))
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	directKiB := direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	report := filepath.Join(dir, "rss")
	if out, err := exec.Command(tool, report, "cp", src, filepath.Join(dir, "b")).CombinedOutput(); err != nil {
		t.Fatalf("peakrss cp: %v\n%s", err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cp's peak RSS: %d KiB through wait4 of this process, %d KiB through peakrss", directKiB, kib)
	if directKiB < 300<<10 {
		t.Errorf("wait4 from a 300 MiB process gave cp %d KiB: the inherited high-water mark is gone, and peakrss may be unneeded", directKiB)
	}
	if kib <= 0 || kib > 20<<10 {
		t.Errorf("cp's peak RSS through peakrss: %d KiB, want a few MiB", kib)
	}
	if ballast[len(ballast)-1] != 1 {
		t.Fatal("ballast")
	}

	// The command's exit code comes through.
	err = exec.Command(tool, report, "sh", "-c", "exit 3").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("peakrss sh -c 'exit 3': %v, want exit code 3", err)
	}
}
