package steps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofrs/flock"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// fakeSpawner records what it is asked to terminate; a forwarder the test pretends runs (by
// holding its lock) lets go of the lock when terminated.
type fakeSpawner struct {
	running    map[int]*flock.Flock
	terminated []int
}

func (f *fakeSpawner) Spawn(context.Context, execx.Cmd, string) (int, string, error) {
	return 0, "", nil
}

func (f *fakeSpawner) Terminate(pid int) error {
	f.terminated = append(f.terminated, pid)
	if l := f.running[pid]; l != nil {
		return l.Unlock()
	}
	return nil
}

// pretendForwarder writes the pid file of a background forwarder with pid and, when running,
// holds its lock as the forwarder would.
func pretendForwarder(t *testing.T, s *Session, f *fakeSpawner, pid int, running bool) {
	t.Helper()
	if err := os.MkdirAll(s.Config.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf(`{"pid":%d,"url":"http://127.0.0.1:8080","address":"127.0.0.1","port":8080}`, pid)
	if err := os.WriteFile(s.pidFile(), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	if !running {
		return
	}
	l := flock.New(s.lockFile())
	if took, err := l.TryLock(); !took || err != nil {
		t.Fatalf("locking %s: %v, %v", l.Path(), took, err)
	}
	t.Cleanup(func() { l.Close() })
	if f.running == nil {
		f.running = map[int]*flock.Flock{}
	}
	f.running[pid] = l
}

func TestDownWithoutARunningProfileSucceedsAndTouchesNothing(t *testing.T) {
	for _, st := range []struct {
		name string
		resp execx.Response
	}{
		{"absent", execx.Response{Stdout: "🤷  Profile \"svcgraph\" not found.", ExitCode: 85}},
		{"stopped", execx.Response{Stdout: statusStopped, ExitCode: 7}},
	} {
		x := execx.NewRecorder().On(statusCmd, st.resp)
		state := t.TempDir()
		spawner := &fakeSpawner{}
		cfg := Config{Profile: "svcgraph", Namespace: "otel-demo", Release: "my-otel-demo", StateDir: state, PurgeCluster: true}
		s := &Session{Config: cfg, Exec: x, Spawner: spawner, Minikube: minikube.Driver{Exec: x}}
		pretendForwarder(t, s, spawner, 4242, true)
		var out bytes.Buffer
		if err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(context.Background(), DownPlan(cfg), s); err != nil {
			t.Fatalf("%s: down failed: %v\n%s", st.name, err, out.String())
		}
		want := "ok   Stopping the background forwarder (1.5s): stopped pid 4242 (http://127.0.0.1:8080)\n" +
			"ok   Finding the cluster (1.5s): minikube profile svcgraph is " + st.name + ": nothing to uninstall\n" +
			"ok   Uninstalling the demo (1.5s): skipped: minikube profile svcgraph is " + st.name + "\n" +
			"ok   Deleting the namespace (1.5s): skipped: minikube profile svcgraph is " + st.name + "\n" +
			"ok   Deleting minikube profile (1.5s): profile svcgraph deleted\n"
		if out.String() != want {
			t.Errorf("%s:\n%s\nwant:\n%s", st.name, out.String(), want)
		}
		if got := strings.Join(x.CallsSnapshot(), "\n"); got != statusCmd+"\nminikube delete -p svcgraph" {
			t.Errorf("%s: ran\n%s", st.name, got)
		}
		for _, f := range []string{"forward-svcgraph-otel-demo-my-otel-demo.json", "forward-svcgraph-otel-demo-my-otel-demo.lock"} {
			if _, err := os.Stat(filepath.Join(state, f)); !os.IsNotExist(err) {
				t.Errorf("%s: %s left behind: %v", st.name, f, err)
			}
		}
	}
}

// A pid file whose forwarder is gone names a pid the system may have given to any program since:
// here a live process the test started, which down must neither signal nor fail on. The stale
// file is removed.
func TestDownLeavesTheProcessOfAStalePidFileAlone(t *testing.T) {
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Skipf("SKIPPED: cannot start sleep: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- other.Wait() }()
	t.Cleanup(func() { _ = other.Process.Kill(); <-exited })

	x := execx.NewRecorder().On(statusCmd, execx.Response{Stdout: statusStopped, ExitCode: 7})
	spawner := &terminateRecorder{Spawner: execx.OS{}}
	cfg := Config{Profile: "svcgraph", Namespace: "otel-demo", Release: "my-otel-demo", StateDir: t.TempDir()}
	s := &Session{Config: cfg, Exec: x, Spawner: spawner, Minikube: minikube.Driver{Exec: x}}
	pretendForwarder(t, s, &fakeSpawner{}, other.Process.Pid, false)

	var out bytes.Buffer
	if err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(context.Background(), DownPlan(cfg), s); err != nil {
		t.Fatalf("down failed: %v\n%s", err, out.String())
	}
	if len(spawner.terminated) > 0 {
		t.Errorf("down signalled pid(s) %v, which are not its forwarder's", spawner.terminated)
	}
	if want := fmt.Sprintf("ok   Stopping the background forwarder (1.5s): none running (removed the stale pid file of pid %d)\n", other.Process.Pid); !strings.HasPrefix(out.String(), want) {
		t.Errorf("down said\n%s\nwant it to start with\n%s", out.String(), want)
	}
	if _, err := os.Stat(s.pidFile()); !os.IsNotExist(err) {
		t.Errorf("the stale pid file is still there: %v", err)
	}
	select {
	case err := <-exited:
		t.Errorf("the unrelated process ended during down: %v", err)
	default:
	}
	// And a status on the stale file (before down removed it) does not call it a forwarder.
	pretendForwarder(t, s, &fakeSpawner{}, other.Process.Pid, false)
	if rec, ok := s.liveForwarder(); ok {
		t.Errorf("a stale pid file counts as a live forwarder: %+v", rec)
	}
}

// terminateRecorder is a real Spawner that records every pid it is asked to terminate.
type terminateRecorder struct {
	execx.Spawner
	terminated []int
}

func (r *terminateRecorder) Terminate(pid int) error {
	r.terminated = append(r.terminated, pid)
	return r.Spawner.Terminate(pid)
}

// down on profiles an earlier failed start left behind: one whose machine minikube cannot read
// (status null) and one whose configuration it cannot load (status exits 38). --purge deletes
// both; --stop has nothing to stop on the first and refuses the second with the way out.
func TestDownOnABrokenProfile(t *testing.T) {
	const unreadableConfig = `{"specversion":"1.0","type":"io.k8s.sigs.minikube.error","data":{"advice":"","exitcode":"38","message":"Error getting cluster config: unmarshal: invalid character","name":"HOST_CONFIG_LOAD"}}`
	for _, c := range []struct {
		name      string
		status    execx.Response
		stop      bool
		wantErr   reason.Kind
		wantCalls string
		wantLast  string
	}{
		{"no machine, purge", execx.Response{Stdout: "null"}, false, reason.Kind{}, statusCmd + "\nminikube delete -p svcgraph", "profile svcgraph deleted"},
		{"no machine, stop", execx.Response{Stdout: "null", ExitCode: 7}, true, reason.Kind{}, statusCmd, "skipped: minikube profile svcgraph is in a state minikube cannot read; `svcgraph down --purge --profile svcgraph` deletes it"},
		{"unreadable config, purge", execx.Response{Stdout: unreadableConfig, ExitCode: 38}, false, reason.Kind{}, statusCmd + "\nminikube delete -p svcgraph", "profile svcgraph deleted"},
		{"unreadable config, stop", execx.Response{Stdout: unreadableConfig, ExitCode: 38}, true, reason.MinikubeBroken, statusCmd, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := execx.NewRecorder().On(statusCmd, c.status)
			cfg := Config{Profile: "svcgraph", Namespace: "otel-demo", Release: "my-otel-demo", StateDir: t.TempDir(), PurgeCluster: !c.stop, StopCluster: c.stop}
			s := &Session{Config: cfg, Exec: x, Spawner: &fakeSpawner{}, Minikube: minikube.Driver{Exec: x}}
			var out bytes.Buffer
			err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(context.Background(), DownPlan(cfg), s)
			if got := strings.Join(x.CallsSnapshot(), "\n"); got != c.wantCalls {
				t.Errorf("ran\n%s\nwant\n%s", got, c.wantCalls)
			}
			if c.wantErr != (reason.Kind{}) {
				if e := reason.Of(err); e.Kind != c.wantErr || !strings.Contains(e.Advise(), "svcgraph down --purge --profile svcgraph") {
					t.Errorf("got %s: %v / %s", e.Kind.ID, err, e.Advise())
				}
				return
			}
			if err != nil {
				t.Fatalf("down failed: %v\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasSuffix(last, ": "+c.wantLast) {
				t.Errorf("last line %q, want it to end in %q\n%s", last, c.wantLast, out.String())
			}
		})
	}
}
