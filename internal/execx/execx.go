// Package execx is the one seam through which svcgraph runs external programs (minikube, kubectl,
// helm). Tests plug a Recorder in here; nothing else in svcgraph calls os/exec.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Cmd is one invocation of an external program.
type Cmd struct {
	Name string
	Args []string
	Env  []string  // extra KEY=VALUE pairs on top of the process environment
	Live io.Writer // if set, combined output is copied here as it arrives (for -v)
}

// Command is a shorthand for Cmd{Name: name, Args: args}.
func Command(name string, args ...string) Cmd { return Cmd{Name: name, Args: args} }

// String renders the command line so that a user can paste it into a shell.
func (c Cmd) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	for _, p := range append([]string{c.Name}, c.Args...) {
		parts = append(parts, shellQuote(p))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Result is what a finished command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner runs external programs. Run returns the Result even when the command fails; the error is
// then an *ExitError (the program ran and exited non-zero) or a *NotFoundError.
type Runner interface {
	LookPath(name string) (string, error)
	Run(ctx context.Context, c Cmd) (Result, error)
}

// NotFoundError says a program is not on PATH.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s: not found on PATH", e.Name) }

// ExitError says a program ran and failed. Its message is the pasteable command line, the exit
// code and the tail of the program's output.
type ExitError struct {
	Cmd      string
	ExitCode int
	Tail     string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("command failed (exit code %d): %s", e.ExitCode, e.Cmd)
	if e.Tail != "" {
		msg += "\n" + indent(e.Tail, "    ")
	}
	return msg
}

// ExitCode returns the exit code of a failed command, or -1 when err is not an *ExitError.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode
	}
	return -1
}

const tailLines = 15

// NewExitError builds the error for a command that exited with code from its output.
func NewExitError(c Cmd, code int, stdout, stderr []byte) *ExitError {
	out := stderr
	if len(bytes.TrimSpace(out)) == 0 {
		out = stdout
	}
	return &ExitError{Cmd: c.String(), ExitCode: code, Tail: tail(string(out), tailLines)}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// OS runs programs for real.
type OS struct{}

func (OS) LookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &NotFoundError{Name: name}
	}
	return p, nil
}

func (o OS) Run(ctx context.Context, c Cmd) (Result, error) {
	if _, err := o.LookPath(c.Name); err != nil {
		return Result{ExitCode: -1}, err
	}
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Live != nil {
		cmd.Stdout = io.MultiWriter(&stdout, c.Live)
		cmd.Stderr = io.MultiWriter(&stderr, c.Live)
	}
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		res.ExitCode = -1
		return res, fmt.Errorf("%s: %w", c.String(), ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, NewExitError(c, res.ExitCode, res.Stdout, res.Stderr)
	}
	res.ExitCode = -1
	return res, fmt.Errorf("running %s: %w", c.String(), err)
}
