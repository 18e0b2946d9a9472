package kube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakSettle is how long goroutines may take to end after a test's cleanups: spdystream, under
// client-go's port-forwards, offers the error of closing a dead connection to a reader for up
// to a second before its shutdown goroutine ends.
const leakSettle = 3 * time.Second

// cleanupT is the part of *testing.T noLeaks needs, so a test can check the check itself.
type cleanupT interface {
	Helper()
	Cleanup(func())
	Error(args ...any)
}

// noLeaks fails the test if a goroutine it started is still running once everything the test
// registered for cleanup has run: a forwarder's accept loops and relays, a watch's informers.
// Call it first, so its check runs last. Idle keep-alive connections of client-go's shared
// transports are a pool, not a leak.
func noLeaks(t cleanupT) { noLeaksWithin(t, leakSettle) }

func noLeaksWithin(t cleanupT, settle time.Duration) {
	t.Helper()
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(settle)
		for {
			err := goleak.Find(opts...) // itself polls for about half a second
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Error(err)
				return
			}
		}
	})
}

// fakeT runs its cleanups when asked and keeps what they report.
type fakeT struct {
	cleanups []func()
	errors   []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Error(args ...any) { f.errors = append(f.errors, fmt.Sprint(args...)) }

// finish runs the cleanups last-registered first, as the testing package does.
func (f *fakeT) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func parkedUntil(done chan struct{}) { <-done }

func TestNoLeaksNamesAGoroutineLeftRunning(t *testing.T) {
	fake := &fakeT{}
	noLeaksWithin(fake, 0)
	done := make(chan struct{})
	go parkedUntil(done)
	fake.finish()
	close(done)
	if len(fake.errors) != 1 || !strings.Contains(fake.errors[0], "parkedUntil") {
		t.Fatalf("a goroutine left running was not named: %q", fake.errors)
	}

	ended := &fakeT{}
	noLeaksWithin(ended, time.Minute)
	stop := make(chan struct{})
	go parkedUntil(stop)
	ended.Cleanup(func() { close(stop) }) // ends before the check runs
	ended.finish()
	if len(ended.errors) != 0 {
		t.Fatalf("a goroutine ended by the test's cleanup was reported: %q", ended.errors)
	}
}
