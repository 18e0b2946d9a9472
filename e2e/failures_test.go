package e2e

import (
	"fmt"
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

	// Every minikube exit code svcgraph gives advice for, as the double fails `start` with it.
	for _, c := range []struct {
		fail   string
		kind   reason.Kind
		pieces []string // svcgraph's message and advice, then minikube's own reason from its output
	}{
		{"23", reason.MinikubeMemory, []string{"not enough memory",
			"What to do: the driver minikube chose (usually docker) does not have 8G of memory to give",
			"or ask for less with --memory", "RSRC_INSUFFICIENT_CONTAINER_MEMORY"}},
		{"55", reason.MinikubeDriver, []string{"is not running or not found",
			"What to do: " + reason.MinikubeDriver.Advice, "DRV_DOCKER_NOT_RUNNING"}},
		{"63", reason.MinikubeDriver, []string{"is not running or not found",
			"What to do: " + reason.MinikubeDriver.Advice, "PROVIDER_DOCKER_NOT_RUNNING"}},
		{"65", reason.MinikubeDriver, []string{"is not installed",
			"What to do: Install the driver (e.g. Docker Desktop, or `--driver=qemu`), or choose an installed one with --driver.",
			"PROVIDER_DOCKER_NOT_FOUND"}},
		{"81", reason.MinikubeDriverMis, []string{"exists with another driver",
			"What to do: " + reason.MinikubeDriverMis.Advice, "GUEST_DRIVER_MISMATCH"}},
	} {
		t.Run("minikube start exits "+c.fail, func(t *testing.T) {
			w := newWorld(t, "mk"+c.fail, withEnv("MINIKUBE_DOUBLE_FAIL="+c.fail))
			t.Cleanup(func() { w.teardown(t) })
			r := w.run(t, 5*time.Minute, w.upArgs("--no-forward")...)
			expect(t, r, c.kind.ExitCode)
			mustContain(t, r, append([]string{"FAIL Starting minikube",
				fmt.Sprintf("(%s, exit code %d)", c.kind.ID, c.kind.ExitCode)}, c.pieces...)...)
			minikubeStartFailed(t, w)
			noDownloads(t, w)
			w.unchanged(t)
		})
	}

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
