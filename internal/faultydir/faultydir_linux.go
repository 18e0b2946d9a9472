//go:build linux

// Package faultydir gives a test a directory that is read-only or full, for real.
package faultydir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/svcgraph/svcgraph/internal/testenv"
)

// Read-only and full directories, for real: tests run as root, for whom permission bits do not
// stop a write, so the directory becomes a tmpfs mounted read-only (EROFS) or a tiny tmpfs filled
// to the last byte (ENOSPC). That happens in a child process of this test binary, in a mount
// namespace of its own (and a user namespace when not root), so the mounts vanish with it.

const (
	// EnvMode is set in the child to the mode it runs in: a test of several modes runs only that
	// one there (see Mode).
	EnvMode = "SVCGRAPH_TEST_FAULT_MODE"
	envDir  = "SVCGRAPH_TEST_FAULT_DIR"
)

// Mode is the mode this process runs a scenario in, "" outside a child.
func Mode() string { return os.Getenv(EnvMode) }

// Run runs scenario with dir read-only ("ro") or full ("full"). prepare, if given, fills
// the directory first (while it is still writable). Call it once per top-level test, first thing:
// the child runs the same test again.
func Run(t *testing.T, mode string, prepare, scenario func(t *testing.T, dir string)) {
	t.Helper()
	if os.Getenv(EnvMode) == mode { // the child
		dir := os.Getenv(envDir)
		mountFaulty(t, mode, dir, prepare)
		scenario(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), EnvMode+"="+mode, envDir+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Logf("child in a %s directory:\n%s", mode, out)
	case errors.As(err, &exit):
		t.Fatalf("child in a %s directory failed:\n%s", mode, out)
	default:
		testenv.Missing(t, fmt.Sprintf("cannot start a child in a mount namespace of its own (%v); read-only and full directories are not tested", err))
	}
}

// fillerName is the file that fills a full directory.
const fillerName = ".faultydir-filler"

// Free gives a full directory n bytes of room (n < 0: all of it back), as a user who deletes
// files does, so a scenario can fill it in the middle of a command, or run it again with room.
func Free(t *testing.T, dir string, n int64) {
	t.Helper()
	filler := filepath.Join(dir, fillerName)
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatalf("%s is not a full directory: %v", dir, err)
	}
	if n < 0 || n >= fi.Size() {
		err = os.Remove(filler)
	} else {
		err = os.Truncate(filler, fi.Size()-n)
	}
	if err != nil {
		t.Fatalf("making room in %s: %v", dir, err)
	}
}

func mountFaulty(t *testing.T, mode, dir string, prepare func(*testing.T, string)) {
	t.Helper()
	// Room for what prepare puts there before it fills, and for what a test frees afterwards (Free).
	const size = "size=4m"
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, size); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	if prepare != nil {
		prepare(t, dir)
	}
	switch mode {
	case "ro":
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, size); err != nil {
			t.Fatalf("remounting %s read-only: %v", dir, err)
		}
	case "full":
		f, err := os.Create(filepath.Join(dir, fillerName))
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 4096)
		for {
			if _, err := f.Write(block); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
		f.Close()
	}
}
