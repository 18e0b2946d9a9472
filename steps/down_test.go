package steps

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// fakeSpawner is a background-process table for the forwarder's pid file.
type fakeSpawner struct {
	alive      map[int]bool
	terminated []int
}

func (f *fakeSpawner) Spawn(context.Context, execx.Cmd, string) (int, string, error) {
	return 0, "", nil
}
func (f *fakeSpawner) Terminate(pid int) error {
	f.terminated = append(f.terminated, pid)
	delete(f.alive, pid)
	return nil
}
func (f *fakeSpawner) Alive(pid int) bool { return f.alive[pid] }

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
		spawner := &fakeSpawner{alive: map[int]bool{4242: true}}
		cfg := Config{Profile: "svcgraph", Namespace: "otel-demo", Release: "my-otel-demo", StateDir: state, PurgeCluster: true}
		s := &Session{Config: cfg, Exec: x, Spawner: spawner, Minikube: minikube.Driver{Exec: x}}
		if err := os.WriteFile(s.pidFile(), []byte(`{"pid":4242,"url":"http://127.0.0.1:8080","address":"127.0.0.1","port":8080}`), 0o644); err != nil {
			t.Fatal(err)
		}
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
		if _, err := os.Stat(filepath.Join(state, "forward-svcgraph-otel-demo-my-otel-demo.json")); !os.IsNotExist(err) {
			t.Errorf("%s: pid file left behind: %v", st.name, err)
		}
	}
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
