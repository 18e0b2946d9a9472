package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Forwarding.

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portClosed says whether nothing accepts connections on 127.0.0.1:port.
func portClosed(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// getUntil GETs url until it answers 200 with want as its body, or the deadline passes. kwok
// applies PortForward rules through a watch and gives no signal when it has, so the first
// requests may reach the old target: polling is the only way to see the rule take effect.
func getUntil(t *testing.T, url, want string, limit time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	var last string
	for attempt := 1; ; attempt++ {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && string(body) == want {
				t.Logf("GET %s: %q after %d attempt(s)", url, body, attempt)
				return
			}
			last = fmt.Sprintf("%s %q (read error %v)", resp.Status, body, rerr)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not return %q within %s; last answer: %s", url, want, limit, last)
		}
		time.Sleep(250 * time.Millisecond) // polling interval: kwok has no "rule applied" event
	}
}

// forwarderRecord is the pid file `up --detach` writes.
func (w *world) pidFile() string {
	return filepath.Join(w.stateDir, fmt.Sprintf("forward-%s-%s-%s.json", w.Profile, w.Namespace, w.Release))
}

// processGone says whether pid no longer runs. A zombie (exited, not yet reaped by whoever
// inherited the orphaned forwarder) counts as gone.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// /proc/PID/stat: "pid (comm) state …"; comm may contain spaces and parentheses.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// running is a svcgraph process the test talks to while it runs (to interrupt it, say), its
// stdout followed line by line.
type running struct {
	cmd     *exec.Cmd
	lines   *lineReader
	stderr  strings.Builder
	drained chan struct{}
}

// start runs svcgraph with args in the background until ctx ends; its output is recorded under
// label when the (sub)test ends.
func (w *world) start(t *testing.T, ctx context.Context, label string, args ...string) *running {
	t.Helper()
	p := &running{cmd: exec.CommandContext(ctx, w.svcgraph, args...), drained: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir, p.cmd.WaitDelay = w.environ(), w.dir, 10*time.Second
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.lines = newLineReader(stdout)
	t.Cleanup(func() {
		w.record(fmt.Sprintf("$ svcgraph %s (%s)\n--- stdout ---\n%s--- stderr ---\n%s",
			strings.Join(args, " "), label, p.lines, p.stderr.String()))
	})
	return p
}

// await waits for a line of stdout containing want, then keeps reading the rest so the process
// never blocks writing. If the line never comes, the process is killed and the test fails.
func (p *running) await(t *testing.T, want string, limit time.Duration, what string) {
	t.Helper()
	if !p.lines.waitLine(want, limit) {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		t.Fatalf("%s\n%s", what, p.output())
	}
	go func() { p.lines.drain(); close(p.drained) }()
}

// interrupt sends SIGINT (Ctrl-C), reads stdout to its end (the process closes it when it
// exits) before Wait closes the pipe, and returns the exit code and Wait's error.
func (p *running) interrupt(t *testing.T) (int, error) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.drained:
	case <-time.After(time.Minute):
		t.Errorf("svcgraph still runs a minute after Ctrl-C")
	}
	err := p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode(), err
}

// ctrlC interrupts the process and holds it to what Ctrl-C promises: exit 130, INTERRUPTED named,
// within limit. what names the command in failures.
func (p *running) ctrlC(t *testing.T, what string, limit time.Duration) {
	t.Helper()
	sent := time.Now()
	code, _ := p.interrupt(t) // the exit code says it all: a non-zero one is an error
	took := time.Since(sent)
	t.Logf("%s: exit %d %s after Ctrl-C", what, code, took.Round(time.Millisecond))
	if code != reason.Interrupted.ExitCode || !strings.Contains(p.output(), reason.Interrupted.ID) {
		t.Fatalf("%s after Ctrl-C exited %d, want %d (%s):\n%s", what, code, reason.Interrupted.ExitCode, reason.Interrupted.ID, p.output())
	}
	if took > limit {
		t.Errorf("%s took %s to answer Ctrl-C, want at most %s", what, took.Round(time.Millisecond), limit)
	}
}

func (p *running) output() string {
	return "--- stdout ---\n" + p.lines.String() + "--- stderr ---\n" + p.stderr.String()
}

// lineReader follows a running process's stdout line by line.
type lineReader struct {
	lines chan string
	all   strings.Builder
	mu    sync.Mutex
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 256)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.mu.Lock()
			lr.all.WriteString(sc.Text() + "\n")
			lr.mu.Unlock()
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

func (lr *lineReader) String() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.all.String()
}

// waitLine waits for a line containing want; false when the stream ends or the deadline passes.
func (lr *lineReader) waitLine(want string, limit time.Duration) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				return false
			}
			if strings.Contains(l, want) {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// drain consumes the remaining lines so the process never blocks writing.
func (lr *lineReader) drain() {
	for range lr.lines {
	}
}
