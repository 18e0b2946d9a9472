package kube

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod builds a scheduled pod with one container "app"; edits adjust it per case.
func pod(name string, edits ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example/app:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
		}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		},
	}
	for _, e := range edits {
		e(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func waiting(reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func TestDiagnosePod(t *testing.T) {
	cases := []struct {
		name      string
		pod       *corev1.Pod
		pvcs      map[string]*corev1.PersistentVolumeClaim
		reason    string
		container string
		msgHas    []string
		transient bool
	}{
		{
			name:   "image pull back-off names the image",
			pod:    pod("p", waiting("ImagePullBackOff", `Back-off pulling image "example/app:1"`)),
			reason: ReasonImagePullBack, container: "app", msgHas: []string{"image example/app:1", "Back-off"},
		},
		{
			name:   "first pull error is transient",
			pod:    pod("p", waiting("ErrImagePull", "rpc error")),
			reason: ReasonErrImagePull, container: "app", transient: true,
		},
		{
			name:   "invalid image name",
			pod:    pod("p", waiting("InvalidImageName", `couldn't parse image name "Bad Name"`)),
			reason: ReasonInvalidImage, container: "app", msgHas: []string{"couldn't parse"},
		},
		{
			name: "crash loop after OOM names the memory limit",
			pod: pod("p", waiting("CrashLoopBackOff", "back-off 40s"), func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 4
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
			}),
			reason: ReasonOOMKilled, container: "app", msgHas: []string{"OOMKilled (exit code 137)", "memory limit 128Mi", "restarted 4 times"},
		},
		{
			name: "crash loop with an ordinary exit",
			pod: pod("p", waiting("CrashLoopBackOff", ""), func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 2
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}
			}),
			reason: ReasonCrashLoop, container: "app", msgHas: []string{"restarted 2 times", "Error (exit code 1)"},
		},
		{
			name:   "missing config map",
			pod:    pod("p", waiting("CreateContainerConfigError", `configmap "settings" not found`)),
			reason: ReasonConfigError, container: "app", msgHas: []string{`configmap "settings" not found`}, transient: true,
		},
		{
			name: "unschedulable keeps the scheduler's words",
			pod: pod("p", func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient memory."}}
			}),
			reason: ReasonUnschedulable, msgHas: []string{"Insufficient memory"}, transient: true,
		},
		{
			name:   "not scheduled yet",
			pod:    pod("p", func(p *corev1.Pod) { p.Status.Conditions = nil }),
			reason: ReasonPending, transient: true,
		},
		{
			name: "pending claim without a storage class",
			pod: pod("p", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-p"}}}}
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "pod has unbound immediate PersistentVolumeClaims"}}
			}),
			pvcs:   map[string]*corev1.PersistentVolumeClaim{"data-p": {Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}},
			reason: ReasonPVCPending, msgHas: []string{"data-p is Pending", "no default StorageClass"}, transient: true,
		},
		{
			name: "init container still running is named",
			pod: pod("p", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "wait-for-kafka"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "wait-for-kafka",
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			}),
			reason: ReasonInitWaiting, container: "wait-for-kafka", msgHas: []string{"wait-for-kafka"}, transient: true,
		},
		{
			name: "finished init containers are skipped",
			pod: pod("p", waiting("ImagePullBackOff", ""), func(p *corev1.Pod) {
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init",
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
			}),
			reason: ReasonImagePullBack, container: "app",
		},
		{
			name: "running but not ready",
			pod: pod("p", func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			}),
			reason: ReasonNotReady, container: "app", msgHas: []string{"readiness"}, transient: true,
		},
		{
			name:   "scheduled, no container status yet",
			pod:    pod("p"),
			reason: ReasonStarting, transient: true,
		},
		{
			name:   "terminating",
			pod:    pod("p", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }),
			reason: ReasonTerminating, transient: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnosePod(tc.pod, tc.pvcs)
			if got.Reason != tc.reason || got.Container != tc.container {
				t.Fatalf("reason, container = %q, %q; want %q, %q (message %q)", got.Reason, got.Container, tc.reason, tc.container, got.Message)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q lacks %q", got.Message, s)
				}
			}
			if transientReasons[got.Reason] != tc.transient {
				t.Errorf("transient(%s) = %v, want %v", got.Reason, transientReasons[got.Reason], tc.transient)
			}
		})
	}
}

func TestStatusCountsAndPersistence(t *testing.T) {
	three := int32(3)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &three},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 1, ReadyReplicas: 1},
	}
	owned := func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1"}} }
	s := &snapshot{
		pods: []*corev1.Pod{
			pod("web-a", owned, ready),
			pod("web-b", owned, waiting("ErrImagePull", "")),
			pod("job-x", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{{Kind: "Job"}} }),
			pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		},
		deployments: []*appsv1.Deployment{dep},
		events: map[string][]*corev1.Event{"Pod/web-b": {
			{Reason: "Failed", Message: "old", LastTimestamp: metav1.NewTime(time.Unix(100, 0))},
			{Reason: "BackOff", Message: "newest", Count: 5, LastTimestamp: metav1.NewTime(time.Unix(300, 0))},
			{Reason: "Failed", Message: "middle", LastTimestamp: metav1.NewTime(time.Unix(200, 0))},
			{Reason: "Failed", Message: "middle", LastTimestamp: metav1.NewTime(time.Unix(150, 0))},
			{Reason: "Failed", Message: "oldest", LastTimestamp: metav1.NewTime(time.Unix(50, 0))},
		}},
	}
	seen := map[string]time.Time{}
	t0 := time.Unix(1000, 0)
	st, done := s.status(t0, 20*time.Second, seen)
	if done {
		t.Fatal("done with a pod not ready and a deployment short of replicas")
	}
	// The deployment wants 3 pods but only 2 exist: the third counts as not ready yet.
	if st.Ready != 1 || st.Total != 3 || len(st.NotReady) != 1 {
		t.Fatalf("status = %d/%d, %d not ready; want 1/3, 1", st.Ready, st.Total, len(st.NotReady))
	}
	p := st.NotReady[0]
	if p.Problem || len(st.Problems()) != 0 {
		t.Fatalf("ErrImagePull counted as a problem before it persisted: %+v", p)
	}
	wantEvents := []string{"BackOff: newest (x5)", "Failed: middle", "Failed: old"}
	if strings.Join(p.Events, "|") != strings.Join(wantEvents, "|") {
		t.Errorf("events = %q, want %q", p.Events, wantEvents)
	}
	if next, ok := nextThreshold(st, 20*time.Second); !ok || !next.Equal(t0.Add(20*time.Second)) {
		t.Errorf("next threshold = %v, %v; want %v", next, ok, t0.Add(20*time.Second))
	}

	st, _ = s.status(t0.Add(21*time.Second), 20*time.Second, seen)
	if !st.NotReady[0].Problem || !st.NotReady[0].Since.Equal(t0) {
		t.Fatalf("after 21s the reason should count, since %v: %+v", t0, st.NotReady[0])
	}

	// A new reason restarts the clock.
	s.pods[1] = pod("web-b", owned, waiting("ContainerCreating", ""))
	st, _ = s.status(t0.Add(22*time.Second), 20*time.Second, seen)
	if st.NotReady[0].Problem || len(seen) != 1 {
		t.Fatalf("new reason should start fresh and old entries be pruned: %+v, seen %v", st.NotReady[0], seen)
	}

	// Everything ready and the deployment rolled out: done.
	s.pods[1] = pod("web-b", owned, ready)
	s.pods = append(s.pods, pod("web-c", owned, ready))
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 3, ReadyReplicas: 3}
	st, done = s.status(t0.Add(23*time.Second), 20*time.Second, seen)
	if !done || st.Ready != 3 || st.Total != 3 {
		t.Fatalf("status = %d/%d done=%v; want 3/3 done", st.Ready, st.Total, done)
	}

	// A new generation not yet observed by the controller is not done, even with all pods ready.
	dep.Generation = 2
	if _, done = s.status(t0.Add(24*time.Second), 20*time.Second, seen); done {
		t.Fatal("done before the deployment controller observed the new generation")
	}
}

func TestEmptyNamespaceIsNotDone(t *testing.T) {
	if _, done := (&snapshot{}).status(time.Now(), time.Second, map[string]time.Time{}); done {
		t.Fatal("an empty namespace must not count as ready: the pods may not exist yet")
	}
}

func TestNoMemoryMeansEveryReasonCounts(t *testing.T) {
	s := &snapshot{pods: []*corev1.Pod{pod("p", waiting("ErrImagePull", ""))}}
	st, _ := s.status(time.Now(), time.Hour, nil)
	if len(st.Problems()) != 1 {
		t.Fatalf("status without memory should count every reason: %+v", st)
	}
}

func TestTableAndAdvice(t *testing.T) {
	st := PodStatus{Ready: 1, Total: 3, NotReady: []PodProblem{
		{Pod: "kafka-0", Reason: ReasonUnschedulable, Message: "0/1 nodes are available:\n 1 Insufficient memory.", Events: []string{"FailedScheduling: 0/1 nodes"}},
		{Pod: "cart-1", Container: "cart", Reason: ReasonOOMKilled, Message: "OOMKilled (exit code 137), memory limit 64Mi", LogTail: "starting\nallocating"},
	}}
	table := formatTable(st)
	for _, want := range []string{"POD", "kafka-0", "-", "0/1 nodes are available: 1 Insufficient memory.", "event: FailedScheduling",
		"last log lines of cart:", "    allocating"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	advice := adviceFor("otel-demo", st.NotReady)
	for _, want := range []string{"--memory", "resources.limits.memory", "kubectl -n otel-demo describe pod"} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice lacks %q: %s", want, advice)
		}
	}
}

func TestHashLabelValue(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	cases := map[string]string{
		"":       "",
		"abc123": "abc123",
		hex64:    hex64[:63],
	}
	for in, want := range cases {
		if got := hashLabelValue(in); got != want {
			t.Errorf("hashLabelValue(%q) = %q, want %q", in, got, want)
		}
	}
	odd := hashLabelValue("sha256:abc/def")
	if len(odd) != 63 || odd == hashLabelValue("sha256:abc/deg") {
		t.Errorf("a value with characters labels forbid must be digested to 63 distinct characters, got %q", odd)
	}
	info := &ReleaseInfo{Hash: hex64[:63]}
	if !info.HashMatches(hex64) || info.HashMatches(strings.Repeat("cd", 32)) {
		t.Error("HashMatches must compare through the same label encoding")
	}
	if (&ReleaseInfo{}).HashMatches("") {
		t.Error("an empty hash never matches: a release without one is always upgraded")
	}
}

func TestPickPodPrefersNewestReady(t *testing.T) {
	older := pod("old", ready)
	older.CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
	newer := pod("new", ready)
	newer.CreationTimestamp = metav1.NewTime(time.Unix(200, 0))
	notReady := pod("newest-not-ready", waiting("ContainerCreating", ""))
	notReady.CreationTimestamp = metav1.NewTime(time.Unix(300, 0))
	got := pickPod([]corev1.Pod{*older, *notReady, *newer}, "")
	if got == nil || got.Name != "new" {
		t.Fatalf("picked %v, want the newest ready pod", got)
	}
	if got := pickPod([]corev1.Pod{*older, *newer}, "new"); got == nil || got.Name != "old" {
		t.Fatalf("picked %v, want the other ready pod than the one to avoid", got)
	}
	if got := pickPod([]corev1.Pod{*newer}, "new"); got == nil || got.Name != "new" {
		t.Fatalf("picked %v, want the pod to avoid when it is the only ready one", got)
	}
	if pickPod([]corev1.Pod{*notReady}, "") != nil {
		t.Fatal("picked a pod that is not ready")
	}
}
