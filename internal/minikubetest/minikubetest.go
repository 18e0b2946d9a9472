// Package minikubetest runs the real minikube in tests: the binaries scripts/minikube builds,
// each invocation boxed into a sandbox of its own (HOME, MINIKUBE_HOME, KUBECONFIG, TMPDIR and
// PATH under the test's temp dir; every proxy pointed at a closed port on 127.0.0.1), bounded
// in time, and optionally a fake `docker` (./fakedocker) so that minikube's CPU, memory and root
// checks run with no Docker engine.
//
// The binaries come from SVCGRAPH_TEST_MINIKUBE (`export SVCGRAPH_TEST_MINIKUBE=$(scripts/minikube)`;
// scripts/test does this). Without it a test is skipped loudly, or fails under CI=true.
package minikubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/testenv"
)

// EnvDir names the variable with the directory scripts/minikube prints: DIR/<version>/minikube.
const EnvDir = "SVCGRAPH_TEST_MINIKUBE"

// Versions are the real minikube releases the tests run, oldest first. scripts/minikube builds
// the same list.
var Versions = []string{"v1.37.0", "v1.38.1"}

// Binaries returns the path of each version's binary, or skips the test (fails it under CI=true).
func Binaries(t testing.TB) map[string]string {
	t.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		testenv.Missing(t, "no real minikube for the tests; run scripts/test, or export "+EnvDir+"=$(scripts/minikube) and then go test")
	}
	bins := map[string]string{}
	for _, v := range Versions {
		p := filepath.Join(dir, v, "minikube")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v (scripts/minikube builds every version)", EnvDir, dir, err)
		}
		bins[v] = p
	}
	return bins
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// FakeDocker builds ./fakedocker once per test process and returns the binary's path (named
// docker). The directory is removed when the process ends only if the caller's TestMain does
// so; it lives under os.TempDir.
func FakeDocker(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "svcgraph-fakedocker-")
		if buildErr != nil {
			return
		}
		_, self, _, _ := runtime.Caller(0)
		cmd := exec.Command(GoTool(), "build", "-o", filepath.Join(buildDir, "docker"), "./fakedocker")
		cmd.Dir = filepath.Dir(self)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./fakedocker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "docker")
}

// Cleanup removes what FakeDocker built; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// GoTool finds the go command that builds test programs: on PATH, else beside the running
// toolchain's GOROOT.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Docker is what the fake docker on a sandbox's PATH reports.
type Docker struct {
	CPUs     int
	MemoryMB int
	Stopped  bool // the daemon is not running: every question fails
}

// Sandbox is one user's world for minikube: everything it may write is under Dir.
type Sandbox struct {
	Dir          string
	Home         string
	MinikubeHome string // $MINIKUBE_HOME; minikube keeps its state in MinikubeHome/.minikube
	Kubeconfig   string
	Bin          string // the only PATH entry
	Tmp          string // $TMPDIR: minikube's own log files land here

	docker *Docker
	extra  []string
}

// NewSandbox makes the directories of an empty world: no profiles, no docker on PATH.
func NewSandbox(t testing.TB) *Sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &Sandbox{
		Dir:          dir,
		Home:         filepath.Join(dir, "home"),
		MinikubeHome: filepath.Join(dir, "home"),
		Kubeconfig:   filepath.Join(dir, "home", ".kube", "config"),
		Bin:          filepath.Join(dir, "bin"),
		Tmp:          filepath.Join(dir, "tmp"),
	}
	for _, d := range []string{s.Home, filepath.Dir(s.Kubeconfig), s.Bin, s.Tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// SetDocker puts the fake docker on PATH with the given answers; nil takes it off again.
func (s *Sandbox) SetDocker(t testing.TB, d *Docker) {
	t.Helper()
	link := filepath.Join(s.Bin, "docker")
	os.Remove(link)
	s.docker = d
	if d == nil {
		return
	}
	if err := os.Symlink(FakeDocker(t), link); err != nil {
		t.Fatal(err)
	}
}

// Link puts a program on the sandbox's PATH under name.
func (s *Sandbox) Link(t testing.TB, name, target string) {
	t.Helper()
	link := filepath.Join(s.Bin, name)
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// Setenv adds KEY=VALUE to every process run in the sandbox.
func (s *Sandbox) Setenv(kv ...string) { s.extra = append(s.extra, kv...) }

// closedProxy is an address on which nothing listens: any download minikube tries (its update
// check asks GitHub on every status) fails at once instead of leaving the machine.
var closedProxy = sync.OnceValue(func() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:9"
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
})

// Offline is the environment that keeps a real minikube off the network: every proxy points at
// a closed port on 127.0.0.1 (Go programs never proxy loopback addresses, so local servers stay
// reachable), and the update notice is off.
func Offline() []string {
	proxy := closedProxy()
	return []string{"MINIKUBE_WANTUPDATENOTIFICATION=false",
		"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy,
		"NO_PROXY=", "no_proxy="}
}

// Env is what the fake docker reads: the settings of d.
func (d *Docker) Env() []string {
	env := []string{"FAKE_DOCKER_CPUS=" + strconv.Itoa(d.CPUs), "FAKE_DOCKER_MEMORY_MB=" + strconv.Itoa(d.MemoryMB)}
	if d.Stopped {
		env = append(env, "FAKE_DOCKER_DAEMON=stopped")
	}
	return env
}

// Environ is the whole environment of a process in the sandbox: nothing leaks in from the test's.
func (s *Sandbox) Environ() []string {
	env := []string{
		"PATH=" + s.Bin,
		"HOME=" + s.Home,
		"USER=" + currentUser(),
		"TMPDIR=" + s.Tmp,
		"MINIKUBE_HOME=" + s.MinikubeHome,
		"KUBECONFIG=" + s.Kubeconfig,
		"XDG_CONFIG_HOME=" + filepath.Join(s.Home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(s.Home, ".cache"),
		"MINIKUBE_IN_STYLE=false",
	}
	env = append(env, Offline()...)
	if d := s.docker; d != nil {
		env = append(env, d.Env()...)
	}
	return append(env, s.extra...)
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "test"
}

// Result is one finished invocation.
type Result struct {
	Args           []string
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("$ minikube %s\n(exit %d after %s)\n--- stdout ---\n%s--- stderr ---\n%s",
		strings.Join(r.Args, " "), r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Limit bounds every invocation: none of the driverless paths takes more than a few seconds,
// so a longer one is a hang (or a download the sandbox failed to stop).
const Limit = 90 * time.Second

// Run runs bin (a real minikube or the double) with args in the sandbox and returns what it
// printed and its exit code. It fails the test if the program does not end within Limit.
func (s *Sandbox) Run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.Environ()
	cmd.Dir = s.Dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v (limit %s)\n%s", bin, strings.Join(args, " "), err, Limit, r)
	}
	return r
}
