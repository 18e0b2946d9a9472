package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// TestUpFailures: each way `up` is documented to fail ends with its exit code and advice, in
// plain text, and leaves nothing behind in the cluster.
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

	t.Run("minikube: insufficient memory (exit 23)", func(t *testing.T) {
		w := newWorld(t, "mk23", withEnv("MINIKUBE_DOUBLE_FAIL=23"))
		t.Cleanup(func() { w.teardown(t) })
		r := w.run(t, 5*time.Minute, w.upArgs("--no-forward")...)
		expect(t, r, reason.MinikubeMemory.ExitCode)
		mustContain(t, r, "FAIL Starting minikube", "not enough memory",
			"What to do: the driver minikube chose (usually docker) does not have 8G of memory to give",
			"or ask for less with --memory", "("+reason.MinikubeMemory.ID+", exit code 20)",
			// minikube's own words, from the tail of its output
			"RSRC_INSUFFICIENT_CONTAINER_MEMORY")
		minikubeStartFailed(t, w)
		noDownloads(t, w)
		w.unchanged(t)
	})

	t.Run("minikube: Docker not running (exit 63)", func(t *testing.T) {
		w := newWorld(t, "mk63", withEnv("MINIKUBE_DOUBLE_FAIL=63"))
		t.Cleanup(func() { w.teardown(t) })
		r := w.run(t, 5*time.Minute, w.upArgs("--no-forward")...)
		expect(t, r, reason.MinikubeDriver.ExitCode)
		mustContain(t, r, "FAIL Starting minikube", "is not running or not found",
			"What to do: "+reason.MinikubeDriver.Advice, "("+reason.MinikubeDriver.ID+", exit code 21)",
			"PROVIDER_DOCKER_NOT_RUNNING")
		minikubeStartFailed(t, w)
		noDownloads(t, w)
		w.unchanged(t)
	})

	t.Run("unsupported --demo-version", func(t *testing.T) {
		w := newWorld(t, "badver")
		t.Cleanup(func() { w.teardown(t) })
		r := w.run(t, 5*time.Minute, w.upArgs("--no-forward", "--demo-version", "0.29.9")...)
		expect(t, r, reason.ChartVersion.ExitCode)
		mustContain(t, r, `opentelemetry-demo version "0.29.9" is not supported`,
			"What to do: Use one of the supported opentelemetry-demo versions: 0.30.2, 0.41.0",
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

// minikubeStartFailed asserts that svcgraph asked the double for the profile and that the failed
// start left no profile and no kubeconfig context.
func minikubeStartFailed(t *testing.T, w *world) {
	t.Helper()
	calls := w.minikubeCalls(t)
	if countCalls(calls, "start -p "+w.Profile+" ") != 1 {
		t.Errorf("want one minikube start; the double saw: %v", calls)
	}
	if _, err := os.Stat(filepath.Join(w.mkState, w.Profile+".json")); err == nil {
		t.Errorf("the failed start left profile %s in the double's state", w.Profile)
	}
	if data, err := os.ReadFile(w.kubeconfig); err == nil && strings.Contains(string(data), "current-context: "+w.Profile) {
		t.Errorf("the failed start made context %s current:\n%s", w.Profile, data)
	}
}
