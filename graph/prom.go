// Package graph reads the service graph that Tempo's metrics-generator writes into Prometheus,
// and renders it as a table, JSON, Graphviz dot or Mermaid.
package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prom is a client of Prometheus's HTTP API (the parts svcgraph uses).
type Prom struct {
	URL     string        // base URL, e.g. http://127.0.0.1:9090
	HTTP    *http.Client  // nil means one fresh connection per request (see oneShot)
	Timeout time.Duration // bound of each request, through its context; 0 means DefaultTimeout
}

// DefaultTimeout bounds one request to Prometheus: its API answers these queries in milliseconds,
// so a request still open after this has met a dead connection, not a slow server.
const DefaultTimeout = 30 * time.Second

// MaxBodyBytes bounds one answer: the service graph's series and /metrics are well under a MB,
// and whatever answers on the port (not necessarily Prometheus) must not exhaust memory.
const MaxBodyBytes = 64 << 20

// oneShot opens a new connection for every request. svcgraph reaches Prometheus through a
// port-forward, where a kept-alive connection can outlive the stream behind it (the pod replaced,
// the forward closed); a fresh connection per read means a dead one never carries the next request.
var oneShot = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant query at the time at (the server's now when at is zero).
func (p *Prom) Query(ctx context.Context, expr string, at time.Time) ([]Sample, error) {
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query?"+q.Encode(), &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %q, want vector", expr, data.ResultType)
	}
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %s: value %v is not a string", expr, r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64) // also "NaN", "+Inf"
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", expr, s, err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// Flags returns the command-line flags Prometheus was started with (/api/v1/status/flags).
func (p *Prom) Flags(ctx context.Context) (map[string]string, error) {
	var flags map[string]string
	if err := p.get(ctx, "/api/v1/status/flags", &flags); err != nil {
		return nil, fmt.Errorf("read Prometheus's flags: %w", err)
	}
	return flags, nil
}

// get calls the API and decodes the "data" of a success envelope into v.
func (p *Prom) get(ctx context.Context, path string, v any) error {
	body, status, err := p.fetch(ctx, path)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("HTTP %d from %s, not Prometheus's API: %.200q", status, p.URL, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("Prometheus answered HTTP %d: %s: %s", status, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

// fetch GETs path and returns the body (at most MaxBodyBytes) and status, within the request
// timeout.
func (p *Prom) fetch(ctx context.Context, path string) ([]byte, int, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The deadline is the context's, not only the client's, so it also holds for a caller's
	// own client and ends the body read too.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.URL, "/")+path, nil)
	if err != nil {
		return nil, 0, err
	}
	c := p.HTTP
	if c == nil {
		c = oneShot
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(body) > MaxBodyBytes {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: the answer is larger than %d MiB, more than svcgraph reads from Prometheus", path, MaxBodyBytes>>20)
	}
	return body, resp.StatusCode, nil
}

// RemoteWritesReceived sums Prometheus's own prometheus_http_requests_total for the remote-write
// handler, read from its /metrics (directly: the server need not scrape itself).
func (p *Prom) RemoteWritesReceived(ctx context.Context) (float64, error) {
	body, status, err := p.fetch(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: HTTP %d", status)
	}
	total := 0.0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "prometheus_http_requests_total{") || !strings.Contains(line, `handler="/api/v1/write"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics line %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}
