package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

	"github.com/svcgraph/svcgraph/internal/reason"
)

// ForwardOptions say what to forward where.
type ForwardOptions struct {
	Namespace, Service string
	Port               int          // the service port
	LocalPort          int          // 0 picks a free port (see Forwarder.Addr)
	Addresses          []string     // local addresses to bind; default 127.0.0.1 and, if the host has IPv6, ::1
	Events             func(string) // "reconnecting…", "forwarding again…"; called from the forwarder's goroutine, must not block
}

// Forwarder forwards a local port to a service's pod, and to its replacement when that pod goes
// away, without closing the local port in between.
type Forwarder struct {
	c      *Client
	o      ForwardOptions
	events func(string)

	listeners []net.Listener
	ctx       context.Context
	cancel    context.CancelFunc
	ready     chan struct{}
	done      chan struct{}
	err       error
	wg        sync.WaitGroup // accept loops, connection handlers, the supervisor

	mu      sync.Mutex
	cur     *session      // nil while reconnecting
	changed chan struct{} // closed when cur changes
	locals  map[net.Conn]struct{}
}

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

const (
	// connWait is how long a local connection waits for a forward to the pod to come back.
	connWait = 30 * time.Second
	// replayLimit caps the bytes kept to resend a request whose pod failed before answering.
	replayLimit = 1 << 20
	// maxAttempts bounds how often one local connection is retried on a fresh pod connection.
	maxAttempts = 3
	// drainWait is how long requests in flight may keep a replaced pod's connection open.
	drainWait  = 30 * time.Second
	backoffMin = 250 * time.Millisecond
	backoffMax = 5 * time.Second
)

// Forward checks the local port is free, resolves the service to a ready pod and its container
// port, connects, and forwards every local connection until ctx ends or Close is called. When the
// connection to the pod is lost or the pod is replaced it resolves the service again and
// reconnects with backoff, keeping the local port open, and reports it through Events.
func (c *Client) Forward(ctx context.Context, o ForwardOptions) (*Forwarder, error) {
	userAddrs := len(o.Addresses) > 0
	if !userAddrs {
		o.Addresses = defaultAddresses
	}
	if o.Namespace == "" {
		o.Namespace = c.opts.Namespace
	}
	f := &Forwarder{c: c, o: o, events: o.Events, ready: make(chan struct{}), done: make(chan struct{}),
		changed: make(chan struct{}), locals: map[net.Conn]struct{}{}}
	if f.events == nil {
		f.events = func(string) {}
	}
	if err := f.listen(userAddrs); err != nil {
		return nil, err
	}
	f.ctx, f.cancel = context.WithCancel(ctx)
	s, err := f.connect(f.ctx, "")
	if err != nil {
		f.cancel()
		f.closeListeners()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, interrupted(ctx, "starting the port-forward")
		}
		return nil, reason.Wrap(reason.Forward, err,
			fmt.Sprintf("Check that service %s exists in namespace %s and has a ready pod (`svcgraph status`).", o.Service, o.Namespace),
			"cannot forward to service %s port %d", o.Service, o.Port)
	}
	f.setCurrent(s)
	close(f.ready)
	for _, l := range f.listeners {
		f.wg.Add(1)
		go f.accept(l)
	}
	f.wg.Add(1)
	go f.supervise(s)
	go func() {
		f.wg.Wait()
		close(f.done)
	}()
	return f, nil
}

// defaultAddresses are where a forward listens unless told otherwise: loopback only.
var defaultAddresses = []string{"127.0.0.1", "::1"}

// CheckLocalPort binds and releases the local addresses a forward would use (nil means the
// default ones), so `up` can refuse a busy port before it starts anything.
func CheckLocalPort(addresses []string, port int) error {
	f := &Forwarder{o: ForwardOptions{LocalPort: port, Addresses: addresses}, events: func(string) {}}
	userAddrs := len(addresses) > 0
	if !userAddrs {
		f.o.Addresses = defaultAddresses
	}
	err := f.listen(userAddrs)
	f.closeListeners()
	return err
}

// listen binds every address first, so a busy port is reported before anything else happens.
func (f *Forwarder) listen(userAddrs bool) error {
	port := f.o.LocalPort
	for _, a := range f.o.Addresses {
		l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			// Best effort on ::1 by default: the host may have no IPv6, and a port picked by the
			// system for 127.0.0.1 may be taken on ::1. A port the user chose that is busy on ::1
			// is still refused: browsers resolving "localhost" would reach the other program.
			if !userAddrs && a == "::1" && (!addrInUse(err) || f.o.LocalPort == 0) {
				continue
			}
			f.closeListeners()
			if addrInUse(err) {
				return reason.Wrap(reason.PortInUse, err,
					fmt.Sprintf("Stop the program that uses port %d, or pick another local port with --port.", port),
					"local port %d on %s is already in use", port, a)
			}
			return reason.Wrap(reason.Forward, err, "Check the --address values: each must be an address of this machine.",
				"cannot listen on %s port %d", a, port)
		}
		if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			f.events(fmt.Sprintf("warning: listening on %s, so other machines that reach it can use the forward", l.Addr()))
		}
		if port == 0 {
			port = l.Addr().(*net.TCPAddr).Port // the other addresses share the port picked for the first
		}
		f.listeners = append(f.listeners, l)
	}
	return nil
}

// addrInUse recognises "address already in use" on Unix and Windows (WSAEADDRINUSE has its own
// number there, so the errno alone does not do).
func addrInUse(err error) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "only one usage of each socket address")
}

func (f *Forwarder) closeListeners() {
	for _, l := range f.listeners {
		_ = l.Close()
	}
}

// Addr is the first local address, e.g. "127.0.0.1:8080".
func (f *Forwarder) Addr() string { return f.listeners[0].Addr().String() }

// Addrs are all local addresses forwarded.
func (f *Forwarder) Addrs() []string {
	var out []string
	for _, l := range f.listeners {
		out = append(out, l.Addr().String())
	}
	return out
}

// Ready is closed once forwarding works (Forward returns only after that, or with an error).
func (f *Forwarder) Ready() <-chan struct{} { return f.ready }

// Done is closed when the forwarder has stopped: Close was called or its context ended.
func (f *Forwarder) Done() <-chan struct{} { return f.done }

// Err is why the forwarder stopped, once Done is closed; nil after Close or a cancelled context.
func (f *Forwarder) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Close stops forwarding, closes the local ports and open connections, and waits for that.
func (f *Forwarder) Close() {
	f.cancel()
	<-f.done
}

// Target names the pod and container port currently forwarded to ("" while reconnecting).
func (f *Forwarder) Target() (pod string, port int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		return "", 0
	}
	return f.cur.target.pod, int(f.cur.target.port)
}

func (f *Forwarder) setCurrent(s *session) {
	f.mu.Lock()
	f.cur = s
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
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

func (f *Forwarder) accept(l net.Listener) {
	defer f.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			if f.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				f.mu.Lock()
				f.err = reason.Wrap(reason.Forward, err, "", "stopped accepting connections on %s", l.Addr())
				f.mu.Unlock()
				f.cancel()
			}
			return
		}
		f.mu.Lock()
		if f.ctx.Err() != nil {
			f.mu.Unlock()
			_ = conn.Close()
			return
		}
		f.locals[conn] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go f.serve(conn)
	}
}

// session waits for a usable session other than old, for at most connWait.
func (f *Forwarder) session(old *session) *session {
	deadline := time.NewTimer(connWait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		s, changed := f.cur, f.changed
		f.mu.Unlock()
		if s != nil && s != old && !s.isLost() {
			return s
		}
		select {
		case <-changed:
		case <-f.ctx.Done():
			return nil
		case <-deadline.C:
			return nil
		}
	}
}

// serve relays one local connection. If the pod end fails before sending a byte back, the bytes
// sent so far are replayed on the next pod connection, so a request that meets a just-died pod is
// answered by its replacement instead of failing.
func (f *Forwarder) serve(conn net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.locals, conn)
		f.mu.Unlock()
		_ = conn.Close()
	}()
	r := &relay{local: conn, chunks: make(chan []byte, 4), done: make(chan struct{})}
	defer close(r.done)
	go r.readLocal()
	var s *session
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if s = f.session(s); s == nil {
			return
		}
		failure := f.pipe(s, r)
		if failure == "" {
			return
		}
		s.markLost(failure)
		if !r.replayable() {
			return
		}
	}
}

// relay is the local side of one forwarded connection, shared by its attempts.
type relay struct {
	local     net.Conn
	chunks    chan []byte   // what the local side sent, in order; closed at its EOF
	done      chan struct{} // closed when the connection is finished with, so readLocal ends
	mu        sync.Mutex
	sent      []byte // everything sent so far, while a replay is still possible
	overflow  bool
	responded atomic.Bool
}

func (r *relay) readLocal() {
	defer close(r.chunks)
	for {
		buf := make([]byte, 32*1024)
		n, err := r.local.Read(buf)
		if n > 0 {
			select {
			case r.chunks <- buf[:n]:
			case <-r.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) remember(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overflow || r.responded.Load() || len(r.sent)+len(b) > replayLimit {
		r.overflow, r.sent = true, nil
		return
	}
	r.sent = append(r.sent, b...)
}

func (r *relay) replayable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.overflow && !r.responded.Load()
}

// Write copies pod bytes to the local side; once one arrives the request can no longer be replayed.
func (r *relay) Write(b []byte) (int, error) {
	if len(b) > 0 {
		r.responded.Store(true)
	}
	return r.local.Write(b)
}

// send writes the replay buffer and then what the local side sends, until stop or its EOF.
func (r *relay) send(data streamhttp.Stream, stop <-chan struct{}) {
	r.mu.Lock()
	replay := append([]byte(nil), r.sent...)
	r.mu.Unlock()
	if len(replay) > 0 {
		if _, err := data.Write(replay); err != nil {
			return
		}
	}
	for {
		select {
		case <-stop:
			return
		case b, ok := <-r.chunks:
			if !ok {
				_ = data.Close() // tell the pod we are done sending, as kubectl does
				return
			}
			r.remember(b) // before writing, so a failed write is still replayed
			if _, err := data.Write(b); err != nil {
				return
			}
		}
	}
}

// pipe runs one attempt of a local connection over session s, following the port-forward
// protocol: an error stream and a data stream per connection, tied by a request ID. It returns ""
// when the exchange ended normally, or what went wrong on the pod side.
func (f *Forwarder) pipe(s *session, r *relay) string {
	s.active.Add(1)
	defer s.active.Done()
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(s.target.port)))
	headers.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(s.nextID.Add(1), 10))
	errStream, err := s.conn.CreateStream(headers)
	if err != nil {
		return "creating the error stream: " + err.Error()
	}
	_ = errStream.Close() // nothing to say on it; the pod end reports failures there
	defer s.conn.RemoveStreams(errStream)
	errMsg := make(chan string, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		if err != nil && len(msg) == 0 {
			msg = []byte(err.Error())
		}
		errMsg <- string(msg)
	}()

	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := s.conn.CreateStream(headers)
	if err != nil {
		return "creating the data stream: " + err.Error()
	}
	defer s.conn.RemoveStreams(data)

	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		r.send(data, stop)
	}()
	received := make(chan struct{})
	go func() {
		defer close(received)
		_, _ = io.Copy(r, data)
	}()

	failure, errRead := "", false
	select {
	case <-received:
	case msg := <-errMsg:
		failure, errRead = msg, true
		if msg == "" { // closed without complaint: the data stream decides
			select {
			case <-received:
			case <-s.conn.CloseChan():
				failure = portforward.ErrLostConnectionToPod.Error()
			}
		}
	case <-s.conn.CloseChan():
		failure, errRead = portforward.ErrLostConnectionToPod.Error(), true
	}
	close(stop)
	// Reset discards unsent data so neither copier stays blocked, as kubectl does before it reads
	// the error stream.
	_ = data.Reset()
	<-sent
	<-received
	if !errRead {
		select {
		case failure = <-errMsg:
		case <-s.conn.CloseChan():
		}
	}
	return failure
}
