package graph_test

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
)

var counter = promtest.Counter

func edge(client, server string, extra ...string) map[string]string {
	l := map[string]string{"client": client, "server": server}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func buckets(labels map[string]string, at time.Time, window time.Duration, les []string, perSec []float64) []promtest.Series {
	return promtest.Buckets(graph.MetricServerDuration, labels, at, window, les, perSec)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// writeDemoGraph plays Tempo's metrics-generator: three live edges and one that went quiet
// long before the window.
func writeDemoGraph(t *testing.T, url string, at time.Time, window time.Duration) {
	t.Helper()
	fc := edge("frontend", "cart")
	lf := edge("loadgen", "frontend")
	ck := edge("checkout", "kafka", "connection_type", "messaging_system")
	series := []promtest.Series{
		counter(graph.MetricRequests, fc, 10, at, window),
		counter(graph.MetricFailed, fc, 0.5, at, window),
		counter(graph.MetricRequests, lf, 10, at, window),
		counter(graph.MetricFailed, lf, 1, at, window),
		counter(graph.MetricRequests, ck, 2, at, window), // no failures, no durations
		counter(graph.MetricRequests, edge("ad", "gone"), 3, at.Add(-3*window), window),
	}
	series = append(series, buckets(fc, at, window, []string{"0.05", "0.1", "0.5", "+Inf"}, []float64{5, 8, 10, 10})...)
	series = append(series, buckets(lf, at, window, []string{"1", "2", "+Inf"}, []float64{0, 10, 10})...)
	promtest.MustWrite(t, url, series...)
}

func TestReadFromPrometheus(t *testing.T) {
	prom := promtest.Start(t, promtest.Options{})
	window := 5 * time.Minute
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	writeDemoGraph(t, prom.URL, at, window)

	g, err := graph.Read(context.Background(), &graph.Prom{URL: prom.URL}, graph.Options{Window: window, At: at})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		client, server, ctype string
		rate, errRatio        float64
		p95                   float64 // -1: none
	}
	wants := []want{
		{"frontend", "cart", "", 10, 0.05, 0.4},    // rank 9.5 in (0.1, 0.5] holding 8…10: 0.1 + 0.4*1.5/2
		{"loadgen", "frontend", "", 10, 0.1, 1.95}, // rank 9.5 in (1, 2] holding 0…10
		{"checkout", "kafka", "messaging_system", 2, 0, -1},
	}
	if len(g.Edges) != len(wants) {
		t.Fatalf("got %d edges, want %d (the quiet edge ad → gone must not count): %+v", len(g.Edges), len(wants), g.Edges)
	}
	for i, w := range wants {
		e := g.Edges[i]
		if e.Client != w.client || e.Server != w.server || e.ConnectionType != w.ctype {
			t.Errorf("edge %d is %s → %s (%q), want %s → %s (%q)", i, e.Client, e.Server, e.ConnectionType, w.client, w.server, w.ctype)
		}
		if !near(e.RequestsPerSec, w.rate) {
			t.Errorf("%s → %s: %v req/s, want %v", e.Client, e.Server, e.RequestsPerSec, w.rate)
		}
		if !near(e.ErrorRatio, w.errRatio) {
			t.Errorf("%s → %s: error ratio %v, want %v", e.Client, e.Server, e.ErrorRatio, w.errRatio)
		}
		switch {
		case w.p95 < 0 && e.P95Seconds != nil:
			t.Errorf("%s → %s: p95 %v, want none", e.Client, e.Server, *e.P95Seconds)
		case w.p95 >= 0 && (e.P95Seconds == nil || !near(*e.P95Seconds, w.p95)):
			t.Errorf("%s → %s: p95 %v, want %v", e.Client, e.Server, e.P95Seconds, w.p95)
		}
	}

	var b strings.Builder
	if err := graph.WriteTable(&b, g); err != nil {
		t.Fatal(err)
	}
	wantTable := `CLIENT       SERVER                    REQ/S  ERRORS  P95
frontend  →  cart                      10.00  5.0%    400ms
loadgen   →  frontend                  10.00  10.0%   1.95s
checkout  →  kafka (messaging_system)  2.00   0.0%    -
3 edges; rates over the last 5m0s
`
	if b.String() != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), wantTable)
	}

	// A window that ends before anything was written holds no edges.
	empty, err := graph.Read(context.Background(), &graph.Prom{URL: prom.URL}, graph.Options{Window: window, At: at.Add(-10 * window)})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Edges) != 0 {
		t.Errorf("before any write: %d edges, want 0: %+v", len(empty.Edges), empty.Edges)
	}
}

func TestFlagsAndWritesReceived(t *testing.T) {
	on := promtest.Start(t, promtest.Options{})
	off := promtest.Start(t, promtest.Options{NoRemoteWrite: true})
	for _, c := range []struct {
		prom *promtest.Server
		want string
		code int
	}{{on, "true", http.StatusNoContent}, {off, "false", http.StatusNotFound}} {
		flags, err := (&graph.Prom{URL: c.prom.URL}).Flags(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := flags["web.enable-remote-write-receiver"]; got != c.want {
			t.Errorf("%s: web.enable-remote-write-receiver=%q, want %q", c.prom.URL, got, c.want)
		}
		if code, msg := promtest.Write(t, c.prom.URL, counter(graph.MetricRequests, edge("a", "b"), 1, time.Now(), time.Minute)); code != c.code {
			t.Errorf("%s: remote write answered %d (%s), want %d", c.prom.URL, code, msg, c.code)
		}
	}
}

func TestPrometheusErrors(t *testing.T) {
	prom := promtest.Start(t, promtest.Options{})
	p := &graph.Prom{URL: prom.URL}
	if _, err := p.Query(context.Background(), "rate(", time.Time{}); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("bad PromQL: err = %v, want Prometheus's bad_data error", err)
	}
	if _, err := graph.Read(context.Background(), &graph.Prom{URL: "http://127.0.0.1:1"}, graph.Options{}); err == nil {
		t.Error("Read from a closed port succeeded")
	}
}
