package steps

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
	"github.com/svcgraph/svcgraph/kube"
)

// runWaitStep creates the pods in a fresh namespace and runs the wait step on it in plain mode.
func runWaitStep(t *testing.T, timeout time.Duration, pods ...*corev1.Pod) (string, error) {
	t.Helper()
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "steps-wait")
	ctx := context.Background()
	for _, p := range pods {
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: "example.invalid/" + p.Name + ":1"}}
		if _, err := cl.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := kube.New(kube.Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := &Session{Config: Config{Namespace: ns, Timeout: timeout}, kube: k}
	err = (&Runner{Out: &out, Mode: Plain}).Run(ctx, Plan{WaitPods{}}, s)
	return out.String(), err
}

func TestWaitStepCountsTheLastPodReady(t *testing.T) {
	// The pod turns Ready 2 s after it is bound: the result must be the final count, not the
	// first one the wait saw.
	out, err := runWaitStep(t, time.Minute, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "late-0", Annotations: map[string]string{testcluster.ReadyDelayAnnotation: "2s"},
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Waiting for pods") || !strings.HasSuffix(out, "): 1/1 pods ready\n") {
		t.Errorf("want the step's line ending in 1/1 pods ready, got:\n%s", out)
	}
	if strings.Contains(out, "warning:") {
		t.Errorf("a pod that only takes its time is not a problem:\n%s", out)
	}
}

func TestWaitStepNamesAStuckPodBeforeTheTimeout(t *testing.T) {
	out, err := runWaitStep(t, 8*time.Second,
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fine-0"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: "stuck-0", Labels: map[string]string{testcluster.FaultLabel: testcluster.FaultImagePullBackOff},
		}},
	)
	if err == nil {
		t.Fatalf("the wait succeeded with a pod in ImagePullBackOff:\n%s", out)
	}
	if k := reason.Of(err).Kind; k != reason.PodsNotReady {
		t.Errorf("kind %v, want %v: %v", k, reason.PodsNotReady, err)
	}
	warning := "warning: pod stuck-0 (container app): ImagePullBackOff"
	if n := strings.Count(out, warning); n != 1 {
		t.Errorf("%q printed %d times, want once, before the step's FAIL line:\n%s", warning, n, out)
	}
	if w, f := strings.Index(out, warning), strings.Index(out, "FAIL"); w < 0 || f < w {
		t.Errorf("the warning must come before the FAIL line:\n%s", out)
	}
	if strings.Contains(out, "pod fine-0") {
		t.Errorf("a Ready pod was named:\n%s", out)
	}
}
