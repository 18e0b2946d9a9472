package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// stalledServer accepts TCP connections and never answers: an API server whose process hangs
// (a paused VM, a stopped container) looks like this from outside.
type stalledServer struct {
	addr     string
	accepted chan struct{} // one value per accepted connection
}

func newStalledServer(t *testing.T) *stalledServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledServer{addr: l.Addr().String(), accepted: make(chan struct{}, 1024)}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read from or written to
			mu.Unlock()
			s.accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// stalledWorld is a world whose minikube profile runs and whose kubeconfig context points at a
// stalled API server. It needs neither the loopback cluster nor the chart fixtures.
func stalledWorld(t *testing.T) (*world, *stalledServer) {
	t.Helper()
	srv := newStalledServer(t)
	source := filepath.Join(t.TempDir(), "kubeconfig")
	raw := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: stalled, cluster: {server: "http://%s"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: stalled, context: {cluster: stalled, user: u}}]
current-context: stalled
`, srv.addr)
	if err := os.WriteFile(source, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newBareWorld(t, "stalled", source, defaultWorldConfig(), map[string]string{})
	start := exec.Command(filepath.Join(w.bin, "minikube"), "start", "-p", w.Profile)
	start.Env = w.environ()
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("minikube double start: %v\n%s", err, out)
	}
	return w, srv
}

// The commands that read the cluster, each against an API server that never answers.
var stalledCommands = [][]string{{"status"}, {"graph"}, {"doctor"}, {"down"}}

// TestStalledAPIServerIsUnreachable: every request has a deadline (--request-timeout), so a
// command against an API server that accepts connections and never answers ends with
// CLUSTER_UNREACHABLE soon after it, instead of hanging.
func TestStalledAPIServerIsUnreachable(t *testing.T) {
	const requestTimeout = 2 * time.Second
	for _, args := range stalledCommands {
		t.Run(args[0], func(t *testing.T) {
			w, _ := stalledWorld(t)
			r := w.run(t, 2*time.Minute, append(append(args, w.names()...), "--request-timeout", requestTimeout.String())...)
			expect(t, r, reason.Cluster.ExitCode)
			mustContain(t, r, reason.Cluster.ID, fmt.Sprintf("no answer within %s (--request-timeout)", requestTimeout))
			// Not a benchmark: the bound says one stalled request ends the command, not a retry loop.
			if r.took < requestTimeout || r.took > requestTimeout+20*time.Second {
				t.Errorf("svcgraph %s took %s; want about the request timeout %s", args[0], r.took, requestTimeout)
			}
		})
	}
}

// TestStalledAPIServerCtrlC: Ctrl-C while a request to a stalled API server is in flight (the
// server has accepted svcgraph's connection) ends the command at once with exit 130, long
// before the request's own deadline (the default, 30 s).
func TestStalledAPIServerCtrlC(t *testing.T) {
	for _, args := range stalledCommands {
		t.Run(args[0], func(t *testing.T) {
			w, srv := stalledWorld(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p := w.start(t, ctx, "Ctrl-C while the API server stalls", append(args, w.names()...)...)
			go func() { p.lines.drain(); close(p.drained) }()
			select {
			case <-srv.accepted:
			case <-ctx.Done():
				t.Fatalf("svcgraph %s never connected to the API server\n%s", args[0], p.output())
			}
			p.ctrlC(t, "svcgraph "+args[0], time.Second)
		})
	}
}
