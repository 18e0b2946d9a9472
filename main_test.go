package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// run executes svcgraph in-process as a user would type it and returns output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	err := newApp(&out, &out).RunContext(context.Background(), append([]string{"svcgraph"}, args...))
	code := exitCode(err, &out)
	return out.String(), code
}

func TestUpWithoutMinikubeStopsAtPreflight(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // nothing installed
	t.Setenv("HOME", t.TempDir())
	out, code := run(t, "up")
	if code != 10 {
		t.Errorf("exit code %d, want 10 (PREFLIGHT_MISSING_BINARY)\n%s", code, out)
	}
	if !strings.Contains(out, "not found on PATH: kubectl, minikube, helm") || !strings.Contains(out, "install minikube:") {
		t.Errorf("output lacks the missing binaries or install hints:\n%s", out)
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("output to a non-terminal contains escape codes: %q", out)
	}
}

func TestFlagsAfterTheCommandAndFromTheEnvironment(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SVCGRAPH_MEMORY", "1g")
	out, code := run(t, "up", "--namespace", "demo")
	if code != 2 || !strings.Contains(out, "--memory 1G is too little") {
		t.Errorf("SVCGRAPH_MEMORY was not read: exit %d\n%s", code, out)
	}
}

func TestBadInputIsAUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"up", "--bogus"},
		{"up", "--cpus", "1"},
		{"up", "--memory", "lots"},
		{"up", "--output", "yaml"},
		{"up", "--preset", "tiny"},
		{"render", "--preset", "tiny"},
		{"up", "--port", "70000"},
		{"forward", "--port", "0"},
		{"status", "--profile", ""},
	} {
		out, code := run(t, args...)
		if code != 2 || !strings.Contains(out, "What to do:") {
			t.Errorf("%v: exit %d, want 2 with advice\n%s", args, code, out)
		}
	}
}

// down takes no size flags and must not trip over them; without minikube it says how to get it.
func TestDownWithoutMinikubeNamesTheInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	out, code := run(t, "down")
	if code != 10 || !strings.Contains(out, "Install minikube: https://minikube.sigs.k8s.io/docs/start/") {
		t.Errorf("exit %d, want 10 (PREFLIGHT_MISSING_BINARY) with the install hint\n%s", code, out)
	}
}

func TestUpHelpListsTheFlags(t *testing.T) {
	out, _ := run(t, "up", "--help")
	for _, f := range []string{"--kubeconfig", "--profile", "--namespace", "--release", "--verbose", "--output",
		"--cpus", "--memory", "--driver", "--port", "--address", "--demo-version", "--tempo-version",
		"--demo-repo", "--tempo-repo", "--values", "--set", "--timeout", "--detach", "--no-forward",
		"--no-verify", "--graph-timeout", "--preset"} {
		if !strings.Contains(out, f) {
			t.Errorf("up --help lacks %s", f)
		}
	}
	if strings.Contains(out, "--verify ") {
		t.Errorf("up --help shows the hidden --verify:\n%s", out)
	}
}

// --verify was the opt-in before verifying became the default; old scripts must still get past
// the command line (here to preflight, which finds nothing installed).
func TestUpStillTakesVerify(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	if out, code := run(t, "up", "--verify"); code != 10 {
		t.Errorf("up --verify: exit %d, want 10 (preflight), not a usage error\n%s", code, out)
	}
}

// The README's exit code table is what users script against: every kind has its row.
func TestREADMEListsEveryExitCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range reason.Kinds {
		if row := fmt.Sprintf("| %d | %s |", k.ExitCode, k.ID); !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the exit code row %q", row)
		}
	}
}
