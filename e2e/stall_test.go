package e2e

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCtrlCWhileARepositoryStalls is Ctrl-C while a chart repository accepts the connection and
// never answers (Helm's getter would hold it for 120 s and ignore the signal): svcgraph exits at
// once with the interrupted kind's code, and leaves no repository entry behind.
func TestCtrlCWhileARepositoryStalls(t *testing.T) {
	w := newWorld(t, "stall")
	t.Cleanup(func() { w.teardown(t) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	render := w.start(t, ctx, "Ctrl-C while the tempo repository stalls", "render", "--check-only", "--tempo-repo", "http://"+ln.Addr().String()+"/charts")
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(2 * time.Minute):
		t.Fatalf("svcgraph never reached the stalled repository\n%s", render.output())
	}
	go func() { render.lines.drain(); close(render.drained) }()
	render.ctrlC(t, "render", 5*time.Second)
	// svcgraph hung up: the server side reads the end of the connection.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Errorf("the connection to the stalled repository stayed open: %v", err)
	}
	// Repositories are written once both answered: nothing half-added.
	if data, err := os.ReadFile(filepath.Join(w.dir, "helm", "config", "repositories.yaml")); err == nil {
		t.Errorf("an interrupted render wrote repositories:\n%s", data)
	}
}
