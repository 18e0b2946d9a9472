package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// VerifyGraph is the last step of `up` (unless --no-verify): it waits, up to --graph-timeout, until Tempo's
// service graph in Prometheus has an edge, and shows the busiest ones and where to see them.
type VerifyGraph struct {
	// Poll is the time between reads; 0 means 5 s. Tempo remote-writes every 15 s by default.
	Poll time.Duration
	// At is the evaluation time of the reads (tests); zero means Prometheus's now.
	At time.Time
}

func (VerifyGraph) ID() string    { return "verify-graph" }
func (VerifyGraph) Title() string { return "Waiting for the service graph" }

// DefaultGraphTimeout is --graph-timeout's default: traffic from the load generator takes a
// minute or two to become edges (collector batch, Tempo's generator, remote write).
const DefaultGraphTimeout = 5 * time.Minute

// busiest is how many edges the step shows.
const busiest = 5

func (v VerifyGraph) Run(ctx context.Context, s *Session) error {
	timeout := s.Config.GraphTimeout
	if timeout <= 0 {
		timeout = DefaultGraphTimeout
	}
	poll := v.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	names, err := s.names(ctx)
	if err != nil {
		return err
	}
	prom, closeForward, err := s.prometheus(ctx, names)
	if err != nil {
		return err
	}
	defer closeForward()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	start := time.Now()
	var lastErr error
	for {
		g, err := graph.Read(ctx, prom, graph.Options{At: v.At})
		switch {
		case err != nil:
			lastErr = err
			s.Progress("Prometheus not answering yet")
			s.Debug("reading the service graph: " + err.Error())
		case len(g.Edges) > 0:
			s.Result(fmt.Sprintf("service graph: %d edges", len(g.Edges)))
			s.Info(summary(g, s.Config))
			return nil
		default:
			lastErr = nil
			s.Progress(fmt.Sprintf("no edges yet (%s)", time.Since(start).Round(time.Second)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if lastErr != nil {
				return unreachable(lastErr, names, s.Config.Namespace)
			}
			return s.diagnoseEmptyGraph(ctx, timeout)
		case <-tick.C:
		}
	}
}

// summary lists the busiest edges and the Grafana page that draws the graph.
func summary(g *graph.Graph, c Config) string {
	var b strings.Builder
	for i, e := range g.Edges {
		if i == busiest {
			fmt.Fprintf(&b, "  … and %d more (svcgraph graph shows them all)\n", len(g.Edges)-busiest)
			break
		}
		fmt.Fprintf(&b, "  %s → %s  %s req/s, %s errors, p95 %s\n", e.Client, serverLabel(e), graph.FormatRate(e.RequestsPerSec), graph.FormatRatio(e.ErrorRatio), graph.FormatP95(e.P95Seconds))
	}
	if !c.NoForward {
		for _, u := range URLs(BaseURL(c.Address, c.Port)) {
			if u[0] == "Service graph" {
				fmt.Fprintf(&b, "  Open it in Grafana: %s\n", u[1])
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func serverLabel(e graph.Edge) string {
	if e.ConnectionType == "" {
		return e.Server
	}
	return e.Server + " (" + e.ConnectionType + ")"
}

// diagnoseEmptyGraph runs the doctor when the graph stayed empty, shows its findings, and
// returns the first broken link as the error, or a plain GRAPH_EMPTY when every link holds.
func (s *Session) diagnoseEmptyGraph(ctx context.Context, timeout time.Duration) error {
	empty := reason.New(reason.GraphEmpty,
		"The demo is installed; traces may still be on their way. Run `svcgraph graph` in a minute, or `up` again with a longer --graph-timeout.",
		"the service graph has no edges after --graph-timeout %s", timeout)
	s.Progress("no edges in time; running the doctor")
	rep, err := Doctor(ctx, s)
	if err != nil {
		s.Warn("the doctor could not look: " + err.Error())
		return empty
	}
	var b strings.Builder
	rep.WriteText(&b)
	s.Info("The service graph has no edges after " + timeout.String() + "; the doctor says:\n" + strings.TrimRight(b.String(), "\n"))
	if err := rep.Err(); err != nil {
		return err
	}
	return empty
}
