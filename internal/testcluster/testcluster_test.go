package testcluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/portforward"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"github.com/svcgraph/svcgraph/internal/testcluster"
	"github.com/svcgraph/svcgraph/internal/testcluster/harness"
)

// TestSmoke checks what the rest of the suite relies on: a Deployment's pod is scheduled on
// the fake node and becomes Ready, a claim of class standard is bound, and a port-forward to
// the pod reaches a local server through the API server and kwok's kubelet.
func TestSmoke(t *testing.T) {
	c := testcluster.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns := c.Namespace(t, "smoke")

	const body = "hello from the backend"
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	defer backend.Close()

	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(harness.StorageClassName),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "web", Image: "registry.k8s.io/pause:3.10",
						Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
				},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	bound := until(ctx, t, "claim data to be Bound", &corev1.PersistentVolumeClaim{}, listWatch(c.Client.CoreV1().PersistentVolumeClaims(ns)),
		func(o runtime.Object) bool {
			return o.(*corev1.PersistentVolumeClaim).Status.Phase == corev1.ClaimBound
		})
	if v := bound.(*corev1.PersistentVolumeClaim).Spec.VolumeName; v == "" {
		t.Errorf("claim is Bound without a volume name")
	}

	ready := until(ctx, t, "a web pod to be Ready", &corev1.Pod{}, listWatch(c.Client.CoreV1().Pods(ns)), func(o runtime.Object) bool {
		for _, cond := range o.(*corev1.Pod).Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}).(*corev1.Pod)
	if ready.Spec.NodeName != harness.NodeName || ready.Status.Phase != corev1.PodRunning {
		t.Errorf("pod %s: node %q phase %s, want node %q phase Running", ready.Name, ready.Spec.NodeName, ready.Status.Phase, harness.NodeName)
	}

	c.ForwardPod(t, ns, ready.Name, testcluster.Rule{PodPort: 8080, Target: strings.TrimPrefix(backend.URL, "http://")})
	local := forward(ctx, t, c, ns, ready.Name, 8080)
	got := getUntil(ctx, t, "http://"+local, body)
	if got != body {
		t.Fatalf("GET through the port-forward: %q, want %q", got, body)
	}
}

// listWatch adapts a typed namespaced client (whose List returns its own list type) for UntilWithSync.
func listWatch[L runtime.Object, C interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}](client C) cache.ListerWatcher {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return client.List(ctx, o) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.Watch(ctx, o)
		},
	}
}

// until watches until some object satisfies cond, failing the test when ctx ends first.
func until(ctx context.Context, t *testing.T, what string, obj runtime.Object, lw cache.ListerWatcher, cond func(runtime.Object) bool) runtime.Object {
	t.Helper()
	ev, err := watchtools.UntilWithSync(ctx, lw, obj, nil, func(e watch.Event) (bool, error) {
		return e.Type != watch.Deleted && cond(e.Object), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return ev.Object
}

// forward opens a client-go port-forward (as kubectl does) to the pod and returns the local address.
func forward(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, pod string, port int) string {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	url := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	t.Cleanup(func() { close(stop); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward ended before it was ready: %v", err)
	case <-ctx.Done():
		t.Fatal("port-forward not ready in time")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports: %v %v", ports, err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
}

// getUntil GETs url until it answers want: kwok learns of a new PortForward through a watch,
// so the first connections may still meet the cluster-wide rule, or none.
func getUntil(ctx context.Context, t *testing.T, url, want string) string {
	t.Helper()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if last == want {
				return last
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAPIServerRestart checks the stop/start pair other packages use to take the API server
// away, on a private cluster (the shared one's tests would see the outage), and that the private
// cluster leaves no process behind.
func TestAPIServerRestart(t *testing.T) {
	var dir string
	t.Run("private", func(t *testing.T) {
		c := testcluster.Private(t)
		dir = c.Layout.Dir
		c.StopAPIServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
			t.Fatal("the API server still answers after StopAPIServer")
		}
		c.StartAPIServer(t)
		if _, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			t.Fatalf("after StartAPIServer: %v", err)
		}
	})
	if t.Failed() || t.Skipped() || dir == "" {
		return
	}
	// Every component's command line names the state directory.
	out, err := exec.Command("pgrep", "-f", dir).Output()
	if len(out) > 0 || err == nil {
		t.Errorf("processes left after the private cluster stopped:\n%s", out)
	}
}

// TestFaultStages checks the contract of the harness's own kwok stages: each fault label puts a
// pod in the stated status, the ready-delay annotation holds readiness back, and PodLogs makes a
// container's log what GetLogs returns.
func TestFaultStages(t *testing.T) {
	c := testcluster.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := c.Namespace(t, "faults")
	pod := func(name string, labels, annotations map[string]string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/app:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
			}}},
		}
		created, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	pods := listWatch(c.Client.CoreV1().Pods(ns))
	named := func(name string, cond func(*corev1.Pod) bool) func(runtime.Object) bool {
		return func(o runtime.Object) bool { p := o.(*corev1.Pod); return p.Name == name && cond(p) }
	}
	waiting := func(reason string) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == reason
		}
	}
	isReady := func(p *corev1.Pod) *corev1.PodCondition {
		for i, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}

	pod("pull", map[string]string{testcluster.FaultLabel: testcluster.FaultImagePullBackOff}, nil)
	pod("oom", map[string]string{testcluster.FaultLabel: testcluster.FaultCrashLoopOOMKilled}, nil)
	slow := pod("slow", nil, map[string]string{testcluster.ReadyDelayAnnotation: "2s"})

	pull := until(ctx, t, "pod pull in ImagePullBackOff", &corev1.Pod{}, pods, named("pull", waiting("ImagePullBackOff"))).(*corev1.Pod)
	if cs := pull.Status.ContainerStatuses[0]; pull.Status.Phase != corev1.PodPending || cs.Ready || isReady(pull) != nil ||
		!strings.Contains(cs.State.Waiting.Message, `Back-off pulling image "registry.example/app:1"`) {
		t.Errorf("pod pull: phase %s, container %+v; want Pending, not ready, a kubelet's back-off message", pull.Status.Phase, cs)
	}

	oom := until(ctx, t, "pod oom in CrashLoopBackOff", &corev1.Pod{}, pods, named("oom", waiting("CrashLoopBackOff"))).(*corev1.Pod)
	cs := oom.Status.ContainerStatuses[0]
	if last := cs.LastTerminationState.Terminated; last == nil || last.Reason != "OOMKilled" || last.ExitCode != 137 ||
		cs.RestartCount < 1 || cs.Ready || isReady(oom) != nil || oom.Status.Phase != corev1.PodRunning {
		t.Errorf("pod oom: phase %s, container %+v; want Running, last run OOMKilled exit 137, restarted, not ready", oom.Status.Phase, cs)
	}
	until(ctx, t, "a Warning BackOff event for pod oom", &corev1.Event{}, listWatch(c.Client.CoreV1().Events(ns)), func(o runtime.Object) bool {
		e := o.(*corev1.Event)
		return e.InvolvedObject.Name == "oom" && e.Type == corev1.EventTypeWarning && e.Reason == "BackOff"
	})

	ready := until(ctx, t, "pod slow to be Ready", &corev1.Pod{}, pods, named("slow", func(p *corev1.Pod) bool { return isReady(p) != nil })).(*corev1.Pod)
	// Both times are whole seconds, truncated: a real gap of ≥2s stays ≥2s.
	if gap := isReady(ready).LastTransitionTime.Sub(slow.CreationTimestamp.Time); gap < 2*time.Second {
		t.Errorf("pod slow became Ready %s after creation, want ≥2s (its ready-delay)", gap)
	}

	logFile := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(logFile, []byte("starting\nallocating 512Mi\nkilled\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.PodLogs(t, ns, "oom", "app", logFile)
	for _, opts := range []*corev1.PodLogOptions{{Container: "app", Previous: true, TailLines: ptr.To[int64](2)}, {Container: "app", TailLines: ptr.To[int64](2)}} {
		got, err := c.Client.CoreV1().Pods(ns).GetLogs("oom", opts).DoRaw(ctx)
		if err != nil || string(got) != "allocating 512Mi\nkilled\n" {
			t.Errorf("GetLogs(previous=%v, tail 2) = %q, %v; want the file's last two lines", opts.Previous, got, err)
		}
	}
}

// TestNodes checks the node options on a private cluster: every node is Ready with the asked
// capacity as allocatable, its architecture and labels, and the scheduler places pods by those
// sizes (a pod too big for the only node its selector allows stays Pending as Insufficient memory).
func TestNodes(t *testing.T) {
	nodes := []testcluster.Node{
		{Name: "minikube", CPUs: "2", Memory: "2Gi", Arch: "amd64"},
		{Name: "arm-1", CPUs: "1500m", Memory: "1Gi", Arch: "arm64", Labels: map[string]string{"pool": "arm"}},
	}
	c := testcluster.Private(t, nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(nodes) {
		t.Fatalf("%d nodes, want %d", len(list.Items), len(nodes))
	}
	for _, want := range nodes {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		alloc := n.Status.Allocatable
		if alloc.Cpu().Cmp(resource.MustParse(want.CPUs)) != 0 || alloc.Memory().Cmp(resource.MustParse(want.Memory)) != 0 {
			t.Errorf("node %s allocatable cpu %s memory %s, want %s and %s", n.Name, alloc.Cpu(), alloc.Memory(), want.CPUs, want.Memory)
		}
		if n.Labels["kubernetes.io/arch"] != want.Arch || n.Status.NodeInfo.Architecture != want.Arch {
			t.Errorf("node %s arch label %q, nodeInfo %q, want %s", n.Name, n.Labels["kubernetes.io/arch"], n.Status.NodeInfo.Architecture, want.Arch)
		}
		for k, v := range want.Labels {
			if n.Labels[k] != v {
				t.Errorf("node %s label %s=%q, want %q", n.Name, k, n.Labels[k], v)
			}
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
		}
		if !ready {
			t.Errorf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
		}
	}
	if got := list.Items[0].Labels["minikube.k8s.io/primary"] + list.Items[1].Labels["minikube.k8s.io/primary"]; got != "falsetrue" && got != "truefalse" {
		t.Errorf("primary labels %q: want exactly one primary node", got)
	}

	ns := c.Namespace(t, "nodes")
	pod := func(name string, selector map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1500Mi")}},
			}}},
		}
	}
	for _, p := range []*corev1.Pod{pod("fits", nil), pod("too-big-for-arm", map[string]string{"kubernetes.io/arch": "arm64"})} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := until(ctx, t, "pod fits to run", &corev1.Pod{}, listWatch(c.Client.CoreV1().Pods(ns)), func(o runtime.Object) bool {
		p := o.(*corev1.Pod)
		return p.Name == "fits" && p.Status.Phase == corev1.PodRunning
	}).(*corev1.Pod)
	if running.Spec.NodeName != "minikube" {
		t.Errorf("pod fits runs on %q, want minikube (the only node with 1500Mi free)", running.Spec.NodeName)
	}
	until(ctx, t, "pod too-big-for-arm to be unschedulable", &corev1.Pod{}, listWatch(c.Client.CoreV1().Pods(ns)), func(o runtime.Object) bool {
		p := o.(*corev1.Pod)
		for _, cond := range p.Status.Conditions {
			if p.Name == "too-big-for-arm" && cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable &&
				strings.Contains(cond.Message, "Insufficient memory") {
				return true
			}
		}
		return false
	})
}
