package kube

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/portforward"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// The pod side of a forward: one session per pod connection, replaced when its pod goes.

// session is one port-forward connection to one pod.
type session struct {
	conn     streamhttp.Connection
	target   target
	lost     chan struct{} // closed when the connection is no longer usable
	lostOnce sync.Once
	why      atomic.Value // string: why it was lost
	active   sync.WaitGroup
	nextID   atomic.Int64
	stopPod  context.CancelFunc
}

func (s *session) markLost(why string) {
	s.lostOnce.Do(func() {
		s.why.Store(why)
		close(s.lost)
	})
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

func (s *session) reason() string {
	if w, ok := s.why.Load().(string); ok {
		return w
	}
	return ""
}

// supervise replaces the session whenever it is lost, until the forwarder stops.
func (f *Forwarder) supervise(s *session) {
	defer f.wg.Done()
	defer f.shutdown()
	for {
		select {
		case <-f.ctx.Done():
			f.retire(s)
			return
		case <-s.lost:
		}
		f.setCurrent(nil)
		f.events(fmt.Sprintf("lost the connection to pod %s (%s); reconnecting…", s.target.pod, s.reason()))
		f.retire(s)
		next, ok := f.reconnect(s.target.pod)
		if !ok {
			return
		}
		s = next
		f.setCurrent(s)
		f.events(fmt.Sprintf("forwarding again: %s -> pod %s port %d", f.Addr(), s.target.pod, s.target.port))
	}
}

// reconnect resolves and connects with exponential backoff until it works or the forwarder stops,
// preferring another pod than the one just lost when the service has several.
func (f *Forwarder) reconnect(lostPod string) (*session, bool) {
	delay := backoffMin
	lastErr := ""
	for {
		s, err := f.connect(f.ctx, lostPod)
		if err == nil {
			return s, true
		}
		if f.ctx.Err() != nil {
			return nil, false
		}
		if err.Error() != lastErr { // say each new obstacle once, not every retry
			lastErr = err.Error()
			f.events(fmt.Sprintf("reconnecting… (%v)", err))
		}
		t := time.NewTimer(delay)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return nil, false
		case <-t.C:
		}
		delay = min(2*delay, backoffMax)
	}
}

// retire closes a session once the connections using it are done (or after drainWait): a pod
// being replaced can still finish the requests it has started.
func (f *Forwarder) retire(s *session) {
	s.markLost("closed")
	s.stopPod()
	idle := make(chan struct{})
	go func() {
		s.active.Wait()
		close(idle)
	}()
	go func() {
		select {
		case <-idle:
		case <-time.After(drainWait):
		case <-f.ctx.Done():
		}
		_ = s.conn.Close()
	}()
}

func (f *Forwarder) shutdown() {
	f.closeListeners()
	f.mu.Lock()
	for conn := range f.locals {
		_ = conn.Close()
	}
	f.mu.Unlock()
}

// connect resolves the service, dials the pod's portforward subresource (websocket first, SPDY
// when the server cannot upgrade, as kubectl does) and watches the pod so its replacement is noticed
// even when the old connection stays up.
func (f *Forwarder) connect(ctx context.Context, avoid string) (*session, error) {
	t, err := f.c.resolveService(ctx, f.o.Namespace, f.o.Service, int32(f.o.Port), avoid)
	if err != nil {
		return nil, err
	}
	conn, err := f.dial(ctx, t.pod)
	if err != nil {
		return nil, fmt.Errorf("connecting to pod %s: %w", t.pod, err)
	}
	s := &session{conn: conn, target: t, lost: make(chan struct{})}
	podCtx, stop := context.WithCancel(ctx)
	s.stopPod = stop
	go func() {
		select {
		case <-conn.CloseChan():
			s.markLost(portforward.ErrLostConnectionToPod.Error())
		case <-podCtx.Done():
		}
	}()
	go f.watchPod(podCtx, s)
	return s, nil
}

func (f *Forwarder) dial(ctx context.Context, pod string) (streamhttp.Connection, error) {
	url := f.c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(f.o.Namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(f.c.config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(url, f.c.config)
	if err != nil {
		return nil, err
	}
	dialer := portforward.NewFallbackDialerForStreaming(wsDialer, spdyDialer, func(err error) bool {
		return streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
	})

	// Dial takes no context; run it aside so a stop is not held up, and close a late connection.
	type result struct {
		conn     streamhttp.Connection
		protocol string
		err      error
	}
	res := make(chan result, 1)
	go func() {
		conn, protocol, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		res <- result{conn, protocol, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			return nil, r.err
		}
		if r.protocol != portforward.PortForwardProtocolV1Name {
			_ = r.conn.Close()
			return nil, fmt.Errorf("the API server speaks port-forward protocol %q, not %q", r.protocol, portforward.PortForwardProtocolV1Name)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-res; r.err == nil {
				_ = r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// watchPod marks the session lost when its pod is deleted or starts terminating. A kubelet would
// also drop the connection then, but some (kwok's) keep serving a deleted pod's forward.
func (f *Forwarder) watchPod(ctx context.Context, s *session) {
	byName := fields.OneTermEqualSelector("metadata.name", s.target.pod).String()
	pods := f.c.cs.CoreV1().Pods(f.o.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return pods.Watch(ctx, o)
		},
	}
	why := ""
	gone := func(store cache.Store) (bool, error) {
		items := store.List()
		if len(items) == 0 {
			why = "pod " + s.target.pod + " is gone"
			return true, nil
		}
		return terminating(items[0], s, &why), nil
	}
	changed := func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			why = "pod " + s.target.pod + " was deleted"
			return true, nil
		}
		return terminating(ev.Object, s, &why), nil
	}
	if _, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, gone, changed); err == nil {
		s.markLost(why)
	}
}

func terminating(obj any, s *session, why *string) bool {
	if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
		*why = "pod " + s.target.pod + " is terminating"
		return true
	}
	return false
}
