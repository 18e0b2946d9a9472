// Package testcluster gives tests the loopback Kubernetes cluster that scripts/testcluster
// starts (scripts/test starts it for the whole suite). A test calls Require; without a cluster
// the test is skipped loudly, or fails under CI=true, where a missing cluster is a broken run.
package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcgraph/svcgraph/internal/testcluster/harness"
	"github.com/svcgraph/svcgraph/internal/testenv"
)

// EnvKubeconfig names the variable `scripts/testcluster up` exports with the harness's admin
// kubeconfig.
const EnvKubeconfig = "SVCGRAPH_TEST_KUBECONFIG"

// The pod label and annotation that make the cluster's kwok stages treat a pod differently (the
// stages are in harness/stages.yaml):
//
//	labels:      {svcgraph.test/fault: ImagePullBackOff}            Pending, containers waiting ImagePullBackOff
//	labels:      {svcgraph.test/fault: CrashLoopBackOff-OOMKilled}  Running, containers waiting CrashLoopBackOff,
//	                                                                 last run OOMKilled (exit 137), restartCount 1
//	annotations: {svcgraph.test/ready-delay: 3s}                     Ready 3s after kwok first sees the pod bound
//
// A pod with the fault label never becomes Ready; each fault stage also records a Warning event.
const (
	FaultLabel              = harness.FaultLabel
	FaultImagePullBackOff   = harness.FaultImagePullBackOff
	FaultCrashLoopOOMKilled = harness.FaultCrashLoopOOMKilled
	ReadyDelayAnnotation    = harness.ReadyDelayAnnotation
)

// Cluster is a running loopback cluster.
type Cluster struct {
	// Kubeconfig is the harness's admin kubeconfig. Never modify it: tests that need a
	// kubeconfig of their own (the minikube double adds contexts) copy it with CopyKubeconfig.
	Kubeconfig string
	Layout     harness.Layout // the state directory: logs, PIDs
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface

	apiServerStopped bool
}

// Node is one fake node of a private cluster: name, CPUs, memory, architecture and labels.
type Node = harness.Node

// Nodes is n alike nodes named as minikube names a profile's nodes (minikube, minikube-m02, …),
// for Private.
func Nodes(n int, cpus, memory string) []Node {
	return harness.UniformNodes(n, cpus, memory, harness.DefaultNodeArch)
}

// Private starts a cluster of the test's own (in its temp dir, through scripts/testcluster) and
// stops it when the test ends: for tests that disturb the cluster, such as stopping the API
// server, which would break the tests of other packages sharing the common one, or that need
// other nodes than the shared cluster's one node of 4 CPUs and 8Gi (nodes; none means that
// default). It costs about 15 s and 600 MB. Like Require, it skips loudly without a shared
// cluster (fails under CI=true): that is the sign the binaries were never built here.
func Private(t testing.TB, nodes ...Node) *Cluster {
	t.Helper()
	Require(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	script := filepath.Join(root, "scripts", "testcluster")
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(script, args...)
		cmd.Env = append(os.Environ(), "SVCGRAPH_TESTCLUSTER_DIR="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("scripts/testcluster %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	t.Cleanup(func() {
		if _, err := run("down"); err != nil {
			t.Errorf("stop the private cluster: %v", err)
		}
	})
	args := []string{"up"}
	for _, n := range nodes {
		args = append(args, "--node", n.Flag())
	}
	if _, err := run(args...); err != nil {
		t.Fatalf("start a private cluster: %v", err)
	}
	return connect(t, filepath.Join(dir, "admin.kubeconfig"), dir)
}

// repoRoot finds the svcgraph module's root above the working directory (go test runs each
// package in its own folder).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if raw, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(raw), "module github.com/svcgraph/svcgraph\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no svcgraph go.mod above the working directory")
		}
		dir = parent
	}
}

// Require returns the cluster named by SVCGRAPH_TEST_KUBECONFIG, checked to answer /readyz.
// Without one it skips the test with a loud message (fails it when CI=true). On failure of the
// test, the tail of every component log is printed (see DumpLogs).
func Require(t testing.TB) *Cluster {
	t.Helper()
	kubeconfig := os.Getenv(EnvKubeconfig)
	if kubeconfig == "" {
		testenv.Missing(t, "no loopback cluster; run scripts/test, or eval \"$(scripts/testcluster up)\" and then go test ("+
			EnvKubeconfig+" is not set)")
	}
	dir := os.Getenv("SVCGRAPH_TESTCLUSTER_DIR")
	if dir == "" {
		dir = filepath.Dir(kubeconfig) // the admin kubeconfig lives in the state directory
	}
	return connect(t, kubeconfig, dir)
}

// connect builds the clients for a cluster and checks that it answers /readyz.
func connect(t testing.TB, kubeconfig, dir string) *Cluster {
	t.Helper()
	c := &Cluster{Kubeconfig: kubeconfig, Layout: harness.Layout{Dir: dir}}
	var err error
	if c.Config, err = harness.RESTConfig(kubeconfig); err != nil {
		t.Fatalf("loopback cluster: %s=%s: %v", EnvKubeconfig, kubeconfig, err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		t.Fatalf("loopback cluster from %s=%s is not ready: %v %s\n(scripts/testcluster status says more; scripts/testcluster up restarts it)",
			EnvKubeconfig, kubeconfig, err, body)
	}
	return c
}

// DumpLogs prints the last lines of every component's log into the test output.
func (c *Cluster) DumpLogs(t testing.TB) {
	t.Helper()
	var b strings.Builder
	for _, comp := range harness.Components {
		fmt.Fprintf(&b, "----- %s: %s -----\n%s\n", comp, c.Layout.Log(comp), harness.TailFile(c.Layout.Log(comp), 40))
	}
	t.Logf("loopback cluster logs (tails):\n%s", b.String())
}

// CopyKubeconfig writes a copy of the admin kubeconfig into the test's temp dir, for code under
// test that edits its kubeconfig.
func (c *Cluster) CopyKubeconfig(t testing.TB) string {
	t.Helper()
	raw, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace creates a namespace with a unique name from prefix and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		err := c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// Rule sends one port of a pod to a local target ("HOST:PORT"). PodPort 0 means every port the
// other rules do not name.
type Rule struct {
	PodPort int32
	Target  string
}

// ForwardPod makes kwok send port-forwards to the named pod to local targets, through a
// namespaced PortForward named after the pod. It wins over the cluster-wide default for every
// port of that pod, so name every port the test forwards. The rule is removed when the test
// ends. kwok picks the rule up through a watch: a forward opened immediately after may still
// see the old rule, so retry the first request.
func (c *Cluster) ForwardPod(t testing.TB, namespace, pod string, rules ...Rule) {
	t.Helper()
	var forwards []harness.Forward
	var fallback *harness.Target
	for _, r := range rules {
		target, err := harness.ParseTarget(r.Target)
		if err != nil {
			t.Fatal(err)
		}
		if r.PodPort == 0 {
			fallback = &target
			continue
		}
		forwards = append(forwards, harness.Forward{PodPort: r.PodPort, Target: target})
	}
	obj := harness.PortForwardObject(namespace, pod, forwards, fallback)
	res := c.Dynamic.Resource(harness.PortForwardGVR).Namespace(namespace)
	ctx := context.Background()
	got, err := res.Get(ctx, pod, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = res.Create(ctx, obj, metav1.CreateOptions{})
	case err == nil:
		obj.SetResourceVersion(got.GetResourceVersion())
		_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("kwok PortForward %s/%s: %v", namespace, pod, err)
	}
	t.Cleanup(func() {
		err := res.Delete(context.Background(), pod, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete kwok PortForward %s/%s: %v", namespace, pod, err)
		}
	})
}

// StopAPIServer stops the API server (for tests of what happens while it is away). If the test
// does not start it again, it is started at cleanup, so the shared cluster survives the test.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(c.Layout.ArgsFile("kube-apiserver")); err != nil {
		t.Fatalf("cannot stop the API server and start it again: %v (a cluster from an older harness? scripts/testcluster down, then up)", err)
	}
	if err := harness.StopComponent(c.Layout, "kube-apiserver"); err != nil {
		t.Fatalf("stop the API server: %v", err)
	}
	t.Cleanup(func() {
		if c.apiServerStopped {
			c.StartAPIServer(t)
		}
	})
	c.apiServerStopped = true
}

// StartAPIServer starts the API server again with its old command line and waits (up to a
// minute) for /readyz.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if err := harness.StartComponent(c.Layout, "kube-apiserver"); err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	c.apiServerStopped = false
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("API server not ready a minute after restart: %v\n%s", err,
				harness.TailFile(c.Layout.Log("kube-apiserver"), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PodLogs makes the pod's container log (what `kubectl logs` and client-go's GetLogs return,
// with or without --previous) the lines of logFile, a plain text file. It writes them in the CRI
// log format kwok reads into the test's temp dir and points a namespaced kwok Logs named after the
// pod at that copy; container "" covers every container no other call names. Calls for several
// containers of one pod add up. The Logs object is deleted when the test ends. When the pod
// already runs on the node, PodLogs returns once the API server serves the first line (kwok picks
// up Logs through a watch); for a pod created later, its logs are there by the time it runs.
func (c *Cluster) PodLogs(t testing.TB, namespace, pod, container, logFile string) {
	t.Helper()
	plain, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("pod logs for %s/%s: %v", namespace, pod, err)
	}
	cri := filepath.Join(t.TempDir(), "pod-log-"+pod+"-"+orAll(container)+".log")
	if err := os.WriteFile(cri, harness.CRILog(plain, time.Now()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res := c.Dynamic.Resource(harness.LogsGVR).Namespace(namespace)
	obj, err := res.Get(ctx, pod, metav1.GetOptions{})
	created := apierrors.IsNotFound(err)
	switch {
	case created:
		obj = harness.LogsObject(namespace, pod)
	case err != nil:
		t.Fatalf("kwok Logs %s/%s: %v", namespace, pod, err)
	}
	if err := harness.SetContainerLog(obj, container, cri); err != nil {
		t.Fatal(err)
	}
	if created {
		_, err = res.Create(ctx, obj, metav1.CreateOptions{})
		t.Cleanup(func() {
			err := res.Delete(context.Background(), pod, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete kwok Logs %s/%s: %v", namespace, pod, err)
			}
		})
	} else {
		_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("kwok Logs %s/%s: %v", namespace, pod, err)
	}
	c.waitLogsServed(t, namespace, pod, container, plain)
}

func orAll(container string) string {
	if container == "" {
		return "all"
	}
	return container
}

// waitLogsServed polls the pod's log until it starts with the file's first line, when the pod is
// bound to the node (before that there is no kubelet to ask).
func (c *Cluster) waitLogsServed(t testing.TB, namespace, pod, container string, plain []byte) {
	t.Helper()
	first, _, _ := strings.Cut(string(plain), "\n")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p, err := c.Client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil || p.Spec.NodeName == "" || first == "" {
		return
	}
	if container == "" && len(p.Spec.Containers) > 0 {
		container = p.Spec.Containers[0].Name
	}
	var got []byte
	for {
		got, err = c.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err == nil && strings.HasPrefix(string(got), first) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kwok did not serve the logs of %s/%s container %s within 15s: err=%v, got %q", namespace, pod, container, err, got)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
