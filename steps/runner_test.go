package steps

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// fakeStep records that it ran and returns err.
type fakeStep struct {
	id, title string
	result    string
	progress  string
	err       error
	ran       *[]string
}

func (f fakeStep) ID() string    { return f.id }
func (f fakeStep) Title() string { return f.title }
func (f fakeStep) Run(_ context.Context, s *Session) error {
	*f.ran = append(*f.ran, f.id)
	if f.progress != "" {
		s.Progress(f.progress)
	}
	if f.result != "" {
		s.Result(f.result)
	}
	return f.err
}

// tick is a clock that advances 1.5 s on every reading, so elapsed times are stable.
func tick() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(1500 * time.Millisecond); return t }
}

func plan(ran *[]string, failing error) Plan {
	return Plan{
		fakeStep{id: "one", title: "First thing", result: "done it", progress: "half way", ran: ran},
		fakeStep{id: "two", title: "Second thing", err: failing, ran: ran},
		fakeStep{id: "three", title: "Third thing", ran: ran},
	}
}

func TestRunnerPlainStopsAtFirstFailure(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	failure := reason.New(reason.MinikubeMemory, "Give Docker more memory.", "minikube could not start profile %q", "svcgraph")
	err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(context.Background(), plan(&ran, failure), &Session{})
	if !errors.Is(err, failure) {
		t.Fatalf("Run returned %v, want the step's error", err)
	}
	if got := strings.Join(ran, ","); got != "one,two" {
		t.Errorf("steps ran: %s, want one,two (stop at the first failure)", got)
	}
	want := "ok   First thing (1.5s): done it\n" +
		"FAIL Second thing (1.5s)\n" +
		"\nError: minikube could not start profile \"svcgraph\"\n" +
		"What to do: Give Docker more memory.\n" +
		"(MINIKUBE_INSUFFICIENT_MEMORY, exit code 20)\n"
	if out.String() != want {
		t.Errorf("plain output:\n%q\nwant:\n%q", out.String(), want)
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Error("plain output contains an escape code")
	}
}

func TestRunnerJSONEvents(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	failure := reason.New(reason.PortInUse, "Pick another with --port.", "port 8080 is in use")
	_ = (&Runner{Out: &out, Mode: JSON, Now: tick()}).Run(context.Background(), plan(&ran, failure), &Session{})
	want := `{"event":"step_started","step":"one","title":"First thing"}
{"event":"step_progress","step":"one","message":"half way"}
{"event":"step_finished","step":"one","elapsed_ms":1500,"message":"done it"}
{"event":"step_started","step":"two","title":"Second thing"}
{"event":"step_failed","step":"two","elapsed_ms":1500,"message":"port 8080 is in use","error_id":"FORWARD_PORT_IN_USE","exit_code":50,"advice":"Pick another with --port."}
`
	if out.String() != want {
		t.Errorf("json output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRunnerCancelledContextIsInterrupted(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(ctx, plan(&ran, nil), &Session{})
	if len(ran) != 0 {
		t.Errorf("steps ran after cancel: %v", ran)
	}
	if k := reason.Of(err).Kind; k != reason.Interrupted {
		t.Errorf("kind = %s, want INTERRUPTED", k.ID)
	}
	if !strings.Contains(out.String(), "(INTERRUPTED, exit code 130)") {
		t.Errorf("output does not say interrupted:\n%s", out.String())
	}
}

func TestExitCodesAreUnique(t *testing.T) {
	seen := map[int]string{}
	for _, k := range reason.Kinds {
		if other, ok := seen[k.ExitCode]; ok {
			t.Errorf("exit code %d used by %s and %s", k.ExitCode, other, k.ID)
		}
		seen[k.ExitCode] = k.ID
	}
}
