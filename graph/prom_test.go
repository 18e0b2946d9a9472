package graph_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/graph"
)

// Through a port-forward each kept-alive connection pins a stream and a connection at
// Prometheus (kwok's tunnel holds it until Prometheus closes it, minutes later), and a doctor
// polling every few hundred milliseconds ran Prometheus out of its 512 connections: every read
// must use a connection of its own and ask the server to close it.
func TestPromUsesOneConnectionPerRequest(t *testing.T) {
	var mu sync.Mutex
	opened, closed, keepAlive := 0, 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if !r.Close {
			keepAlive++
		}
		mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"success","data":{"web.enable-remote-write-receiver":"true"}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			opened++
		case http.StateClosed, http.StateHijacked:
			closed++
		}
	}
	srv.Start()
	defer srv.Close()

	p := &graph.Prom{URL: srv.URL}
	const reads = 3
	for range reads {
		if _, err := p.Flags(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		o, c, k := opened, closed, keepAlive
		mu.Unlock()
		if o == reads && c == reads && k == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads: %d connections opened, %d closed, %d requests without Connection: close; want %d, %d, 0", reads, o, c, k, reads, reads)
		}
		time.Sleep(10 * time.Millisecond) // polling the server's connection states, not waiting for time
	}
}

// A request whose answer never comes (a dead stream behind a port-forward, a Prometheus out of
// connections) ends at the request timeout, through the context, whatever client the caller set.
func TestPromRequestEndsAtItsTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept() // accept, read nothing, answer nothing
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for name, p := range map[string]*graph.Prom{
		"default client":                    {URL: "http://" + l.Addr().String(), Timeout: 200 * time.Millisecond},
		"caller's client without a timeout": {URL: "http://" + l.Addr().String(), Timeout: 200 * time.Millisecond, HTTP: &http.Client{}},
	} {
		if _, err := p.RemoteWritesReceived(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: a request never answered gave %v, want the request's deadline", name, err)
		}
	}
}

// An answer without end (something else on the port, or a broken proxy) ends in a clear error
// once MaxBodyBytes are read, instead of growing until memory runs out.
func TestPromBoundsWhatItReads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = ' ' // valid JSON whitespace, so only the size can stop the read
		}
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	p := &graph.Prom{URL: srv.URL}
	_, err := p.Flags(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("Flags on an endless answer = %v, want an error naming the 64 MiB bound", err)
	}
	if _, err := p.RemoteWritesReceived(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("RemoteWritesReceived on an endless answer = %v, want an error naming the bound", err)
	}
}
