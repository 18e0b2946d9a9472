package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultRequestTimeout is --request-timeout's default: how long the API server may take to
// answer one request. A minikube API server answers in milliseconds; one that
// accepts connections and never answers (a hung VM, a paused container) would otherwise hold
// svcgraph forever.
const DefaultRequestTimeout = 30 * time.Second

// requestDeadline bounds every request to the API server, as kubectl's --request-timeout does,
// without cutting the long-lived streams svcgraph relies on. For a watch, a log follow or an
// upgraded connection (a port-forward) only the wait for the response headers is bounded: a
// watch may rightly stay silent for minutes. For every other request the whole exchange is,
// body included. The rest.Config Timeout cannot do this: it cuts watches too.
type requestDeadline struct {
	next    http.RoundTripper
	timeout time.Duration
}

// NoAnswerError is a request the API server did not answer within the request timeout.
type NoAnswerError struct{ Timeout time.Duration }

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("no answer within %s (--request-timeout)", e.Timeout)
}

func (d *requestDeadline) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(d.timeout, func() { cancel(&NoAnswerError{Timeout: d.timeout}) })
	resp, err := d.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		if na := noAnswer(ctx); na != nil && req.Context().Err() == nil {
			err = na
		}
		cancel(nil)
		return nil, err
	}
	if stream(req, resp) && timer.Stop() {
		resp.Body = &deadlineBody{ReadCloser: resp.Body, ctx: ctx, done: func() { cancel(nil) }}
		return resp, nil
	}
	resp.Body = &deadlineBody{ReadCloser: resp.Body, ctx: ctx, done: func() { timer.Stop(); cancel(nil) }}
	return resp, nil
}

// stream says whether the exchange may rightly last long: a watch, a followed log, or a
// connection upgraded to a stream protocol (SPDY or websocket port-forwards).
func stream(req *http.Request, resp *http.Response) bool {
	q := req.URL.Query()
	return q.Get("watch") == "true" || q.Get("watch") == "1" || q.Get("follow") == "true" ||
		resp.StatusCode == http.StatusSwitchingProtocols
}

// noAnswer is the deadline's error when it is why ctx ended, else nil.
func noAnswer(ctx context.Context) error {
	var na *NoAnswerError
	if errors.As(context.Cause(ctx), &na) {
		return na
	}
	return nil
}

// deadlineBody ends the request's context when the body is closed, and says why a read failed
// when the deadline cut it.
type deadlineBody struct {
	io.ReadCloser
	ctx  context.Context
	done func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		if na := noAnswer(b.ctx); na != nil {
			err = na
		}
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}
