package otelcoltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Call is one request from service Client to service Server: in one trace, a client span of
// Client and, its child, a server span of Server, which is what a service graph counts as one
// request on the edge Client → Server. Failed marks the server span with an error status.
type Call struct {
	Client, Server string
	Failed         bool
}

// OTLP span kinds and status codes (opentelemetry-proto trace.proto).
const (
	kindServer  = 2
	kindClient  = 3
	statusError = 2
)

type otlpKeyValue struct {
	Key   string `json:"key"`
	Value struct {
		StringValue string `json:"stringValue"`
	} `json:"value"`
}

type otlpSpan struct {
	TraceID           string `json:"traceId"`
	SpanID            string `json:"spanId"`
	ParentSpanID      string `json:"parentSpanId,omitempty"`
	Name              string `json:"name"`
	Kind              int    `json:"kind"`
	StartTimeUnixNano string `json:"startTimeUnixNano"`
	EndTimeUnixNano   string `json:"endTimeUnixNano"`
	Status            struct {
		Code int `json:"code,omitempty"`
	} `json:"status"`
}

// SendSpans sends the calls to an OTLP/HTTP receiver (base URL http://host:port) as one
// ExportTraceServiceRequest in OTLP's JSON encoding, the form the OpenTelemetry SDKs' http/json
// exporters send: one resource per service, named by its service.name. telemetrygen cannot do
// this: all spans of one telemetrygen process share one resource, so its client and server spans
// are always the same service.
func SendSpans(ctx context.Context, baseURL string, calls []Call) error {
	byService := map[string][]otlpSpan{}
	var order []string
	add := func(service string, s otlpSpan) {
		if _, ok := byService[service]; !ok {
			order = append(order, service)
		}
		byService[service] = append(byService[service], s)
	}
	now := time.Now()
	for i, c := range calls {
		trace, client, server := randomHex(16), randomHex(8), randomHex(8)
		start := now.Add(-time.Duration(len(calls)-i) * time.Millisecond * 20)
		nanos := func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }
		cs := otlpSpan{TraceID: trace, SpanID: client, Name: "call " + c.Server, Kind: kindClient,
			StartTimeUnixNano: nanos(start), EndTimeUnixNano: nanos(start.Add(12 * time.Millisecond))}
		ss := otlpSpan{TraceID: trace, SpanID: server, ParentSpanID: client, Name: "serve " + c.Server, Kind: kindServer,
			StartTimeUnixNano: nanos(start.Add(time.Millisecond)), EndTimeUnixNano: nanos(start.Add(11 * time.Millisecond))}
		if c.Failed {
			ss.Status.Code = statusError
		}
		add(c.Client, cs)
		add(c.Server, ss)
	}
	type scopeSpans struct {
		Scope struct {
			Name string `json:"name"`
		} `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	type resourceSpans struct {
		Resource struct {
			Attributes []otlpKeyValue `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
	}
	var req struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	for _, svc := range order {
		var rs resourceSpans
		var kv otlpKeyValue
		kv.Key, kv.Value.StringValue = "service.name", svc
		rs.Resource.Attributes = []otlpKeyValue{kv}
		var ss scopeSpans
		ss.Scope.Name = "svcgraph-test"
		ss.Spans = byService[svc]
		rs.ScopeSpans = []scopeSpans{ss}
		req.ResourceSpans = append(req.ResourceSpans, rs)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP receiver answered %s: %s", resp.Status, answer)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
