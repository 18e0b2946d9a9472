package execx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Spawner starts a program that outlives svcgraph (the forwarder of `up --detach`).
type Spawner interface {
	// Spawn starts c in the background with its standard error appended to logFile, and returns
	// once the program has printed its first line on standard output (its "ready" line), which it
	// returns. A program that exits before that is an error showing the log's tail.
	Spawn(ctx context.Context, c Cmd, logFile string) (pid int, ready string, err error)
	// Terminate asks the process to stop (SIGTERM; on Windows it is killed). A process that is
	// already gone is not an error. The caller must know the pid is still its program's.
	Terminate(pid int) error
}

func (OS) Spawn(ctx context.Context, c Cmd, logFile string) (int, string, error) {
	path, err := exec.LookPath(c.Name)
	if err != nil {
		return 0, "", &NotFoundError{Name: c.Name}
	}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, "", err
	}
	defer log.Close()
	cmd := exec.Command(path, c.Args...) // not CommandContext: it must outlive ctx
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stderr = log
	cmd.SysProcAttr = detached()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("starting %s: %w", c, err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		if line == "" {
			werr := cmd.Wait()
			data, _ := os.ReadFile(logFile)
			return 0, "", &ExitError{Cmd: c.String(), ExitCode: exitCodeOf(werr), Tail: tail(string(data), tailLines)}
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release()
		return pid, line, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, "", ctx.Err()
	}
}

func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
