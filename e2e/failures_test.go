package e2e

import (
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
		if calls := w.minikubeCalls(t); countCalls(calls, "start ") > 0 {
			t.Logf("note: minikube start ran before the version was refused: %v", calls)
		}
	})
}

// noDownloads asserts that svcgraph did not touch the chart repositories.
func noDownloads(t *testing.T, w *world) {
	t.Helper()
	if req := w.repo.Requests(); len(req) > 0 {
		t.Errorf("%d request(s) to the chart repositories before the failure: %v", len(req), req)
	}
}
