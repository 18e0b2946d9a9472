//go:build linux

package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a component started by this run of the harness.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process ends
	err    error         // its exit status, valid once exited is closed
}

// startProcess starts a component in its own session, with its output in its log file and its
// PID saved, so that it outlives the `up` command, ignores the terminal's Ctrl-C and never holds
// the stdout that `eval "$(scripts/testcluster up)"` reads to its end.
func startProcess(l Layout, name, bin string, args ...string) (*proc, error) {
	logFile, err := os.OpenFile(l.Log(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "----- testcluster: starting %s at %s -----\n", name, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = l.Dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	argv, _ := json.Marshal(cmd.Args)
	if err := errors.Join(
		os.WriteFile(l.PIDFile(name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644),
		os.WriteFile(l.ArgsFile(name), append(argv, '\n'), 0o644),
	); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// savedPID reads a component's PID file and returns the PID only if that process is still alive
// and still runs the binary the harness started (a PID can be reused after a reboot or crash).
func savedPID(l Layout, name string) (int, bool) {
	raw, err := os.ReadFile(l.PIDFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, isOurs(l, pid)
}

// isOurs says whether pid is alive (not a zombie) and was started with this state directory in
// its command line — every component is given a path inside it.
func isOurs(l Layout, pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmdline) == 0 {
		return false // gone, or a zombie (its cmdline is empty)
	}
	return bytes.Contains(cmdline, []byte(l.Dir))
}

// stopComponent sends SIGTERM to a saved PID, waits up to grace for it to go, then SIGKILLs it
// and waits again. It removes the PID file once the process is gone.
func stopComponent(l Layout, name string, grace time.Duration) error {
	pid, alive := savedPID(l, name)
	if !alive {
		_ = os.Remove(l.PIDFile(name))
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone(l, pid, grace) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(l, pid, 5*time.Second) {
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", name, pid)
		}
	}
	return os.Remove(l.PIDFile(name))
}

// waitGone waits up to d for the process to end. The harness is usually not its parent (the
// `up` that started it has exited), so there is no wait() to block on: a pidfd becomes readable
// when any process exits, which is the event to wait for.
func waitGone(l Layout, pid int, d time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return !isOurs(l, pid) // ESRCH: already gone
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return !isOurs(l, pid)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		return n > 0 || !isOurs(l, pid)
	}
}

// StopComponent stops one running component (SIGTERM, then SIGKILL after 10s), keeping what
// StartComponent needs to start it again: tests use the pair to take the API server away.
func StopComponent(l Layout, name string) error { return stopComponent(l, name, 10*time.Second) }

// StartComponent starts a stopped component again with the command line it last ran with. It
// does not wait for the component to be ready. Starting a running component is an error.
func StartComponent(l Layout, name string) error {
	if pid, ok := savedPID(l, name); ok {
		return fmt.Errorf("%s is already running (pid %d)", name, pid)
	}
	raw, err := os.ReadFile(l.ArgsFile(name))
	if err != nil {
		return fmt.Errorf("%s was never started in %s: %w", name, l.Dir, err)
	}
	var argv []string
	if err := json.Unmarshal(raw, &argv); err != nil || len(argv) == 0 {
		return fmt.Errorf("%s: bad %s", name, l.ArgsFile(name))
	}
	_, err = startProcess(l, name, argv[0], argv[1:]...)
	return err
}

// errExited reports that a component died while the harness was waiting for the cluster.
var errExited = errors.New("exited")
