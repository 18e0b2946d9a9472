package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// appTemplate is a Deployment and a Service whose named targetPort ("http") must be resolved
// through the pod's container ports, as the demo's frontend proxy is.
const appTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: example.invalid/web:{{ .Values.tag }}
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80, targetPort: http}]
`

// hookTemplate is a pre-install hook pod that never finishes (kwok keeps it Running), so an
// install stays in flight until the test interrupts it.
const hookTemplate = `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-hook
  annotations: {"helm.sh/hook": pre-install}
spec:
  containers: [{name: wait, image: example.invalid/wait:1}]
`

func tinyChart(templates ...string) *chart.Chart {
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "tiny", Version: "0.1.0"},
		Values:   map[string]any{"replicas": 1, "tag": "1"},
	}
	for i, t := range templates {
		c.Templates = append(c.Templates, &chart.File{Name: fmt.Sprintf("templates/t%d.yaml", i), Data: []byte(t)})
	}
	return c
}

// uniqueNamespace is a fresh namespace name that nothing has created yet, removed at the end.
func uniqueNamespace(t *testing.T, cl *testcluster.Cluster, prefix string) string {
	ns := prefix + "-" + rand.String(6)
	t.Cleanup(func() {
		err := cl.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	return ns
}

func newClient(t *testing.T, cl *testcluster.Cluster, ns string) *Client {
	c, err := New(Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNewIsCheapAndPingNamesTheProblem(t *testing.T) {
	// New must not contact a cluster; Ping must, and fail with the Cluster kind.
	c, err := New(Options{Kubeconfig: writeKubeconfig(t, "https://127.0.0.1:1")})
	if err != nil {
		t.Fatalf("New contacted the cluster or failed on a valid kubeconfig: %v", err)
	}
	err = c.Ping(testContext(t, 10*time.Second))
	if reason.Of(err).Kind != reason.Cluster || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Ping against a closed port = %v, want a %s error naming the server", err, reason.Cluster.ID)
	}
	_, err = New(Options{Kubeconfig: writeKubeconfig(t, "https://127.0.0.1:1"), Context: "nope"})
	if reason.Of(err).Kind != reason.Cluster || !strings.Contains(reason.Of(err).Advise(), `"nope"`) {
		t.Fatalf("New with a missing context = %v, want a %s error whose advice names the context", err, reason.Cluster.ID)
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	path := t.TempDir() + "/kubeconfig"
	raw := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`, server)
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReleaseLifecycle(t *testing.T) {
	cl := testcluster.Require(t)
	ns := uniqueNamespace(t, cl, "kube-release")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 3*time.Minute)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Release("web"); info != nil || err != nil {
		t.Fatalf("Release before install = %+v, %v; want nil, nil", info, err)
	}

	spec := ReleaseSpec{Name: "web", Chart: tinyChart(appTemplate), Values: map[string]any{"replicas": 1}, Hash: "h1", Timeout: time.Minute}
	res, err := c.Apply(ctx, spec)
	if err != nil || res != (ReleaseResult{Action: ActionInstalled, Revision: 1}) {
		t.Fatalf("first Apply = %+v, %v; want installed revision 1", res, err)
	}
	if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("Apply did not create namespace %s: %v", ns, err)
	}
	res, err = c.Apply(ctx, spec)
	if err != nil || res != (ReleaseResult{Action: ActionUnchanged, Revision: 1}) {
		t.Fatalf("Apply with the same hash = %+v, %v; want unchanged revision 1", res, err)
	}

	spec.Values, spec.Hash = map[string]any{"replicas": 2}, strings.Repeat("f", 64)
	res, err = c.Apply(ctx, spec)
	if err != nil || res != (ReleaseResult{Action: ActionUpgraded, Revision: 2}) {
		t.Fatalf("Apply with a new hash = %+v, %v; want upgraded revision 2", res, err)
	}
	info, err := c.Release("web")
	if err != nil || info.Status != "deployed" || info.Revision != 2 || !info.HashMatches(spec.Hash) {
		t.Fatalf("Release after upgrade = %+v, %v", info, err)
	}

	var mu sync.Mutex
	var progress []PodStatus
	err = c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute, Progress: func(s PodStatus) {
		mu.Lock()
		progress = append(progress, s)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("WaitPods: %v", err)
	}
	last := progress[len(progress)-1]
	if last.Ready != 2 || last.Total != 2 {
		t.Fatalf("last progress %d/%d, want 2/2", last.Ready, last.Total)
	}
	st, err := c.Pods(ctx, ns)
	if err != nil || st.Ready != 2 || st.Total != 2 || len(st.NotReady) != 0 {
		t.Fatalf("Pods = %+v, %v; want 2/2 ready", st, err)
	}

	for i := range 2 { // twice: an absent release is fine
		if err := c.Uninstall(ctx, "web"); err != nil {
			t.Fatalf("Uninstall #%d: %v", i+1, err)
		}
	}
	if info, err := c.Release("web"); info != nil || err != nil {
		t.Fatalf("Release after uninstall = %+v, %v; want nil, nil", info, err)
	}
	// Two at once (the second usually finds the namespace terminating), then one more when it is gone.
	deleted := make(chan error, 2)
	for range 2 {
		go func() { _, err := c.DeleteNamespace(ctx, ns, "web"); deleted <- err }()
	}
	for i := range 3 {
		var err error
		if i < 2 {
			err = <-deleted
		} else {
			_, err = c.DeleteNamespace(ctx, ns, "web")
		}
		if err != nil {
			t.Fatalf("DeleteNamespace #%d: %v", i+1, err)
		}
		if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("namespace %s still there after DeleteNamespace returned: %v", ns, err)
		}
	}
}

// storeRelease writes a release record the way an interrupted helm leaves it.
func storeRelease(t *testing.T, c *Client, name string, version int, status release.Status, ch *chart.Chart) {
	rel := &release.Release{
		Name: name, Namespace: c.opts.Namespace, Version: version, Chart: ch, Config: map[string]any{},
		Info: &release.Info{Status: status, FirstDeployed: helmtime.Now(), LastDeployed: helmtime.Now(), Description: "left by a test"},
	}
	if err := c.helm.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

func TestApplyRecoversHalfDoneReleases(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-recover")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 3*time.Minute)
	spec := ReleaseSpec{Name: "web", Chart: tinyChart(appTemplate), Hash: "h1", Timeout: time.Minute}

	storeRelease(t, c, "web", 1, release.StatusPendingInstall, spec.Chart)
	res, err := c.Apply(ctx, spec)
	if err != nil || res != (ReleaseResult{Action: ActionReinstalled, Revision: 1}) {
		t.Fatalf("Apply over pending-install = %+v, %v; want %q revision 1", res, err, ActionReinstalled)
	}

	storeRelease(t, c, "web", 2, release.StatusPendingUpgrade, spec.Chart)
	res, err = c.Apply(ctx, spec)
	// revision 3 is the rollback to 1, revision 4 the upgrade
	if err != nil || res != (ReleaseResult{Action: ActionRolledBackAndUpgraded, Revision: 4}) {
		t.Fatalf("Apply over pending-upgrade = %+v, %v; want %q revision 4", res, err, ActionRolledBackAndUpgraded)
	}

	storeRelease(t, c, "web", 5, release.StatusFailed, spec.Chart)
	res, err = c.Apply(ctx, spec)
	if err != nil || res != (ReleaseResult{Action: ActionUpgradedFailed, Revision: 6}) {
		t.Fatalf("Apply over failed = %+v, %v; want %q revision 6", res, err, ActionUpgradedFailed)
	}
	if info, _ := c.Release("web"); info.Status != "deployed" || !info.HashMatches("h1") {
		t.Fatalf("release after recoveries = %+v", info)
	}
}

func TestApplyInterruptedLeavesFailedThenRecovers(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-interrupt")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 3*time.Minute)
	spec := ReleaseSpec{Name: "web", Chart: tinyChart(appTemplate, hookTemplate), Hash: "h1", Timeout: 2 * time.Minute}

	applyCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	applied := make(chan error, 1)
	go func() {
		_, err := c.Apply(applyCtx, spec)
		applied <- err
	}()
	// The hook pod exists only once Helm has stored the release as pending-install and runs hooks.
	waitFor(t, ctx, cl, ns, "the pre-install hook pod", func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		return ok && p.Name == "web-hook"
	})
	interrupt()
	err := <-applied
	if reason.Of(err).Kind != reason.Interrupted {
		t.Fatalf("interrupted Apply = %v, want kind %s", err, reason.Interrupted.ID)
	}
	info, err := c.Release("web")
	if err != nil || info == nil || info.Status != "failed" {
		t.Fatalf("release after the interrupt = %+v, %v; want status failed", info, err)
	}
	res, err := c.Apply(ctx, spec)
	if err != nil || res.Action != ActionUpgradedFailed {
		t.Fatalf("Apply after the interrupt = %+v, %v; want %q", res, err, ActionUpgradedFailed)
	}
}

// waitPodGone watches until the pod no longer exists (also when it was gone before the watch).
func waitPodGone(t *testing.T, ctx context.Context, cl *testcluster.Cluster, ns, name string) {
	t.Helper()
	gone := func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(ns + "/" + name)
		return !exists, err
	}
	waitForPods(t, ctx, cl, ns, "pod "+name+" to be deleted", gone, func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		return ev.Type == watch.Deleted && ok && p.Name == name
	})
}

// waitFor watches the namespace's pods until cond holds for an event (the listed ones included).
func waitFor(t *testing.T, ctx context.Context, cl *testcluster.Cluster, ns, what string, cond func(watch.Event) bool) {
	t.Helper()
	waitForPods(t, ctx, cl, ns, what, nil, cond)
}

func waitForPods(t *testing.T, ctx context.Context, cl *testcluster.Cluster, ns, what string, pre watchtools.PreconditionFunc, cond func(watch.Event) bool) {
	t.Helper()
	pods := cl.Client.CoreV1().Pods(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	}
	if _, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, pre, func(ev watch.Event) (bool, error) { return cond(ev), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestWaitPodsNamesUnschedulable(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-unsched")
	c := newClient(t, cl, ns)
	ctx := testContext(t, time.Minute)
	mkPod(t, cl, ns, "fits", nil, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")})
	mkPod(t, cl, ns, "too-big", nil, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Gi")})

	// The wait must run out of time; by then the scheduler has long said why.
	sawProblem := make(chan struct{})
	var once sync.Once
	err := c.WaitPods(ctx, ns, WaitOptions{Timeout: 5 * time.Second, Persist: 100 * time.Millisecond, Progress: func(s PodStatus) {
		for _, p := range s.Problems() {
			if p.Pod == "too-big" && p.Reason == ReasonUnschedulable {
				once.Do(func() { close(sawProblem) })
			}
		}
	}})
	select {
	case <-sawProblem:
	default:
		t.Error("Progress never reported the Unschedulable pod as a problem")
	}
	e := reason.Of(err)
	if e.Kind != reason.PodsNotReady {
		t.Fatalf("WaitPods = %v, want kind %s", err, reason.PodsNotReady.ID)
	}
	for _, want := range []string{"1 of 2 pods", "too-big", ReasonUnschedulable, "Insufficient memory", "FailedScheduling"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("timeout report lacks %q:\n%s", want, e.Msg)
		}
	}
	if strings.Contains(e.Msg, "fits ") {
		t.Errorf("the ready pod is listed as not ready:\n%s", e.Msg)
	}
	if !strings.Contains(e.Advise(), "--memory") {
		t.Errorf("advice does not mention --memory: %s", e.Advise())
	}
	t.Logf("timeout report:\n%s\nadvice: %s", e.Msg, e.Advise())
}

func mkPod(t *testing.T, cl *testcluster.Cluster, ns, name string, labels map[string]string, requests corev1.ResourceList) *corev1.Pod {
	t.Helper()
	p, err := cl.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "example.invalid/web:1",
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: requests},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWaitPodsInterruptedIsInterrupted(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-waitint")
	c := newClient(t, cl, ns)
	ctx, cancel := context.WithCancel(context.Background())
	mkPod(t, cl, ns, "too-big", nil, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Gi")})
	err := c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute, Progress: func(PodStatus) { cancel() }})
	if reason.Of(err).Kind != reason.Interrupted {
		t.Fatalf("cancelled WaitPods = %v, want kind %s", err, reason.Interrupted.ID)
	}
}

func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	return b.String(), err
}
