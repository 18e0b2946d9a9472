package graph

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// The series Tempo's metrics-generator (service-graphs processor) remote-writes, and their labels.
const (
	MetricRequests       = "traces_service_graph_request_total"
	MetricFailed         = "traces_service_graph_request_failed_total"
	MetricServerDuration = "traces_service_graph_request_server_seconds_bucket"

	LabelClient         = "client"
	LabelServer         = "server"
	LabelConnectionType = "connection_type"
)

// Edge is one client → server pair of the graph over the window.
type Edge struct {
	Client         string   `json:"client"`
	Server         string   `json:"server"`
	ConnectionType string   `json:"connection_type,omitempty"` // "" for a plain call; database, messaging_system, virtual_node
	RequestsPerSec float64  `json:"requests_per_second"`
	ErrorRatio     float64  `json:"error_ratio"`           // failed / all requests, 0…1
	P95Seconds     *float64 `json:"p95_seconds,omitempty"` // nil when the window holds no duration data
}

// Graph is the service graph over Window, evaluated at At.
type Graph struct {
	Window time.Duration `json:"-"`
	At     time.Time     `json:"-"`
	Edges  []Edge        `json:"edges"`
}

// Options say which window to read and at which time.
type Options struct {
	Window time.Duration // rate window; 0 means 5m
	At     time.Time     // evaluation time; zero means Prometheus's now
}

// DefaultWindow is --window's default: long enough for several of Tempo's remote-write intervals.
const DefaultWindow = 5 * time.Minute

type edgeKey struct{ client, server, ctype string }

func keyOf(l map[string]string) edgeKey {
	return edgeKey{l[LabelClient], l[LabelServer], l[LabelConnectionType]}
}

// Read queries Prometheus for the service graph: per edge the request rate, the ratio of failed
// requests and the 95th percentile of the server-side duration over the window. An edge is an
// edge when its request counter has a rate in the window (two samples or more).
func Read(ctx context.Context, p *Prom, o Options) (*Graph, error) {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	w := promDuration(o.Window)
	by := LabelClient + ", " + LabelServer + ", " + LabelConnectionType
	reqs, err := p.Query(ctx, fmt.Sprintf("sum by (%s) (rate(%s[%s]))", by, MetricRequests, w), o.At)
	if err != nil {
		return nil, err
	}
	failed, err := p.Query(ctx, fmt.Sprintf("sum by (%s) (rate(%s[%s]))", by, MetricFailed, w), o.At)
	if err != nil {
		return nil, err
	}
	p95, err := p.Query(ctx, fmt.Sprintf("histogram_quantile(0.95, sum by (%s, le) (rate(%s[%s])))", by, MetricServerDuration, w), o.At)
	if err != nil {
		return nil, err
	}
	failedBy := map[edgeKey]float64{}
	for _, s := range failed {
		failedBy[keyOf(s.Labels)] = s.Value
	}
	p95By := map[edgeKey]float64{}
	for _, s := range p95 {
		p95By[keyOf(s.Labels)] = s.Value
	}
	g := &Graph{Window: o.Window, At: o.At, Edges: []Edge{}}
	for _, s := range reqs {
		k := keyOf(s.Labels)
		e := Edge{Client: k.client, Server: k.server, ConnectionType: k.ctype, RequestsPerSec: s.Value}
		if f := failedBy[k]; s.Value > 0 {
			e.ErrorRatio = f / s.Value
		}
		if v, ok := p95By[k]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			e.P95Seconds = &v
		}
		g.Edges = append(g.Edges, e)
	}
	Sort(g.Edges)
	return g, nil
}

// Sort orders edges busiest first, then by client, server and connection type.
func Sort(edges []Edge) {
	slices.SortFunc(edges, func(a, b Edge) int {
		if c := cmp.Compare(b.RequestsPerSec, a.RequestsPerSec); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Client, b.Client); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Server, b.Server); c != 0 {
			return c
		}
		return cmp.Compare(a.ConnectionType, b.ConnectionType)
	})
}

// promDuration writes d as a PromQL duration (whole seconds or milliseconds).
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
