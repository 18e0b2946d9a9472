package graph

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func fixture() *Graph {
	p95 := 0.0426
	g := &Graph{Window: 5 * time.Minute, Edges: []Edge{
		{Client: "checkout", Server: "kafka", ConnectionType: "messaging_system", RequestsPerSec: 2},
		{Client: "frontend", Server: `cart "v2"`, RequestsPerSec: 10, ErrorRatio: 0.05, P95Seconds: &p95},
		{Client: "a", Server: "cart \"v2\"", RequestsPerSec: 10},
	}}
	Sort(g.Edges)
	return g
}

func TestSortBusiestFirstThenNames(t *testing.T) {
	var got []string
	for _, e := range fixture().Edges {
		got = append(got, e.Client)
	}
	if strings.Join(got, ",") != "a,frontend,checkout" {
		t.Errorf("order %v, want a, frontend (tie on 10 req/s broken by client), checkout", got)
	}
}

func TestJSON(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, fixture(), "json"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Window        string           `json:"window"`
		WindowSeconds int              `json:"window_seconds"`
		Edges         []map[string]any `json:"edges"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if got.Window != "5m0s" || got.WindowSeconds != 300 || len(got.Edges) != 3 {
		t.Fatalf("got %+v", got)
	}
	f := got.Edges[1]
	if f["client"] != "frontend" || f["requests_per_second"] != 10.0 || f["error_ratio"] != 0.05 || f["p95_seconds"] != 0.0426 {
		t.Errorf("frontend edge: %v", f)
	}
	if _, ok := got.Edges[2]["p95_seconds"]; ok || got.Edges[2]["connection_type"] != "messaging_system" {
		t.Errorf("kafka edge: %v (want connection_type, no p95_seconds)", got.Edges[2])
	}
	b.Reset()
	if err := WriteJSON(&b, &Graph{Window: time.Minute}); err != nil || !strings.Contains(b.String(), `"edges": []`) {
		t.Errorf("empty graph: %v %s (want \"edges\": [])", err, b.String())
	}
}

func TestDot(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, fixture(), "dot"); err != nil {
		t.Fatal(err)
	}
	want := `digraph service_graph {
  rankdir=LR;
  node [shape=box];
  "a" -> "cart \"v2\"" [label="10.00 req/s, 0.0% errors, p95 -"];
  "frontend" -> "cart \"v2\"" [label="10.00 req/s, 5.0% errors, p95 43ms"];
  "checkout" -> "kafka (messaging_system)" [label="2.00 req/s, 0.0% errors, p95 -"];
}
`
	if b.String() != want {
		t.Errorf("dot:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMermaid(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, fixture(), "mermaid"); err != nil {
		t.Fatal(err)
	}
	want := `flowchart LR
  n0["a"]
  n1["cart #quot;v2#quot;"]
  n0 -->|"10.00 req/s, 0.0% errors, p95 -"| n1
  n2["frontend"]
  n2 -->|"10.00 req/s, 5.0% errors, p95 43ms"| n1
  n3["checkout"]
  n4["kafka (messaging_system)"]
  n3 -->|"2.00 req/s, 0.0% errors, p95 -"| n4
`
	if b.String() != want {
		t.Errorf("mermaid:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := Write(&b, fixture(), "svg"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestFormatP95(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0.0004, "0ms"}, {0.999, "999ms"}, {1, "1.00s"}, {12.345, "12.35s"}} {
		if got := FormatP95(&c.v); got != c.want {
			t.Errorf("FormatP95(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
