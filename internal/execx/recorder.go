package execx

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Recorder is a Runner for tests: it records every command and answers from a script of
// responses keyed by the command line (without the program's directory).
type Recorder struct {
	mu        sync.Mutex
	Calls     []string            // command lines in the order they ran
	Responses map[string]Response // exact command line → response
	Prefixes  []PrefixResponse    // consulted in order when no exact response matches
	Missing   map[string]bool     // programs LookPath does not find
}

// Response is a scripted answer.
type Response struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// PrefixResponse answers every command line that starts with Prefix.
type PrefixResponse struct {
	Prefix string
	Response
}

// NewRecorder returns an empty Recorder: every command succeeds with no output.
func NewRecorder() *Recorder {
	return &Recorder{Responses: map[string]Response{}, Missing: map[string]bool{}}
}

// On scripts the response for an exact command line and returns r for chaining.
func (r *Recorder) On(cmdline string, resp Response) *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Responses[cmdline] = resp
	return r
}

func (r *Recorder) LookPath(name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Missing[name] {
		return "", &NotFoundError{Name: name}
	}
	return "/usr/bin/" + name, nil
}

func (r *Recorder) Run(ctx context.Context, c Cmd) (Result, error) {
	if _, err := r.LookPath(c.Name); err != nil {
		return Result{ExitCode: -1}, err
	}
	line := c.String()
	r.mu.Lock()
	r.Calls = append(r.Calls, line)
	resp, ok := r.Responses[line]
	if !ok {
		for _, p := range r.Prefixes {
			if strings.HasPrefix(line, p.Prefix) {
				resp, ok = p.Response, true
				break
			}
		}
	}
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("%s: %w", line, err)
	}
	res := Result{Stdout: []byte(resp.Stdout), Stderr: []byte(resp.Stderr), ExitCode: resp.ExitCode}
	if resp.ExitCode != 0 {
		return res, NewExitError(c, resp.ExitCode, res.Stdout, res.Stderr)
	}
	return res, nil
}

// CallsSnapshot returns a copy of the recorded command lines.
func (r *Recorder) CallsSnapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.Calls...)
}
