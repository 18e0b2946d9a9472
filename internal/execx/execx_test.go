package execx

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

func TestCommandLineCanBePasted(t *testing.T) {
	c := Command("helm", "version", "--template", "{{.Version}}", "it's", "")
	if got, want := c.String(), `helm version --template '{{.Version}}' 'it'\''s' ''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestExitErrorShowsCommandAndTail(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, "echo line"+strings.Repeat("x", i%3)+" "+string(rune('a'+i)))
	}
	script := strings.Join(lines, "; ") + "; echo boom >&2; exit 3"
	res, err := OS{}.Run(context.Background(), Command("sh", "-c", script))
	if res.ExitCode != 3 || ExitCode(err) != 3 {
		t.Fatalf("exit code %d / %d, want 3", res.ExitCode, ExitCode(err))
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "command failed (exit code 3): sh -c ") || !strings.Contains(msg, "    boom") {
		t.Errorf("message:\n%s", msg)
	}
}

func TestMissingProgram(t *testing.T) {
	_, err := OS{}.Run(context.Background(), Command("svcgraph-no-such-program"))
	if _, ok := err.(*NotFoundError); !ok {
		t.Errorf("got %T %v, want *NotFoundError", err, err)
	}
}
