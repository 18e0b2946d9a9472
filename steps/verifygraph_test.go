package steps

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// waitRouted repeats a read until the forward reaches the real Prometheus: kwok learns the
// PortForward rule through a watch the test cannot observe.
func waitRouted(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := ReadGraph(ctx, s, graph.Options{})
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the forward never reached Prometheus: %v", err)
		case <-tick.C:
		}
	}
}

// watchWriter is a runner's output that signals the first time a line contains want.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestVerifyGraphWaitsForEdges(t *testing.T) {
	cl := testcluster.Require(t)
	prom := promtest.Start(t, promtest.Options{})
	s, _ := promInCluster(t, cl, prom, "steps-verify")
	waitRouted(t, s)
	s.Config.Address, s.Config.Port, s.Config.GraphTimeout = DefaultAddress, 18080, time.Minute

	// The step starts on an empty Prometheus and reports that it waits; only then are the
	// series written, as Tempo would write them a little after the demo starts.
	out := &watchWriter{want: "no edges yet", seen: make(chan struct{})}
	r := &Runner{Out: out, Mode: JSON}
	at := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	errc := make(chan error, 1)
	go func() {
		errc <- r.Run(context.Background(), Plan{VerifyGraph{Poll: 100 * time.Millisecond, At: at}}, s)
	}()
	select {
	case <-out.seen:
	case err := <-errc:
		t.Fatalf("the step ended before any series was written: %v\n%s", err, out.String())
	case <-time.After(time.Minute):
		t.Fatalf("the step never reported waiting:\n%s", out.String())
	}
	var series []promtest.Series
	for i, c := range []string{"a", "b", "c", "d", "e", "f"} {
		series = append(series, promtest.Counter(graph.MetricRequests, map[string]string{"client": c, "server": "cart"}, float64(10-i), at, graph.DefaultWindow))
	}
	series = append(series, promtest.Counter(graph.MetricFailed, map[string]string{"client": "a", "server": "cart"}, 2.5, at, graph.DefaultWindow))
	promtest.MustWrite(t, prom.URL, series...)
	if err := <-errc; err != nil {
		t.Fatalf("VerifyGraph: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`"event":"step_finished","step":"verify-graph"`, `"message":"service graph: 6 edges"`,
		`a → cart  10.00 req/s, 25.0% errors, p95 -`,
		`e → cart  6.00 req/s, 0.0% errors, p95 -`,
		`… and 1 more (svcgraph graph shows them all)`,
		`Open it in Grafana: http://127.0.0.1:18080/grafana/explore?`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "f → cart") {
		t.Errorf("output shows more than the %d busiest edges:\n%s", busiest, got)
	}
}

func TestVerifyGraphTimesOutWithoutEdges(t *testing.T) {
	cl := testcluster.Require(t)
	prom := promtest.Start(t, promtest.Options{})
	s, _ := promInCluster(t, cl, prom, "steps-verify-empty")
	waitRouted(t, s)
	s.Config.GraphTimeout = time.Second
	var out bytes.Buffer
	start := time.Now()
	err := (&Runner{Out: &out}).Run(context.Background(), Plan{VerifyGraph{Poll: 100 * time.Millisecond}}, s)
	// This namespace holds a Prometheus but no demo: the doctor, run at the timeout, stops at
	// the first link (the collector's ConfigMap is missing) and its finding is the error.
	e := reason.Of(err)
	if e.Kind != reason.GraphEmpty || !strings.Contains(e.Msg, "broken at the collector") {
		t.Fatalf("VerifyGraph on an empty Prometheus = %v, want %s naming the collector", err, reason.GraphEmpty.ID)
	}
	if got := out.String(); !strings.Contains(got, "no edges after 1s; the doctor says:") || !strings.Contains(got, "✗ collector") {
		t.Errorf("output lacks the doctor's findings:\n%s", got)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a 1s --graph-timeout took %s", d)
	}
}

func TestUpPlanVerifiesUnlessTold(t *testing.T) {
	last := func(p Plan) string { return p[len(p)-1].ID() }
	if got := last(UpPlan(Config{})); got != "verify-graph" {
		t.Errorf("up ends with %s, want verify-graph", got)
	}
	if got := last(UpPlan(Config{NoForward: true})); got != "verify-graph" {
		t.Errorf("up --no-forward ends with %s, want verify-graph", got)
	}
	for _, c := range []Config{{NoVerify: true}, {NoVerify: true, NoForward: true}} {
		for _, st := range UpPlan(c) {
			if st.ID() == "verify-graph" {
				t.Errorf("up with %+v still verifies the graph", c)
			}
		}
	}
}
