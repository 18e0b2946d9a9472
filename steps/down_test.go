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
