package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// TestInterruptedInstallThenUp is Ctrl-C while `up` installs the demo: up exits with the
// interrupted kind's code, Helm's record of the release says failed (a pending-install would
// block every later install), and the next `up` repairs the release and gets every pod Ready.
func TestInterruptedInstallThenUp(t *testing.T) {
	w := newWorld(t, "interrupt")
	t.Cleanup(func() { w.teardown(t) })

	t.Run("Ctrl-C during the install", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), upLimit)
		defer cancel()
		up := w.start(t, ctx, "interrupted during the install", w.upArgs("--no-forward")...)
		// Plain output prints a step's line when it ends: the install starts right after this one.
		up.await(t, "ok   Adding Helm repositories", 5*time.Minute, "up never got to the install")
		// Helm stores the release as pending-install before it creates the demo's objects, which
		// takes a while: interrupting then is interrupting the install itself.
		w.waitReleaseStatus(t, ctx, release.StatusPendingInstall)
		code, _ := up.interrupt(t) // the exit code says it all: a non-zero one is an error
		out := up.output()
		if code != reason.Interrupted.ExitCode {
			t.Fatalf("up after Ctrl-C exited %d, want %d (%s)\n%s", code, reason.Interrupted.ExitCode, reason.Interrupted.ID, out)
		}
		if !strings.Contains(up.lines.String(), "FAIL Installing the demo (") || !strings.Contains(out, reason.Interrupted.ID) {
			t.Errorf("up did not report the install step as interrupted:\n%s", out)
		}
		if strings.ContainsRune(out, 0x1b) {
			t.Errorf("piped output contains escape codes:\n%q", out)
		}
		rel := w.release(t)
		if rel == nil || rel.Info.Status != release.StatusFailed {
			status := "no release"
			if rel != nil {
				status = rel.Info.Status.String()
			}
			t.Fatalf("after Ctrl-C the release is %q, want %q (a pending one blocks the next install)\n%s", status, release.StatusFailed, out)
		}
		t.Logf("interrupted up (release then %s: %s):\n%s", rel.Info.Status, rel.Info.Description, out)
	})
	if t.Failed() {
		return
	}

	t.Run("up again repairs the release", func(t *testing.T) {
		r := w.run(t, upLimit, w.upArgs("--no-forward")...)
		expect(t, r, 0)
		if l := stepLine(t, r, "Installing the demo"); !strings.Contains(l, kube.ActionUpgradedFailed) {
			t.Errorf("install step %q does not say it repaired the failed release (%q)", l, kube.ActionUpgradedFailed)
		}
		if rel := w.release(t); rel == nil || rel.Info.Status != release.StatusDeployed || rel.Version != 2 {
			t.Errorf("release after the second up: %+v, want deployed revision 2", rel.Info)
		}
		stepLine(t, r, "Waiting for pods")
		w.podsReady(t) // the cluster's view, not svcgraph's word
	})
}

// waitReleaseStatus watches Helm's storage Secrets of the world's release until one has the
// status (Helm labels each revision's Secret with it).
func (w *world) waitReleaseStatus(t *testing.T, ctx context.Context, status release.Status) {
	t.Helper()
	secrets := w.cluster.Client.CoreV1().Secrets(w.Namespace)
	sel := labels.Set{"owner": "helm", "name": w.Release}.String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return secrets.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return secrets.Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Secret{}, nil, func(ev watch.Event) (bool, error) {
		s, ok := ev.Object.(*corev1.Secret)
		return ok && ev.Type != watch.Deleted && s.Labels["status"] == status.String(), nil
	})
	if err != nil {
		t.Fatalf("waiting for release %s to be %s: %v", w.Release, status, err)
	}
}
