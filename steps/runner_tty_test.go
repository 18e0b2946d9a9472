//go:build linux || darwin

package steps

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// syncBuffer collects what the terminal shows and wakes waiters on every write.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	cond *sync.Cond
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.cond.Broadcast()
	return len(p), nil
}

// waitFor blocks until the output contains s (or the deadline passes).
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.AfterFunc(10*time.Second, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer deadline.Stop()
	start := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for !strings.Contains(b.buf.String(), s) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("terminal never showed %q; it showed %q", s, b.buf.String())
		}
		b.cond.Wait()
	}
}

// waitingStep blocks until the spinner has drawn its title on the terminal.
type waitingStep struct {
	screen *syncBuffer
	t      *testing.T
}

func (waitingStep) ID() string    { return "spin" }
func (waitingStep) Title() string { return "Spinning" }
func (w waitingStep) Run(_ context.Context, s *Session) error {
	w.screen.waitFor(w.t, "Spinning")
	s.Result("seen")
	return nil
}

func TestRunnerTerminalSpinsThenTicks(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("SKIPPED: no pseudo-terminal on this machine: %v", err)
	}
	defer ptmx.Close()
	screen := &syncBuffer{}
	screen.cond = sync.NewCond(&screen.mu)
	copied := make(chan struct{})
	go func() { io.Copy(screen, ptmx); close(copied) }()

	r := &Runner{Out: tty, TTY: tty, Mode: Terminal, Now: tick()}
	if err := r.Run(context.Background(), Plan{waitingStep{screen, t}}, &Session{}); err != nil {
		t.Fatal(err)
	}
	screen.waitFor(t, "✓ Spinning (1.5s): seen")
	tty.Close()
	<-copied
	got := screen.buf.String()
	if !strings.Contains(got, "\x1b[?25l") {
		t.Errorf("spinner did not hide the cursor on a terminal: %q", got)
	}
	if !strings.Contains(got, "\r\x1b[K✓ Spinning (1.5s): seen") {
		t.Errorf("the spinner line was not cleared before the ✓ line: %q", got)
	}
}
