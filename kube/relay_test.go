package kube

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// These tests drive the port-forward protocol side of Forwarder (serve, pipe, replay) over an
// in-memory connection whose far end plays the pod, as the kubelet's port-forward server does:
// per local connection an error stream and a data stream, and a failure written to the error
// stream with the data stream closed.

// memStream is one side of a stream: reads come from in, writes go to out.
type memStream struct {
	headers http.Header
	in      *io.PipeReader
	out     *io.PipeWriter
}

func (s *memStream) Read(b []byte) (int, error)  { return s.in.Read(b) }
func (s *memStream) Write(b []byte) (int, error) { return s.out.Write(b) }
func (s *memStream) Close() error                { return s.out.Close() } // half-close, as SPDY does
func (s *memStream) Reset() error {
	s.in.CloseWithError(errors.New("stream reset"))
	return s.out.CloseWithError(errors.New("stream reset"))
}
func (s *memStream) Headers() http.Header { return s.headers }
func (s *memStream) Identifier() uint32   { return 0 }

func streamPair(h http.Header) (client, server *memStream) {
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	return &memStream{headers: h, in: s2cR, out: c2sW}, &memStream{headers: h, in: c2sR, out: s2cW}
}

// memConn is a port-forward connection to a fake pod; handle plays the pod per local connection.
type memConn struct {
	closed    chan bool
	closeOnce sync.Once
	mu        sync.Mutex
	pending   map[string]*memStream // error streams waiting for their data stream, by request ID
	servers   []*memStream          // the pod's end of every stream, ended when the connection closes
	handle    func(errStream, data *memStream)
}

func newMemConn(handle func(errStream, data *memStream)) *memConn {
	return &memConn{closed: make(chan bool), pending: map[string]*memStream{}, handle: handle}
}

func (c *memConn) CreateStream(h http.Header) (streamhttp.Stream, error) {
	select {
	case <-c.closed:
		return nil, errors.New("connection closed")
	default:
	}
	client, server := streamPair(h.Clone())
	id := h.Get(corev1.PortForwardRequestIDHeader)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers = append(c.servers, server)
	if h.Get(corev1.StreamType) == corev1.StreamTypeError {
		c.pending[id] = server
	} else {
		errStream := c.pending[id]
		delete(c.pending, id)
		go c.handle(errStream, server)
	}
	return client, nil
}

// Close ends every stream as a closing SPDY connection does: reads on our end see EOF.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			_ = s.out.Close()
		}
	})
	return nil
}
func (c *memConn) CloseChan() <-chan bool             { return c.closed }
func (c *memConn) SetIdleTimeout(time.Duration)       {}
func (c *memConn) RemoveStreams(...streamhttp.Stream) {}

// answer plays a healthy pod: read one HTTP request, answer body, close.
func answer(body string) func(errStream, data *memStream) {
	return func(errStream, data *memStream) {
		req, err := http.ReadRequest(bufio.NewReader(data))
		if err == nil {
			_ = req.Body.Close()
			resp := &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, ContentLength: int64(len(body)),
				Header: http.Header{"Connection": {"close"}}, Body: io.NopCloser(strings.NewReader(body))}
			_ = resp.Write(data.out)
		}
		_ = data.out.Close()
		_ = errStream.out.Close()
	}
}

// refuse plays a pod whose container died: the dial fails, as the kubelet reports it.
func refuse(errStream, data *memStream) {
	_, _ = io.WriteString(errStream.out, "error forwarding port 8080 to pod web-1: connection refused")
	_ = errStream.out.Close()
	_ = data.out.Close()
}

// testForwarder is a Forwarder with no cluster behind it: sessions are installed by the test.
func testForwarder(t *testing.T) *Forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Forwarder{ctx: ctx, cancel: cancel, events: func(string) {}, changed: make(chan struct{}),
		locals: map[net.Conn]struct{}{}, ready: make(chan struct{}), done: make(chan struct{})}
}

func memSession(pod string, conn *memConn) *session {
	return &session{conn: conn, target: target{pod: pod, port: 8080}, lost: make(chan struct{}), stopPod: func() {}}
}

// roundTrip sends one HTTP request through f.serve and returns the answer's body.
func roundTrip(t *testing.T, f *Forwarder) (string, error) {
	local, remote := net.Pipe()
	f.wg.Add(1)
	go f.serve(remote)
	defer local.Close()
	_ = local.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("GET", "http://forward/", nil)
	if err := req.Write(local); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(local), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRelayAnswers(t *testing.T) {
	noLeaks(t)
	f := testForwarder(t)
	f.setCurrent(memSession("web-1", newMemConn(answer("A"))))
	body, err := roundTrip(t, f)
	if err != nil || body != "A" {
		t.Fatalf("round trip = %q, %v; want A", body, err)
	}
	if f.cur.isLost() {
		t.Fatalf("a healthy exchange marked the session lost: %s", f.cur.reason())
	}
}

func TestRelayReplaysOnTheNextSession(t *testing.T) {
	noLeaks(t)
	f := testForwarder(t)
	dead := memSession("web-1", newMemConn(refuse))
	f.setCurrent(dead)
	// Play the supervisor: once the dead session is reported lost, install a healthy one.
	go func() {
		<-dead.lost
		f.setCurrent(memSession("web-2", newMemConn(answer("B"))))
	}()
	body, err := roundTrip(t, f)
	if err != nil || body != "B" {
		t.Fatalf("round trip = %q, %v; want B, replayed on the new session", body, err)
	}
	if why := dead.reason(); why == "" || !strings.Contains(why, "connection refused") {
		t.Fatalf("the dead session was lost for %q; want the pod's error", why)
	}
}

func TestRelayDoesNotReplayAfterAnAnswerStarted(t *testing.T) {
	noLeaks(t)
	f := testForwarder(t)
	half := memSession("web-1", newMemConn(func(errStream, data *memStream) {
		_, _ = http.ReadRequest(bufio.NewReader(data))
		_, _ = io.WriteString(data.out, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		_, _ = io.WriteString(errStream.out, "connection reset by peer")
		_ = errStream.out.Close()
		_ = data.out.Close()
	}))
	f.setCurrent(half)
	second := make(chan struct{})
	go func() {
		<-half.lost
		f.setCurrent(memSession("web-2", newMemConn(func(errStream, data *memStream) {
			close(second)
			answer("B")(errStream, data)
		})))
	}()
	body, err := roundTrip(t, f)
	if err == nil {
		t.Fatalf("round trip = %q; want an error: half an answer must not be patched with another pod's", body)
	}
	select {
	case <-second:
		t.Fatal("the request was replayed although the first pod had started answering")
	default:
	}
}
