//go:build unix

package chartmod

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A -f FIFO that nobody writes to (`-f <(slow command)`) ends with Ctrl-C.
func TestValuesFIFOEndsWithCtrlC(t *testing.T) {
	o, _ := fixtureOptions(t, "", "", "demo")
	fifo := filepath.Join(t.TempDir(), "never-written")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Someone holds the write end open and never writes: the read blocks until Ctrl-C.
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			t.Cleanup(func() { w.Close() })
		}
	}()
	o.ValuesFiles = []string{fifo}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := ReadValues(ctx, o); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("reading a FIFO after Ctrl-C = %v, want an interruption", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a silent FIFO did not end 5 s after Ctrl-C")
	}

}
