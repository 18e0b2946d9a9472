package kube

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// backend is a local HTTP server standing in for one pod's container; it answers its name.
func backend(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func hostPort(s *httptest.Server) string { return s.Listener.Addr().String() }

// forwardWeb makes Service "web" with one pod whose port 8080 reaches backend, waits until the
// pod is Ready, and forwards the Service (closed at the end of the test).
func forwardWeb(t *testing.T, ctx context.Context, cl *testcluster.Cluster, c *Client, ns, pod string, backend *httptest.Server) (*Forwarder, *eventLog) {
	t.Helper()
	mkService(t, cl, ns, "web", map[string]string{"app": "web"})
	mkPod(t, cl, ns, pod, map[string]string{"app": "web"}, nil)
	cl.ForwardPod(t, ns, pod, testcluster.Rule{PodPort: 8080, Target: hostPort(backend)})
	if err := c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	events := newEventLog()
	f, err := c.Forward(ctx, ForwardOptions{Namespace: ns, Service: "web", Port: 80, Events: events.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, events
}

func mkService(t *testing.T, cl *testcluster.Cluster, ns, name string, selector map[string]string) {
	t.Helper()
	_, err := cl.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{
			{Name: "web", Port: 80, TargetPort: intstr.FromString("http")},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// getUntil repeats a GET until it answers want: kwok learns a new PortForward rule through a
// watch of its own, which the test cannot observe, so the first requests may miss it.
func getUntil(t *testing.T, ctx context.Context, url, want string) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var body string
	var err error
	for {
		if body, err = httpGet(url); err == nil && body == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s never answered %q; last answer %q, %v", url, want, body, err)
		case <-tick.C:
		}
	}
}

// eventLog collects a forwarder's events and lets a test wait for one.
type eventLog struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
}

func newEventLog() *eventLog { return &eventLog{notify: make(chan struct{}, 1)} }

func (l *eventLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *eventLog) has(sub string) bool { return strings.Contains(l.String(), sub) }

func TestForwardThroughPodReplacement(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-forward")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 2*time.Minute)
	a, b := backend(t, "A"), backend(t, "B")

	f, events := forwardWeb(t, ctx, cl, c, ns, "web-1", a)
	select {
	case <-f.Ready():
	default:
		t.Fatal("Forward returned before it was ready")
	}
	if pod, port := f.Target(); pod != "web-1" || port != 8080 {
		t.Fatalf("forwarding to %s:%d, want web-1:8080 (named targetPort http)", pod, port)
	}
	url := "http://" + f.Addr()
	getUntil(t, ctx, url, "A")

	// A second forward on the same port is refused before the cluster is asked anything: the
	// service named does not even exist.
	_, port, _ := net.SplitHostPort(f.Addr())
	p, _ := strconv.Atoi(port)
	_, err := c.Forward(ctx, ForwardOptions{Namespace: ns, Service: "no-such-service", Port: 80, LocalPort: p})
	if e := reason.Of(err); e.Kind != reason.PortInUse || !strings.Contains(e.Msg, port) || !strings.Contains(e.Advise(), "--port") {
		t.Fatalf("Forward on a busy port = %v, want %s naming port %s and --port", err, reason.PortInUse.ID, port)
	}

	// The replacement pod, with its own backend; prove kwok routes it before relying on it.
	mkPod(t, cl, ns, "web-2", map[string]string{"app": "web", "slot": "2"}, nil)
	cl.ForwardPod(t, ns, "web-2", testcluster.Rule{PodPort: 8080, Target: hostPort(b)})
	mkService(t, cl, ns, "only-2", map[string]string{"slot": "2"})
	if err := c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	probe, err := c.Forward(ctx, ForwardOptions{Namespace: ns, Service: "only-2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	getUntil(t, ctx, "http://"+probe.Addr(), "B")
	probe.Close()

	// Do what a dying container does: the pod goes away and its backend stops. kwok would keep
	// serving the old forward otherwise.
	if err := cl.Client.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(t, ctx, cl, ns, "web-1")
	a.Close()

	body, err := httpGet(url)
	if err != nil || body != "B" {
		t.Fatalf("GET through the same local port after the replacement = %q, %v; want B\nevents:\n%s", body, err, events)
	}
	if !events.has("reconnecting…") || !events.has("forwarding again") {
		t.Errorf("events do not tell the user about the reconnect:\n%s", events)
	}
	if pod, _ := f.Target(); pod != "web-2" {
		t.Errorf("forwarding to %s, want web-2", pod)
	}
	t.Logf("events:\n%s", events)

	f.Close()
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if f.Err() != nil {
		t.Errorf("Err after Close = %v, want nil", f.Err())
	}
	if _, err := httpGet(url); err == nil {
		t.Error("the local port still answers after Close")
	}
}

// TestForwardReplaysARequestWhosePodDied covers the kubelet-like failure: the pod still exists
// but its container no longer answers, so the pod end reports an error on the stream. The request
// that meets it is replayed on a fresh connection to another ready pod.
func TestForwardReplaysARequestWhosePodDied(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-replay")
	c := newClient(t, cl, ns)
	ctx := testContext(t, 2*time.Minute)
	b, other := backend(t, "B"), backend(t, "C")

	f, events := forwardWeb(t, ctx, cl, c, ns, "web-b", b)
	url := "http://" + f.Addr()
	getUntil(t, ctx, url, "B")

	// A newer pod joins; the forward stays on web-b until web-b fails.
	mkPod(t, cl, ns, "web-c", map[string]string{"app": "web", "slot": "c"}, nil)
	cl.ForwardPod(t, ns, "web-c", testcluster.Rule{PodPort: 8080, Target: hostPort(other)})
	mkService(t, cl, ns, "only-c", map[string]string{"slot": "c"})
	if err := c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	probe, err := c.Forward(ctx, ForwardOptions{Namespace: ns, Service: "only-c", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	getUntil(t, ctx, "http://"+probe.Addr(), "C")
	probe.Close()
	if body, err := httpGet(url); err != nil || body != "B" {
		t.Fatalf("before the failure the forward should stay on web-b: %q, %v", body, err)
	}

	b.Close()
	body, err := httpGet(url)
	if err != nil || body != "C" {
		t.Fatalf("GET after web-b's backend died = %q, %v; want C from the replay\nevents:\n%s", body, err, events)
	}
	t.Logf("events:\n%s", events)
}
