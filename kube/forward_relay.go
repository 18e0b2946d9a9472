package kube

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// The local side of a forward: each accepted connection is relayed over the current session, and
// replayed on the next one if its pod failed before answering.

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
