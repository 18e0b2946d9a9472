package kube

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// apiProxy is a TCP relay in front of the shared API server. Stopping it is, for the client
// under test, the API server going away (open watches and port-forward connections drop, new
// connections are refused) without disturbing the cluster other tests use.
type apiProxy struct {
	t        *testing.T
	upstream string
	addr     string
	mu       sync.Mutex
	l        net.Listener
	conns    map[net.Conn]struct{}
}

func startAPIProxy(t *testing.T, upstream string) *apiProxy {
	p := &apiProxy{t: t, upstream: upstream, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *apiProxy) start() {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.l, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *apiProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// stop closes the listener and cuts every connection.
func (p *apiProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// proxiedKubeconfig is the cluster's kubeconfig pointing at the proxy instead.
func proxiedKubeconfig(t *testing.T, cl *testcluster.Cluster) (string, *apiProxy) {
	path := cl.CopyKubeconfig(t)
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var upstream string
	var proxy *apiProxy
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			t.Fatal(err)
		}
		if proxy == nil {
			upstream = u.Host
			proxy = startAPIProxy(t, upstream)
		}
		u.Host = proxy.addr
		c.Server = u.String()
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, proxy
}

func TestWaitPodsSurvivesAPIServerOutage(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-outage")
	kubeconfig, proxy := proxiedKubeconfig(t, cl)
	c, err := New(Options{Kubeconfig: kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 2*time.Minute)
	mkPod(t, cl, ns, "too-big", nil, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Gi")})

	firstStatus := make(chan struct{})
	var once sync.Once
	result := make(chan error, 1)
	go func() {
		result <- c.WaitPods(ctx, ns, WaitOptions{Timeout: time.Minute, Progress: func(PodStatus) {
			once.Do(func() { close(firstStatus) })
		}})
	}()
	<-firstStatus // the informers have synced through the proxy

	proxy.stop()
	// While the client cannot see the API server, the only pod that could block the wait goes
	// away and a small one takes its place; the wait must not end on stale or missing data.
	if err := cl.Client.CoreV1().Pods(ns).Delete(ctx, "too-big", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	mkPod(t, cl, ns, "small", nil, nil)
	select {
	case err := <-result:
		t.Fatalf("WaitPods ended while the API server was unreachable: %v", err)
	default:
	}
	proxy.start()

	if err := <-result; err != nil {
		t.Fatalf("WaitPods after the API server came back: %v", err)
	}
}

func TestForwardSurvivesAPIServerOutage(t *testing.T) {
	noLeaks(t)
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-fwd-outage")
	kubeconfig, proxy := proxiedKubeconfig(t, cl)
	c, err := New(Options{Kubeconfig: kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 2*time.Minute)
	a := backend(t, "A")
	f, events := forwardWeb(t, ctx, cl, c, ns, "web-1", a)
	url := "http://" + f.Addr()
	getUntil(t, ctx, url, "A")

	proxy.stop() // the port-forward connection runs through the API server, so it drops
	for !events.has("reconnecting…") {
		select {
		case <-events.notify:
		case <-ctx.Done():
			t.Fatalf("no reconnect reported after the API server went away; events:\n%s", events)
		}
	}
	proxy.start()
	body, err := httpGet(url)
	if err != nil || body != "A" {
		t.Fatalf("GET after the API server came back = %q, %v; want A\nevents:\n%s", body, err, events)
	}
	t.Logf("events:\n%s", events)
}
