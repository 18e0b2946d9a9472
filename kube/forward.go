package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
