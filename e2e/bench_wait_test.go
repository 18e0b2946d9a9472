//go:build bench

// Issue 5 items 3 and 4: how soon each tool returns once the last pod is Ready, and how soon it
// names a pod stuck in ImagePullBackOff. The test cluster's kwok stages do the misbehaving: a pod
// annotated svcgraph.test/ready-delay turns Ready only after that long, and one labelled
// svcgraph.test/fault=ImagePullBackOff stays in ImagePullBackOff.

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// The test cluster's kwok stages for misbehaving pods.
const (
	readyDelayAnnotation = testcluster.ReadyDelayAnnotation
	faultLabel           = testcluster.FaultLabel
	faultImagePull       = testcluster.FaultImagePullBackOff
)

// helmKey escapes a label or annotation key for a helm --set path.
func helmKey(k string) string { return strings.ReplaceAll(k, ".", `\.`) }

// podLog records, as this process sees the watch events, when each pod of the namespace turned
// Ready and when it first appeared.
type podLog struct {
	mu      sync.Mutex
	ready   map[string]time.Time // last transition to Ready
	isReady map[string]bool
	seen    map[string]time.Time
	stuck   map[string]time.Time // first status with a container waiting in ImagePullBackOff
	pods    map[string]*corev1.Pod
}

func (w *world) watchPods(t *testing.T) *podLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pods := w.cluster.Client.CoreV1().Pods(w.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &podLog{ready: map[string]time.Time{}, isReady: map[string]bool{}, seen: map[string]time.Time{}, stuck: map[string]time.Time{}, pods: map[string]*corev1.Pod{}}
	for i := range list.Items {
		p := &list.Items[i]
		l.isReady[p.Name], l.pods[p.Name] = podIsReady(p), p
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer rw.Stop()
		for ev := range rw.ResultChan() {
			now := time.Now()
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			l.mu.Lock()
			if _, ok := l.seen[p.Name]; !ok && ev.Type == watch.Added {
				l.seen[p.Name] = now
			}
			if _, ok := l.stuck[p.Name]; !ok && imagePullBackOff(p) {
				l.stuck[p.Name] = now
			}
			r := podIsReady(p) && ev.Type != watch.Deleted
			if r && !l.isReady[p.Name] {
				l.ready[p.Name] = now
			}
			l.isReady[p.Name], l.pods[p.Name] = r, p
			l.mu.Unlock()
		}
	}()
	return l
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func imagePullBackOff(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason == faultImagePull {
			return true
		}
	}
	return false
}

func (l *podLog) stuckAt(name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stuck[name]
}

// lastReadyBefore is the pod that turned Ready last before t, and when.
func (l *podLog) lastReadyBefore(t time.Time) (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var name string
	var at time.Time
	for n, r := range l.ready {
		if r.Before(t) && r.After(at) {
			name, at = n, r
		}
	}
	return name, at
}

func (l *podLog) readyAt(name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready[name]
}

func (l *podLog) firstSeen(match func(*corev1.Pod) bool) (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var name string
	var at time.Time
	for n, p := range l.pods {
		if s, ok := l.seen[n]; ok && match(p) && (at.IsZero() || s.Before(at)) {
			name, at = n, s
		}
	}
	return name, at
}

// delayedPod creates a bare pod in the world's namespace whose Ready the harness delays.
func (w *world) delayedPod(t *testing.T, name string, delay time.Duration) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{readyDelayAnnotation: delay.String()}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/bench:1"}}},
	}
	if _, err := w.cluster.Client.CoreV1().Pods(w.Namespace).Create(w.ctx(t), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// deletePodGone deletes a pod at once and waits until the API server no longer has it, so the
// next round's wait does not see it terminating.
func (w *world) deletePodGone(t *testing.T, name string) {
	t.Helper()
	pods := w.cluster.Client.CoreV1().Pods(w.Namespace)
	zero := int64(0)
	if err := pods.Delete(w.ctx(t), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := watchtools.UntilWithoutRetry(ctx, mustWatch(t, ctx, w, name), func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Deleted, nil
	})
	if err != nil && !apierrors.IsNotFound(err) {
		if _, gerr := pods.Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
			t.Fatalf("pod %s not gone a minute after its delete: %v", name, err)
		}
	}
}

func mustWatch(t *testing.T, ctx context.Context, w *world, name string) watch.Interface {
	t.Helper()
	pods := w.cluster.Client.CoreV1().Pods(w.Namespace)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return watch.NewEmptyWatch()
	}
	if err != nil {
		t.Fatal(err)
	}
	wi, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: p.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	return wi
}

// timedExit runs a tool to its end and returns when it exited.
func (w *world) timedExit(t *testing.T, name string, args ...string) time.Time {
	t.Helper()
	w.timed(t, 10*time.Minute, name, args...)
	return time.Now()
}

func (w *world) benchReady(t *testing.T, rep *benchReport, rounds int, up []string, chartFile, valuesFile string) {
	delay := 5 * time.Second
	log := w.watchPods(t)
	sg := &series{name: "ready detection: svcgraph up (waiting) — last pod Ready → exit"}
	kc := &series{name: "ready detection: kubectl wait pod/… — last pod Ready → exit"}
	hm := &series{name: "ready detection: helm upgrade --wait (frontend proxy rollout) — last pod Ready → exit"}
	measure := func(s *series, pod string, exit time.Time) {
		t.Helper()
		ready := log.readyAt(pod)
		if ready.IsZero() || ready.After(exit) {
			t.Fatalf("%s returned (%s) before pod %s was Ready (%s)", s.name, exit.Format(time.StampMilli), pod, ready.Format(time.StampMilli))
		}
		if last, at := log.lastReadyBefore(exit); last != pod {
			t.Logf("note: the last pod Ready before the exit was %s (%s), not %s", last, at.Format(time.StampMilli), pod)
		}
		s.add(benchRun{took: exit.Sub(ready)})
	}
	for i := 0; i < rounds; i++ {
		pod := fmt.Sprintf("bench-ready-sg-%d", i+1)
		w.delayedPod(t, pod, delay)
		measure(sg, pod, w.timedExit(t, "svcgraph", up...))
		w.deletePodGone(t, pod)

		pod = fmt.Sprintf("bench-ready-kc-%d", i+1)
		w.delayedPod(t, pod, delay)
		measure(kc, pod, w.timedExit(t, "kubectl", "wait", "--for=condition=Ready", "pod/"+pod, "--namespace", w.Namespace, "--timeout=2m"))
		w.deletePodGone(t, pod)
	}
	// helm waits only for what the release owns, so its pod is the frontend proxy's, delayed
	// through the chart's podAnnotations (a new value each round makes a new pod).
	for i := 0; i < rounds; i++ {
		ann := "components.frontendProxy.podAnnotations."
		exit := w.timedExit(t, "helm", "upgrade", "--install", w.Release, chartFile, "--namespace", w.Namespace, "-f", valuesFile,
			"--wait", "--timeout", "5m",
			"--set-string", ann+helmKey(readyDelayAnnotation)+"="+delay.String(),
			"--set-string", ann+"svcgraph-bench-round="+strconv.Itoa(i+1))
		_, pods := w.proxyPods(t)
		var newest string
		for _, p := range pods {
			if p.Annotations["svcgraph-bench-round"] == strconv.Itoa(i+1) {
				newest = p.Name
			}
		}
		if newest == "" {
			t.Fatalf("no frontend proxy pod of helm round %d", i+1)
		}
		measure(hm, newest, exit)
	}
	w.timed(t, 10*time.Minute, "svcgraph", up...) // back to svcgraph's release, not timed
	rep.rows = append(rep.rows, sg.row(), kc.row(), hm.row())
}

func (w *world) benchStuck(t *testing.T, rep *benchReport, rounds int, chartFile, valuesFile string) {
	log := w.watchPods(t)
	lbl := "opentelemetry-collector.podLabels."
	stuckSet := lbl + helmKey(faultLabel) + "=" + faultImagePull
	isStuck := func(round int) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			return p.Labels[faultLabel] == faultImagePull && p.Labels["svcgraph-bench-round"] == "r"+strconv.Itoa(round)
		}
	}
	fromStart := &series{name: "stuck pod: svcgraph up -o json — start → names the ImagePullBackOff pod"}
	fromPod := &series{name: "stuck pod: svcgraph up -o json — stuck pod created → named"}
	fromStatus := &series{name: "stuck pod: svcgraph up -o json — ImagePullBackOff in the status and the wait step running → named"}
	helmS := &series{name: "stuck pod: helm upgrade --wait --timeout 20s — start → exit (names no pod)"}
	var helmSays string
	for i := 0; i < rounds; i++ {
		round := 2*i + 1 // a new label value each run makes a new collector pod
		args := append(w.benchUp("-o", "json"), "--set", stuckSet, "--set", lbl+"svcgraph-bench-round=r"+strconv.Itoa(round))
		start, waiting, named, pod := w.untilNamed(t, args)
		stuckPod, created := log.firstSeen(isStuck(round))
		if pod != stuckPod || stuckPod == "" {
			t.Fatalf("svcgraph named %q, but the stuck pod of this round is %q", pod, stuckPod)
		}
		fromStart.add(benchRun{took: named.Sub(start)})
		fromPod.add(benchRun{took: named.Sub(created)})
		// svcgraph's own share: from when both the status showed it and the wait step ran.
		if st := log.stuckAt(pod); !st.IsZero() && !waiting.IsZero() {
			fromStatus.add(benchRun{took: named.Sub(later(st, waiting))})
		}

		round++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, w.bin+"/helm", "upgrade", "--install", w.Release, chartFile, "--namespace", w.Namespace,
			"-f", valuesFile, "--wait", "--timeout", "20s",
			"--set-string", stuckSet, "--set-string", lbl+"svcgraph-bench-round=r"+strconv.Itoa(round))
		cmd.Env, cmd.Dir = w.environ(), w.dir
		hstart := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(hstart)
		cancel()
		if err == nil {
			t.Fatalf("helm --wait succeeded with a pod in ImagePullBackOff:\n%s", out)
		}
		helmS.add(benchRun{took: took})
		helmSays = strings.TrimSpace(string(out))
		if stuckPod, _ := log.firstSeen(isStuck(round)); stuckPod != "" && strings.Contains(helmSays, stuckPod) {
			t.Logf("note: helm named the stuck pod %s", stuckPod)
		}
		t.Logf("helm with a stuck pod, after %s: %s", took.Round(time.Millisecond), helmSays)
	}
	w.timed(t, 10*time.Minute, "svcgraph", w.benchUp()...) // repair the release, not timed
	rep.rows = append(rep.rows, fromStart.row(), fromPod.row(), fromStatus.row(), helmS.row())
	rep.sections = append(rep.sections, "Stuck pod, what `helm upgrade --wait --timeout 20s` said (last round): `"+strings.ReplaceAll(helmSays, "\n", " ")+"`")
}

// untilNamed runs svcgraph with -o json until a progress event names a pod in ImagePullBackOff,
// then interrupts it. It returns when it started, when its wait step started, when the event
// arrived and the pod named.
func (w *world) untilNamed(t *testing.T, args []string) (start, waiting, named time.Time, pod string) {
	t.Helper()
	cmd := exec.Command(w.svcgraph, args...)
	cmd.Env, cmd.Dir = w.environ(), w.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := newLineReader(stdout)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { lines.drain(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	}()
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case l, ok := <-lines.lines:
			if !ok {
				t.Fatalf("svcgraph %s ended without naming the stuck pod\n%s%s", strings.Join(args, " "), lines, stderr.String())
			}
			var ev struct{ Event, Step, Message string }
			if json.Unmarshal([]byte(l), &ev) != nil {
				continue
			}
			if ev.Event == "step_started" && ev.Step == "wait" {
				waiting = time.Now()
			}
			if ev.Event != "step_progress" || !strings.Contains(ev.Message, faultImagePull) {
				continue
			}
			named = time.Now()
			// "31/32 pods ready (POD: ImagePullBackOff)"
			if i, j := strings.LastIndex(ev.Message, "("), strings.LastIndex(ev.Message, ": "+faultImagePull); i >= 0 && j > i {
				pod = ev.Message[i+1 : j]
			}
			t.Logf("svcgraph named it after %s: %s", named.Sub(start).Round(time.Millisecond), ev.Message)
			return start, waiting, named, pod
		case <-timeout:
			t.Fatalf("svcgraph did not name a stuck pod within 5 minutes\n%s%s", lines, stderr.String())
		}
	}
}
