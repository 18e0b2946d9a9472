package steps

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// versions scripts the three version commands with what real binaries print.
func versions(kubectl, minikube, helm string) *execx.Recorder {
	r := execx.NewRecorder()
	r.On("kubectl version --client -o json", execx.Response{Stdout: `{
  "clientVersion": {"major": "1", "minor": "37", "gitVersion": "` + kubectl + `", "platform": "linux/amd64"},
  "kustomizeVersion": "v5.7.1"
}`})
	r.On("minikube version -o json", execx.Response{Stdout: `{"commit":"65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3","minikubeVersion":"` + minikube + `"}`})
	r.On("helm version --template '{{.Version}}'", execx.Response{Stdout: helm})
	return r
}

func runPreflight(t *testing.T, x execx.Runner, goos string, hostMB int) (*Session, error) {
	t.Helper()
	s := &Session{Config: Config{MemoryMB: 8192}, Exec: x, GOOS: goos,
		HostMemoryMB: func() (int, bool) { return hostMB, hostMB > 0 }}
	err := Preflight{}.Run(context.Background(), s)
	return s, err
}

func TestPreflightFindsAll(t *testing.T) {
	s, err := runPreflight(t, versions("v1.37.2", "v1.37.0", "v3.22.0"), "linux", 24000)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kubectl v1.37.2, minikube v1.37.0, helm v3.22.0"; s.result != want {
		t.Errorf("result %q, want %q", s.result, want)
	}
}

func TestPreflightMissingBinaryNamesItAndTheInstallForTheOS(t *testing.T) {
	for goos, hint := range map[string]string{"darwin": "brew install minikube", "windows": "winget install -e --id Kubernetes.minikube", "linux": "minikube-linux-amd64"} {
		x := versions("v1.37.2", "v1.37.0", "v3.22.0")
		x.Missing["minikube"] = true
		_, err := runPreflight(t, x, goos, 0)
		e := reason.Of(err)
		if e.Kind != reason.MissingBinary || e.Kind.ExitCode != 10 {
			t.Fatalf("%s: kind %s, want PREFLIGHT_MISSING_BINARY", goos, e.Kind.ID)
		}
		if !strings.Contains(err.Error(), "minikube") || !strings.Contains(e.Advise(), hint) {
			t.Errorf("%s: error %q / advice %q should name minikube and %q", goos, err, e.Advise(), hint)
		}
		for _, c := range x.CallsSnapshot() {
			if strings.HasPrefix(c, "minikube") {
				t.Errorf("%s: ran %q although minikube is missing", goos, c)
			}
		}
	}
}

func TestPreflightTooOld(t *testing.T) {
	_, err := runPreflight(t, versions("v1.37.2", "v1.37.0", "v3.9.4"), "darwin", 0)
	e := reason.Of(err)
	if e.Kind != reason.OldBinary || !strings.Contains(err.Error(), "helm v3.9.4 (need v3.12.0 or newer)") || !strings.Contains(e.Advise(), "brew install helm") {
		t.Errorf("got %s: %v / %s", e.Kind.ID, err, e.Advise())
	}
}

func TestPreflightGarbledVersion(t *testing.T) {
	x := versions("v1.37.2", "v1.37.0", "v3.22.0")
	x.On("minikube version -o json", execx.Response{Stdout: "minikube version: who knows"})
	_, err := runPreflight(t, x, "linux", 0)
	if e := reason.Of(err); e.Kind != reason.OldBinary || !strings.Contains(err.Error(), "who knows") {
		t.Errorf("got %s: %v", e.Kind.ID, err)
	}
}

func TestPreflightHostMemory(t *testing.T) {
	_, err := runPreflight(t, versions("v1.37.2", "v1.37.0", "v3.22.0"), "linux", 4096)
	e := reason.Of(err)
	if e.Kind != reason.HostMemory || !strings.Contains(err.Error(), "--memory 8G is more than this host's 4G") {
		t.Errorf("got %s: %v", e.Kind.ID, err)
	}
}

func TestPreflightHostCPUs(t *testing.T) {
	for _, c := range []struct {
		host       int
		ok         bool
		msg, hint  string
		wantRefuse bool
	}{
		{host: 2, ok: true, msg: "--cpus 4 is more than this host's 2 CPUs", hint: "Ask for at most --cpus 2", wantRefuse: true},
		{host: 1, ok: true, msg: "this host has 1 CPU, fewer than the 2 minikube needs", hint: "a machine (or VM) with 2 or more", wantRefuse: true},
		{host: 4, ok: true},
		{host: 0, ok: false}, // the OS did not tell: minikube checks it itself
	} {
		s := &Session{Config: Config{CPUs: 4, MemoryMB: 8192}, Exec: versions("v1.37.2", "v1.37.0", "v3.22.0"), GOOS: "linux",
			HostCPUs: func() (int, bool) { return c.host, c.ok }}
		err := Preflight{}.Run(context.Background(), s)
		if !c.wantRefuse {
			if err != nil {
				t.Errorf("host with %d CPUs (ok=%v): %v", c.host, c.ok, err)
			}
			continue
		}
		e := reason.Of(err)
		if e.Kind != reason.HostCPUs || !strings.Contains(err.Error(), c.msg) || !strings.Contains(e.Advise(), c.hint) {
			t.Errorf("host with %d CPUs: got %s: %v / %s", c.host, e.Kind.ID, err, e.Advise())
		}
	}
}

func TestPreflightRefusesABusyPortBeforeAnythingElse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s := &Session{Config: Config{MemoryMB: 8192, Port: port, Address: DefaultAddress, StateDir: t.TempDir()},
		Exec: versions("v1.37.2", "v1.37.0", "v3.22.0"), GOOS: "linux"}
	err = Preflight{}.Run(context.Background(), s)
	e := reason.Of(err)
	if e.Kind != reason.PortInUse || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(e.Advise(), "--port") {
		t.Errorf("got %s: %v / %s", e.Kind.ID, err, e.Advise())
	}
	s.Config.NoForward = true
	if err := (Preflight{}).Run(context.Background(), s); err != nil {
		t.Errorf("with --no-forward the port does not matter, got %v", err)
	}
}

// barrier holds every command until n have started: a sequential caller never gets past the
// first one, so the deadline is the failure, not a timing.
type barrier struct {
	*execx.Recorder
	n       int
	mu      sync.Mutex
	started int
	all     chan struct{}
}

func (b *barrier) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	b.mu.Lock()
	if b.started++; b.started == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(10 * time.Second):
		return execx.Result{ExitCode: -1}, fmt.Errorf("%s ran alone: the version checks are not concurrent", c)
	}
	return b.Recorder.Run(ctx, c)
}

func TestPreflightAsksTheVersionsAtOnce(t *testing.T) {
	x := &barrier{Recorder: versions("v1.37.2", "v1.37.0", "v3.22.0"), n: 3, all: make(chan struct{})}
	s, err := runPreflight(t, x, "linux", 24000)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kubectl v1.37.2, minikube v1.37.0, helm v3.22.0"; s.result != want {
		t.Errorf("result %q, want %q", s.result, want)
	}
}
