package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/briandowns/spinner"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Mode is how the runner shows progress.
type Mode int

const (
	// Plain prints one line per finished step and no escape codes: for pipes, files, CI logs,
	// NO_COLOR and TERM=dumb.
	Plain Mode = iota
	// Terminal shows a spinner per step, then ✓ or ✗ with the elapsed time.
	Terminal
	// JSON prints one event object per line, for machines.
	JSON
)

// Runner executes plans and shows their progress.
type Runner struct {
	Out     io.Writer
	Mode    Mode
	Verbose bool
	// TTY is the terminal the spinner draws on in Terminal mode (the spinner checks it).
	TTY *os.File
	// Now is the clock; tests fix it so output is byte-for-byte stable.
	Now func() time.Time

	mu   sync.Mutex
	spin *spinner.Spinner
	cur  Step

	transferStep  Step // the step whose transfer started at transferStart (for the rate)
	transferStart time.Time
}

// Event is one line of --output json.
type Event struct {
	Event     string `json:"event"` // step_started, step_progress, step_finished, step_failed, log
	Step      string `json:"step,omitempty"`
	Title     string `json:"title,omitempty"`
	ElapsedMS *int64 `json:"elapsed_ms,omitempty"`
	Message   string `json:"message,omitempty"`
	ErrorID   string `json:"error_id,omitempty"`
	ExitCode  *int   `json:"exit_code,omitempty"`
	Advice    string `json:"advice,omitempty"`
	// Details is a step's result for machines (step_finished), e.g. the chart versions used.
	Details any `json:"details,omitempty"`
	// Transfer is a step_progress's byte counts, for steps that move images.
	Transfer *Transfer `json:"transfer,omitempty"`
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run executes the plan in order and stops at the first failing step. The returned error is
// already reported to the user; callers only turn it into an exit code with reason.Of.
func (r *Runner) Run(ctx context.Context, plan Plan, s *Session) error {
	s.runner = r
	for _, st := range plan {
		if err := ctx.Err(); err != nil {
			r.fail(st, 0, err)
			return err
		}
		s.result, s.details = "", nil
		start := r.now()
		r.begin(st)
		err := st.Run(ctx, s)
		elapsed := r.now().Sub(start)
		if err != nil {
			r.fail(st, elapsed, err)
			return err
		}
		r.finish(st, elapsed, s.result, s.details)
	}
	return nil
}

func (r *Runner) begin(st Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = st
	switch r.Mode {
	case JSON:
		r.emit(Event{Event: "step_started", Step: st.ID(), Title: st.Title()})
	case Terminal:
		sp := spinner.New(spinner.CharSets[14], 100*time.Millisecond, spinner.WithWriterFile(r.TTY))
		sp.Writer = r.Out
		sp.Suffix = " " + st.Title()
		sp.Start()
		r.spin = sp
	}
}

// progress updates the live detail of the running step ("23/31 pods ready").
func (r *Runner) progress(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.Mode {
	case JSON:
		if r.cur != nil {
			r.emit(Event{Event: "step_progress", Step: r.cur.ID(), Message: msg})
		}
	case Terminal:
		if r.spin != nil && r.cur != nil {
			r.spin.Lock()
			r.spin.Suffix = " " + r.cur.Title() + ": " + msg
			r.spin.Unlock()
		}
	}
}

// log prints a line that belongs to no step's result: warnings, -v detail, URLs.
func (r *Runner) log(msg string, verboseOnly bool) {
	if verboseOnly && !r.Verbose {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Mode == JSON {
		r.emit(Event{Event: "log", Message: msg})
		return
	}
	if r.spin != nil {
		r.spin.Stop()
		fmt.Fprint(r.Out, "\r\033[K")
		defer r.spin.Start()
	}
	fmt.Fprintln(r.Out, msg)
}

func (r *Runner) stopSpinner() {
	if r.spin != nil {
		r.spin.Stop()
		r.spin = nil
		fmt.Fprint(r.Out, "\r\033[K")
	}
}

func (r *Runner) finish(st Step, elapsed time.Duration, result string, details any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = nil
	switch r.Mode {
	case JSON:
		ms := elapsed.Milliseconds()
		r.emit(Event{Event: "step_finished", Step: st.ID(), ElapsedMS: &ms, Message: result, Details: details})
	case Terminal:
		r.stopSpinner()
		fmt.Fprintf(r.Out, "✓ %s (%s)%s\n", st.Title(), seconds(elapsed), detail(result))
	default:
		fmt.Fprintf(r.Out, "ok   %s (%s)%s\n", st.Title(), seconds(elapsed), detail(result))
	}
}

func (r *Runner) fail(st Step, elapsed time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = nil
	e := reason.Of(err)
	switch r.Mode {
	case JSON:
		ms := elapsed.Milliseconds()
		code := e.Kind.ExitCode
		r.emit(Event{Event: "step_failed", Step: st.ID(), ElapsedMS: &ms, Message: err.Error(),
			ErrorID: e.Kind.ID, ExitCode: &code, Advice: e.Advise()})
		return
	case Terminal:
		r.stopSpinner()
		fmt.Fprintf(r.Out, "✗ %s (%s)\n", st.Title(), seconds(elapsed))
	default:
		fmt.Fprintf(r.Out, "FAIL %s (%s)\n", st.Title(), seconds(elapsed))
	}
	fmt.Fprint(r.Out, Explain(err))
}

// Explain renders an error for people: what went wrong, its kind and exit code, and what to do.
func Explain(err error) string {
	e := reason.Of(err)
	var b strings.Builder
	fmt.Fprintf(&b, "\nError: %s\n", indentAfterFirst(err.Error(), "  "))
	if advice := e.Advise(); advice != "" {
		fmt.Fprintf(&b, "What to do: %s\n", indentAfterFirst(advice, "  "))
	}
	fmt.Fprintf(&b, "(%s, exit code %d)\n", e.Kind.ID, e.Kind.ExitCode)
	return b.String()
}

// Failure reports an error that happened outside any step (bad flags, a failed config check),
// in the runner's mode.
func (r *Runner) Failure(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Mode == JSON {
		e := reason.Of(err)
		code := e.Kind.ExitCode
		r.emit(Event{Event: "failed", Message: err.Error(), ErrorID: e.Kind.ID, ExitCode: &code, Advice: e.Advise()})
		return
	}
	fmt.Fprint(r.Out, strings.TrimPrefix(Explain(err), "\n"))
}

func indentAfterFirst(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func (r *Runner) emit(ev Event) {
	b, _ := json.Marshal(ev)
	r.Out.Write(append(b, '\n'))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func detail(result string) string {
	if result == "" {
		return ""
	}
	return ": " + result
}
