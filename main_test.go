package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// run executes svcgraph in-process as a user would type it and returns output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := runCLI(context.Background(), append([]string{"svcgraph"}, args...), &out, &out)
	return out.String(), code
}

// output is what a command printed, stdout and stderr apart.
type output struct{ stdout, stderr string }

// runSplit is run with stdout and stderr kept apart, for commands whose stdout is their product.
func runSplit(t *testing.T, args ...string) (output, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCLI(context.Background(), append([]string{"svcgraph"}, args...), &stdout, &stderr)
	return output{stdout.String(), stderr.String()}, code
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
		{"up", "--memory", "9223372036854775807"},
		{"up", "--output", "yaml"},
		{"up", "--preset", "tiny"},
		{"render", "--preset", "tiny"},
		{"up", "--port", "70000"},
		{"forward", "--port", "0"},
		{"status", "--profile", ""},
		{"up", "--profile", "my_profile"}, // minikube refuses it, but only after looking for a driver
		{"down", "--purge", "--profile", "x"},
	} {
		out, code := run(t, args...)
		if code != 2 || !strings.Contains(out, "What to do:") {
			t.Errorf("%v: exit %d, want 2 with advice\n%s", args, code, out)
		}
	}
}

// Names are checked as what they become — a minikube profile, a Kubernetes namespace, a Helm
// release — before anything runs (here: with nothing on PATH, preflight would exit 10), and a
// forward address must say where to listen. The error names the flag and its value.
func TestBadNamesAndAddressesAreUsageErrors(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	for _, args := range [][]string{
		{"up", "--profile", "../../x"},
		{"down", "--profile", "a/b"},
		{"status", "--profile", "x"},
		{"up", "--profile", "start"},
		{"up", "--profile", "-demo"},
		{"up", "--namespace", "Otel-Demo"},
		{"doctor", "--namespace", "otel_demo"},
		{"down", "--namespace", "../kube-system"},
		{"up", "--namespace", strings.Repeat("n", 64)},
		{"up", "--release", "My-Demo"},
		{"graph", "--release", "demo_1"},
		{"up", "--release", strings.Repeat("r", 54)},
		{"up", "--address", ""},
		{"forward", "--address", ""},
		{"up", "--address", "my-laptop"},
	} {
		out, code := run(t, args...)
		if code != 2 || !strings.Contains(out, "What to do:") || !strings.Contains(out, args[1]) || !strings.Contains(out, fmt.Sprintf("%q", args[2])) && args[2] != "" {
			t.Errorf("%v: exit %d, want 2 naming %s and its value, with advice\n%s", args, code, args[1], out)
		}
	}
	for _, ok := range [][]string{
		{"up", "--profile", "demo.2", "--namespace", "demo-2", "--release", "demo.v2"},
		{"up", "--address", "localhost"},
		{"up", "--address", "::1"},
	} {
		if out, code := run(t, ok...); code != 10 {
			t.Errorf("%v: exit %d, want 10 (valid names; preflight finds nothing on PATH)\n%s", ok, code, out)
		}
	}
}

// SVCGRAPH_ADDRESS= (set but empty) is an empty --address, not the default.
func TestEmptyAddressFromTheEnvironmentIsAUsageError(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SVCGRAPH_ADDRESS", "")
	for _, cmd := range []string{"up", "forward"} {
		if out, code := run(t, cmd); code != 2 || !strings.Contains(out, "--address must not be empty") {
			t.Errorf("%s with SVCGRAPH_ADDRESS empty: exit %d, want 2\n%s", cmd, code, out)
		}
	}
}

// A forward on another address than loopback exposes the demo: up says so in its first line,
// not only when the forward starts at the end (or in a detached forwarder's log).
func TestUpAndForwardWarnFirstAboutAnExposedAddress(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	out, code := run(t, "up", "--address", "0.0.0.0")
	if first, _, _ := strings.Cut(out, "\n"); code != 10 || !strings.HasPrefix(first, "warning: --address 0.0.0.0 exposes") {
		t.Errorf("exit %d, want 10 after a first line warning about --address 0.0.0.0\n%s", code, out)
	}
	if n := strings.Count(out, "exposes"); n != 1 {
		t.Errorf("up warned %d times, want once:\n%s", n, out)
	}
	noCluster := filepath.Join(t.TempDir(), "kubeconfig") // forward fails without one, after warning
	out, code = run(t, "forward", "--address", "0.0.0.0", "--kubeconfig", noCluster)
	if first, _, _ := strings.Cut(out, "\n"); code == 0 || !strings.HasPrefix(first, "warning: --address 0.0.0.0 exposes") {
		t.Errorf("forward: exit %d, want a failure after a first line warning about --address 0.0.0.0\n%s", code, out)
	}
	if out, _ := run(t, "up", "--address", "0.0.0.0", "--no-forward"); strings.Contains(out, "warning") {
		t.Errorf("up --no-forward warns about an address it does not use:\n%s", out)
	}
	if out, _ := run(t, "up"); strings.Contains(out, "warning") {
		t.Errorf("up on loopback warns:\n%s", out)
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
