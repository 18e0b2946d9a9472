package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// TestUpFailures: each way `up` is documented to fail ends with its exit code and advice, in
// plain text, and leaves nothing behind in the cluster. The ways minikube fails run against the
// real minikube in realminikube_test.go.
func TestUpFailures(t *testing.T) {
	t.Run("helm missing from PATH", func(t *testing.T) {
		w := newWorld(t, "nohelm", without("helm"))
		t.Cleanup(func() { w.teardown(t) })
		r := w.run(t, 5*time.Minute, w.upArgs("--no-forward")...)
		expect(t, r, reason.MissingBinary.ExitCode)
		mustContain(t, r, "FAIL Checking prerequisites", "not found on PATH: helm",
			"What to do: install helm: see https://helm.sh/docs/intro/install/", "("+reason.MissingBinary.ID+", exit code 10)")
		if calls := w.minikubeCalls(t); countCalls(calls, "start ") > 0 {
			t.Errorf("minikube start ran although preflight failed: %v", calls)
		}
		noDownloads(t, w)
		w.unchanged(t)
	})

	t.Run("unsupported --demo-version", func(t *testing.T) {
		w := newWorld(t, "badver")
		t.Cleanup(func() { w.teardown(t) })
		r := w.run(t, 5*time.Minute, w.upArgs("--no-forward", "--demo-version", "0.29.9")...)
		expect(t, r, reason.ChartVersion.ExitCode)
		mustContain(t, r, "opentelemetry-demo version 0.29.9 is outside the versions svcgraph knows how to patch (0.30.0 to 0.41.0)",
			"What to do: Pick a version of opentelemetry-demo from 0.30.0 to 0.41.0, or latest",
			"("+reason.ChartVersion.ID+", exit code 31)")
		noDownloads(t, w)
		w.unchanged(t)
		if calls := w.minikubeCalls(t); len(calls) > 0 {
			t.Errorf("minikube ran although the version was refused on the command line: %v", calls)
		}
	})

	// Input that only the charts can judge — values files, --set expressions — is judged before
	// minikube is touched: the charts are pulled, patched and rendered with it first.
	for _, c := range []struct {
		name  string
		flags func(w *world) []string
		says  string
	}{
		{"missing -f file", func(w *world) []string { return []string{"-f", filepath.Join(w.dir, "missing.yaml")} }, "missing.yaml"},
		{"malformed -f file", func(w *world) []string {
			f := filepath.Join(w.dir, "bad.yaml")
			if err := os.WriteFile(f, []byte("default: [unclosed\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"-f", f}
		}, "bad.yaml"},
		{"bad --set", func(*world) []string { return []string{"--set", "default.env[=x"} }, "cannot parse --set default.env[=x"},
	} {
		t.Run(c.name+" is refused before minikube starts", func(t *testing.T) {
			w := newWorld(t, "badvalues")
			t.Cleanup(func() { w.teardown(t) })
			r := w.run(t, 5*time.Minute, w.upArgs(append([]string{"--no-forward"}, c.flags(w)...)...)...)
			expect(t, r, reason.BadValues.ExitCode)
			mustContain(t, r, "FAIL Pulling and patching the charts", c.says, "("+reason.BadValues.ID+", exit code 35)")
			if calls := w.minikubeCalls(t); countCalls(calls, "start ") > 0 {
				t.Errorf("minikube start ran although the values were bad: %v", calls)
			}
			helmConfigUntouched(t, w)
			w.unchanged(t)
		})
	}
}

// helmConfigUntouched asserts that svcgraph added no repository to the world's Helm configuration.
func helmConfigUntouched(t *testing.T, w *world) {
	t.Helper()
	if data, err := os.ReadFile(filepath.Join(w.dir, "helm", "config", "repositories.yaml")); err == nil {
		t.Errorf("the Helm configuration gained repositories before the failure:\n%s", data)
	}
}

// noDownloads asserts that svcgraph did not touch the chart repositories.
func noDownloads(t *testing.T, w *world) {
	t.Helper()
	if req := w.repo.Requests(); len(req) > 0 {
		t.Errorf("%d request(s) to the chart repositories before the failure: %v", len(req), req)
	}
}
