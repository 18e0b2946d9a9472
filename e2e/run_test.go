package e2e

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Running svcgraph in a world, and reading what it printed and which minikube commands it ran.

// result is one run of svcgraph (or of the world's minikube): its arguments, exit code, output
// and wall time.
type result struct {
	name           string // the command, "svcgraph" unless set
	args           []string
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) output() string { return r.stdout + r.stderr }

func (r result) command() string { return cmp.Or(r.name, "svcgraph") + " " + strings.Join(r.args, " ") }

func (r result) String() string {
	return fmt.Sprintf("$ %s\n(exit %d after %s)\n--- stdout ---\n%s--- stderr ---\n%s",
		r.command(), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

func (w *world) record(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.transcript.WriteString(s)
	w.transcript.WriteString("\n")
}

// run runs svcgraph to its end (at most limit) and returns what it printed and its exit code.
func (w *world) run(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	return w.runWhile(t, limit, nil, args...)
}

// runWhile is run with during called while the process runs: it gets the run's context and the
// process's exit (a channel that yields Wait's error once) and returns that error when it has
// received it, or leaves the channel to runWhile by returning errNotWaited.
func (w *world) runWhile(t *testing.T, limit time.Duration, during func(ctx context.Context, exited <-chan error) error, args ...string) result {
	t.Helper()
	return w.runBinary(t, w.svcgraph, "", limit, during, args...)
}

// runBinary runs bin (named name in the transcript, "" for svcgraph) as runWhile runs svcgraph.
func (w *world) runBinary(t *testing.T, bin, name string, limit time.Duration, during func(ctx context.Context, exited <-chan error) error, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = w.environ()
	cmd.Dir = w.dir
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	err := errNotWaited
	if during != nil {
		err = during(ctx, exited)
	}
	if err == errNotWaited {
		err = <-exited
	}
	r := result{name: name, args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		r.code = -1
		w.record(r.String())
		t.Fatalf("%s: %v (limit %s)\n%s", r.command(), err, limit, r)
	}
	w.record(r.String())
	t.Logf("%s: exit %d in %s", r.command(), r.code, r.took.Round(time.Millisecond))
	return r
}

// errNotWaited is what a runWhile callback returns when it did not take the process's exit.
var errNotWaited = errors.New("not waited for")

// expect checks the exit code and that the output is plain (no escape codes: stdout is a pipe).
func expect(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
	if i := strings.IndexByte(r.output(), 0x1b); i >= 0 {
		t.Errorf("output piped to a file contains an escape code at byte %d:\n%q", i, r.output())
	}
}

// stepLine returns the plain-mode line of a finished or failed step ("ok   Title (1.2s): result").
func stepLine(t *testing.T, r result, title string) string {
	t.Helper()
	for _, l := range strings.Split(r.stdout, "\n") {
		if (strings.HasPrefix(l, "ok   ") || strings.HasPrefix(l, "FAIL ")) && strings.HasPrefix(l[5:], title+" (") {
			return l
		}
	}
	t.Fatalf("no line for step %q in the output\n%s", title, r)
	return ""
}

// mustContain fails unless every piece appears in the output.
func mustContain(t *testing.T, r result, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if !strings.Contains(r.output(), p) {
			t.Errorf("output lacks %q\n%s", p, r)
		}
	}
}

// minikubeCalls is the double's log: one line of argv per invocation.
func (w *world) minikubeCalls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(w.mkLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func countCalls(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
