package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// These tests make pods misbehave through the loopback cluster's kwok stages (see
// testcluster.FaultLabel and testcluster.ReadyDelayAnnotation) and check what WaitPods says.

// mkDeployment creates a Deployment whose pods carry podLabels and podAnnotations (besides
// app=name) and run one container "app" with the given memory limit ("" for none).
func mkDeployment(t *testing.T, cl *testcluster.Cluster, ns, name string, replicas int32, podLabels, podAnnotations map[string]string, memLimit string) {
	t.Helper()
	labels := map[string]string{"app": name}
	for k, v := range podLabels {
		labels[k] = v
	}
	var limits corev1.ResourceList
	if memLimit != "" {
		limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/" + name + ":1",
					Resources: corev1.ResourceRequirements{Limits: limits},
				}}},
			},
		},
	}
	if _, err := cl.Client.AppsV1().Deployments(ns).Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// boundPod waits for a pod of Deployment app to be bound to the node and returns its name.
func boundPod(t *testing.T, ctx context.Context, cl *testcluster.Cluster, ns, app string) string {
	t.Helper()
	var name string
	waitFor(t, ctx, cl, ns, "a bound pod of "+app, func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		if ok && ev.Type != watch.Deleted && p.Labels["app"] == app && p.Spec.NodeName != "" {
			name = p.Name
			return true
		}
		return false
	})
	return name
}

func TestWaitPodsNamesImagePullAndOOMKilled(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-faults")
	c := newClient(t, cl, ns)
	ctx := testContext(t, time.Minute)
	mkDeployment(t, cl, ns, "web", 1, nil, nil, "")
	mkDeployment(t, cl, ns, "puller", 1, map[string]string{testcluster.FaultLabel: testcluster.FaultImagePullBackOff}, nil, "")
	mkDeployment(t, cl, ns, "hog", 1, map[string]string{testcluster.FaultLabel: testcluster.FaultCrashLoopOOMKilled}, nil, "128Mi")

	// What the crashing container printed before the kernel killed it.
	hog := boundPod(t, ctx, cl, ns, "hog")
	logFile := filepath.Join(t.TempDir(), "hog.log")
	if err := os.WriteFile(logFile, []byte("line 1 of 12\nloading the catalog\nallocated 120Mi\nallocated 140Mi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl.PodLogs(t, ns, hog, "app", logFile)
	// The wait's timeout is short: let both faults be in place before it starts.
	waitFor(t, ctx, cl, ns, "the puller pod in ImagePullBackOff", func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		return ok && p.Labels["app"] == "puller" && len(p.Status.ContainerStatuses) > 0
	})

	// Neither reason is transient: both are problems at once, long before the persistence
	// window of the wait ends.
	var mu sync.Mutex
	problems := map[string]string{} // pod prefix -> reason, as Progress first named it a problem
	err := c.WaitPods(ctx, ns, WaitOptions{Timeout: 4 * time.Second, Persist: time.Minute, LogLines: 3, Progress: func(s PodStatus) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range s.Problems() {
			app, _, _ := strings.Cut(p.Pod, "-")
			if _, ok := problems[app]; !ok {
				problems[app] = p.Reason
			}
		}
	}})
	mu.Lock()
	if problems["puller"] != ReasonImagePullBack || problems["hog"] != ReasonOOMKilled || problems["web"] != "" {
		t.Errorf("Progress named problems %v, want puller %s and hog %s (and nothing for web)", problems, ReasonImagePullBack, ReasonOOMKilled)
	}
	mu.Unlock()

	e := reason.Of(err)
	if e.Kind != reason.PodsNotReady {
		t.Fatalf("WaitPods = %v, want kind %s", err, reason.PodsNotReady.ID)
	}
	for _, want := range []string{
		"2 of 3 pods",
		// the image pull: pod, container, reason, image and the kubelet's warning event
		"puller-", ReasonImagePullBack, `image example.invalid/puller:1: Back-off pulling image "example.invalid/puller:1"`,
		"Failed: Error: ImagePullBackOff",
		// the OOM kill: pod, container, exit, the memory limit, the event and the last log lines
		hog, ReasonOOMKilled, "OOMKilled (exit code 137), memory limit 128Mi", "restarted 1 time,",
		"BackOff: Back-off restarting failed container",
		"last log lines of app:\n    loading the catalog\n    allocated 120Mi\n    allocated 140Mi",
	} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("timeout report lacks %q:\n%s", want, e.Msg)
		}
	}
	if strings.Contains(e.Msg, "line 1 of 12") {
		t.Errorf("the report shows more than LogLines=3 log lines:\n%s", e.Msg)
	}
	if strings.Contains(e.Msg, "web-") {
		t.Errorf("the ready pod is listed as not ready:\n%s", e.Msg)
	}
	for _, want := range []string{"image cannot be pulled", "resources.limits.memory"} {
		if !strings.Contains(e.Advise(), want) {
			t.Errorf("advice lacks %q: %s", want, e.Advise())
		}
	}
	t.Logf("timeout report:\n%s\nadvice: %s", e.Msg, e.Advise())
}

// allPodsReady lists the namespace's pods from the API server and says whether all are Ready:
// read right after a wait ends, it tells whether the wait ended early.
func allPodsReady(t *testing.T, cl *testcluster.Cluster, ns string) ([]corev1.Pod, bool) {
	t.Helper()
	list, err := cl.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		if !podReady(&list.Items[i]) {
			return list.Items, false
		}
	}
	return list.Items, true
}

// readyAfter checks that each pod's Ready transition came at least d after its creation (both
// are whole seconds, truncated, so a real gap of d stays ≥ d).
func readyAfter(t *testing.T, pods []corev1.Pod, d time.Duration) {
	t.Helper()
	for _, p := range pods {
		c := podCondition(&p, corev1.PodReady)
		if c == nil || c.LastTransitionTime.Sub(p.CreationTimestamp.Time) < d {
			t.Errorf("pod %s: Ready condition %+v, created %s: want Ready ≥%s after creation (its ready-delay)", p.Name, c, p.CreationTimestamp, d)
		}
	}
}

func TestWaitPodsDetectsDelayedReadiness(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-delay")
	c := newClient(t, cl, ns)
	ctx := testContext(t, time.Minute)
	mkDeployment(t, cl, ns, "slow", 2, nil, map[string]string{testcluster.ReadyDelayAnnotation: "2s"}, "")

	var mu sync.Mutex
	var statuses []PodStatus
	err := c.WaitPods(ctx, ns, WaitOptions{Timeout: 30 * time.Second, Progress: func(s PodStatus) {
		mu.Lock()
		statuses = append(statuses, s)
		mu.Unlock()
	}})
	// Read the API server's view the moment the wait ends: it must agree.
	pods, ready := allPodsReady(t, cl, ns)
	if err != nil {
		t.Fatalf("WaitPods = %v, want nil", err)
	}
	if !ready || len(pods) != 2 {
		t.Fatalf("WaitPods returned while the API server has %d pods, all Ready: %v (want 2, true)", len(pods), ready)
	}
	readyAfter(t, pods, 2*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) == 0 || statuses[0].Ready == statuses[0].Total {
		t.Errorf("the wait never saw the pods not ready (statuses %+v): the ready-delay did not hold them back", statuses)
	}
	if last := statuses[len(statuses)-1]; last.Ready != 2 || last.Total != 2 {
		t.Errorf("last progress %d/%d ready, want 2/2", last.Ready, last.Total)
	}
}

// TestWaitPodsSurvivesAPIServerRestart stops the real API server (of a private cluster) while
// pods are still on their way to Ready, and starts it again: the wait must neither end nor
// report readiness while it is away, and must end, with every pod Ready, once it is back.
func TestWaitPodsSurvivesAPIServerRestart(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Private(t)
	ns := cl.Namespace(t, "kube-restart")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 2*time.Minute)
	const replicas = 3
	mkDeployment(t, cl, ns, "slow", replicas, nil, map[string]string{testcluster.ReadyDelayAnnotation: "6s"}, "")

	var mu sync.Mutex
	var statuses []PodStatus
	outage := false
	var duringOutage []PodStatus
	synced := make(chan struct{})
	var once sync.Once
	result := make(chan error, 1)
	go func() {
		result <- c.WaitPods(ctx, ns, WaitOptions{Timeout: 90 * time.Second, Progress: func(s PodStatus) {
			mu.Lock()
			statuses = append(statuses, s)
			if outage {
				duringOutage = append(duringOutage, s)
			}
			mu.Unlock()
			once.Do(func() { close(synced) })
		}})
	}()
	select {
	case <-synced:
	case err := <-result:
		t.Fatalf("WaitPods ended before the outage: %v", err)
	}

	mu.Lock()
	outage = true
	mu.Unlock()
	stopped := time.Now()
	cl.StopAPIServer(t)
	select {
	case err := <-result:
		t.Fatalf("WaitPods ended while the API server was stopped: %v", err)
	default:
	}
	// The outage ends as the start begins: StartAPIServer returns only once the server answers,
	// and a busy machine can let the wait resync and see the pods Ready before it returns.
	mu.Lock()
	outage = false
	mu.Unlock()
	cl.StartAPIServer(t)

	var err error
	select {
	case err = <-result:
	case <-ctx.Done():
		t.Fatal("WaitPods did not end after the API server came back")
	}
	pods, ready := allPodsReady(t, cl, ns)
	if err != nil {
		t.Fatalf("WaitPods after the API server came back = %v, want nil", err)
	}
	if !ready || len(pods) != replicas {
		t.Fatalf("WaitPods returned while the API server has %d pods, all Ready: %v (want %d, true)", len(pods), ready, replicas)
	}
	readyAfter(t, pods, 6*time.Second)
	// The outage must have come mid-wait: pods turned Ready only after the stop (times are
	// whole seconds; the ready-delay leaves the stop seconds of room).
	for _, p := range pods {
		if at := podCondition(&p, corev1.PodReady).LastTransitionTime; at.Before(&metav1.Time{Time: stopped.Truncate(time.Second)}) {
			t.Errorf("pod %s was Ready at %s, before the API server was stopped at %s: the test did not test an outage mid-wait", p.Name, at, stopped)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range duringOutage {
		if s.Ready == s.Total {
			t.Errorf("progress reported %d/%d ready while the API server was stopped", s.Ready, s.Total)
		}
	}
	if first, last := statuses[0], statuses[len(statuses)-1]; first.Ready == first.Total || last.Ready != replicas || last.Total != replicas {
		t.Errorf("progress went from %d/%d to %d/%d ready, want from not all ready to %d/%d", first.Ready, first.Total, last.Ready, last.Total, replicas, replicas)
	}
	var counts []string
	for _, s := range statuses {
		counts = append(counts, fmt.Sprintf("%d/%d", s.Ready, s.Total))
	}
	var readyAt []string
	for _, p := range pods {
		readyAt = append(readyAt, podCondition(&p, corev1.PodReady).LastTransitionTime.Format(time.TimeOnly))
	}
	t.Logf("progress %s; API server stopped at %s; pods Ready at %s", strings.Join(counts, " "), stopped.Format(time.TimeOnly), strings.Join(readyAt, ", "))
}

// A container may log megabytes in a few lines; the timeout report reads at most logTailBytes of
// its log, however long the lines asked for are.
func TestLogTailReadsABoundedAmount(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-logtail")
	c := newClient(t, cl, ns)
	ctx := testContext(t, time.Minute)
	mkPod(t, cl, ns, "chatty", nil, nil)
	if err := c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "chatty.log")
	if err := os.WriteFile(logFile, []byte("starting\n"+strings.Repeat("x", 4*logTailBytes)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl.PodLogs(t, ns, "chatty", "web", logFile)
	got := c.logTail(ctx, ns, PodProblem{Pod: "chatty", Container: "web", Reason: ReasonNotReady}, 10)
	if len(got) == 0 || len(got) > logTailBytes {
		t.Errorf("log tail of a %d-byte log is %d bytes, want 1..%d", 4*logTailBytes+10, len(got), logTailBytes)
	}
}
