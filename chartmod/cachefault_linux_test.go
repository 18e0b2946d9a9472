package chartmod

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Read-only and full directories, for real: tests run as root, for whom permission bits do not
// stop a write, so the directory becomes a tmpfs mounted read-only (EROFS) or a tiny tmpfs filled
// to the last byte (ENOSPC). That happens in a child process of this test binary, in a mount
// namespace of its own (and a user namespace when not root), so the mounts vanish with it.

const (
	envFaultMode = "SVCGRAPH_TEST_FAULT_MODE"
	envFaultDir  = "SVCGRAPH_TEST_FAULT_DIR"
)

// inFaultyDir runs scenario with dir read-only ("ro") or full ("full"). prepare, if given, fills
// the directory first (while it is still writable). Call it once per top-level test, first thing:
// the child runs the same test again.
func inFaultyDir(t *testing.T, mode string, prepare, scenario func(t *testing.T, dir string)) {
	t.Helper()
	if os.Getenv(envFaultMode) == mode { // the child
		dir := os.Getenv(envFaultDir)
		mountFaulty(t, mode, dir, prepare)
		scenario(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envFaultMode+"="+mode, envFaultDir+"="+dir)
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
	case os.Getenv("CI") == "true":
		t.Fatalf("cannot start a child in a mount namespace of its own: %v", err)
	default:
		t.Skipf("SKIPPED: cannot start a child in a mount namespace of its own (%v); read-only and full directories are not tested", err)
	}
}

func mountFaulty(t *testing.T, mode, dir string, prepare func(*testing.T, string)) {
	t.Helper()
	size := "size=4m"
	if mode == "full" {
		size = "size=64k"
	}
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
		f, err := os.Create(filepath.Join(dir, "filler"))
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

// svcgraph's own cache is a convenience: a read-only or full one costs downloads and renders,
// never the run, and says so; nothing half-written is left behind.
func TestUnwritableCacheIsNoFailure(t *testing.T) {
	for _, mode := range []string{"ro", "full"} {
		if m := os.Getenv(envFaultMode); m != "" && m != mode {
			continue
		}
		t.Run(mode, func(t *testing.T) {
			inFaultyDir(t, mode, nil, func(t *testing.T, dir string) {
				o, srv := fixtureOptions(t, "0.30.2", "1.9.4", "demo")
				o.CacheDir = filepath.Join(dir, "svcgraph")
				if mode == "full" { // the directory exists, the disk is full
					o.CacheDir = dir
				}
				said := listen(&o)
				for run := 1; run <= 2; run++ {
					before := len(srv.Requests())
					p, r := prepare(t, o)
					if err := Check(r).Err(); err != nil {
						t.Fatalf("run %d: %v", run, err)
					}
					if p.Hash == "" {
						t.Fatal("no hash")
					}
					// Without a cache every run downloads both packages again.
					if got := srv.Requests()[before:]; run == 2 && !strings.HasSuffix(strings.Join(got, " "), ".tgz") {
						t.Errorf("run %d requested %v, want the packages downloaded again", run, got)
					}
				}
				if !strings.Contains(said.String(), "warn: cannot keep opentelemetry-demo 0.30.2 in the chart cache") {
					t.Errorf("no warning about the cache:\n%s", said)
				}
				entries, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
				for _, e := range entries {
					if strings.Contains(filepath.Base(e), ".tmp-") || strings.HasSuffix(e, ".tgz") {
						t.Errorf("left in the cache: %s", e)
					}
				}
			})
		})
	}
}

// Helm's own files: a read-only configuration directory is said to be read-only (not "another
// helm holds the lock"); with svcgraph's entries already there it needs no write at all. A full
// repository cache is CACHE_UNWRITABLE, and no entry is added without its index.
func TestUnwritableHelmDirectories(t *testing.T) {
	for _, mode := range []string{"ro", "full"} {
		if m := os.Getenv(envFaultMode); m != "" && m != mode {
			continue
		}
		t.Run(mode, func(t *testing.T) {
			var o Options
			setup := func(t *testing.T) {
				o, _ = fixtureOptions(t, "", "", "demo")
			}
			if mode == "ro" {
				inFaultyDir(t, mode, nil, func(t *testing.T, dir string) {
					setup(t)
					o.Helm.RepositoryConfig = filepath.Join(dir, "repositories.yaml")
					err := AddRepos(context.Background(), o)
					wantKind(t, err, reason.ChartRepo, "read-only file system", "Make Helm's configuration directory "+dir+" writable")
					if strings.Contains(reason.Of(err).Advise(), "Another helm") {
						t.Errorf("a read-only directory is blamed on another helm: %v", reason.Of(err).Advise())
					}
				})
				return
			}
			inFaultyDir(t, mode, nil, func(t *testing.T, dir string) {
				setup(t)
				o.Helm.RepositoryCache = dir
				err := AddRepos(context.Background(), o)
				wantKind(t, err, reason.CacheUnwritable, "no space left on device", "Make Helm's repository cache "+dir+" writable")
				if got := reposByNameIfAny(t, o); len(got) != 0 {
					t.Errorf("entries added without their index: %v", got)
				}
			})
		})
	}
}

// A read-only Helm configuration that already lists both repositories is fine: nothing to write.
func TestReadOnlyHelmConfigWithTheEntries(t *testing.T) {
	var o Options
	inFaultyDir(t, "ro", func(t *testing.T, dir string) {
		o, _ = fixtureOptions(t, "", "", "demo")
		o.Helm.RepositoryConfig = filepath.Join(dir, "repositories.yaml")
		writeRepos(t, o, [2]string{"otel", o.DemoRepoURL}, [2]string{"grafana", o.TempoRepoURL})
	}, func(t *testing.T, dir string) {
		if err := AddRepos(context.Background(), o); err != nil {
			t.Fatalf("AddRepos with a read-only configuration that lists both: %v", err)
		}
	})
}
