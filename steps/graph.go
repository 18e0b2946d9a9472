package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// prometheus port-forwards a free loopback port to the release's Prometheus and returns a client
// for it; close ends the forward.
func (s *Session) prometheus(ctx context.Context, names chartmod.Names) (p *graph.Prom, close func(), err error) {
	k, err := s.Kube()
	if err != nil {
		return nil, nil, err
	}
	f, err := k.Forward(ctx, kube.ForwardOptions{
		Namespace: s.Config.Namespace, Service: names.PrometheusService, Port: names.PrometheusPort,
		LocalPort: 0, Addresses: []string{"127.0.0.1"}, Events: s.Debug,
	})
	if err != nil {
		return nil, nil, err
	}
	s.Debug(fmt.Sprintf("Prometheus (service %s port %d) forwarded to %s", names.PrometheusService, names.PrometheusPort, f.Addr()))
	return &graph.Prom{URL: "http://" + f.Addr()}, func() { f.Close(); <-f.Done() }, nil
}

// ReadGraph reads the installed release's service graph from its Prometheus, through a
// port-forward on a free local port that is closed again before it returns.
func ReadGraph(ctx context.Context, s *Session, o graph.Options) (*graph.Graph, error) {
	names, err := s.names(ctx)
	if err != nil {
		return nil, err
	}
	prom, closeForward, err := s.prometheus(ctx, names)
	if err != nil {
		return nil, err
	}
	defer closeForward()
	g, err := graph.Read(ctx, prom, o)
	if err != nil {
		return nil, unreachable(err, names, s.Config.Namespace)
	}
	if o.Window <= 0 {
		o.Window = graph.DefaultWindow
	}
	g.Window = o.Window
	return g, nil
}

// unreachable is the error for a Prometheus that did not answer: not an empty graph, since
// nothing is known about the graph then.
func unreachable(err error, names chartmod.Names, ns string) error {
	return reason.Wrap(reason.PromUnreachable, err, "",
		"cannot read the service graph from Prometheus (service %s port %d in namespace %s)", names.PrometheusService, names.PrometheusPort, ns)
}

// EmptyGraph is the error for a graph without edges.
func EmptyGraph(g *graph.Graph) error {
	return reason.New(reason.GraphEmpty,
		"Spans become edges a few minutes after the demo starts, when the load generator sends traffic; try again in a minute, or with a longer --window; if it stays empty, `svcgraph doctor` names the broken link.",
		"the service graph has no edges over the last %s", g.Window)
}
