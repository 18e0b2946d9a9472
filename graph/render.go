package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats are the output formats of Write.
var Formats = []string{"table", "json", "dot", "mermaid"}

// Write renders g in one of Formats.
func Write(w io.Writer, g *Graph, format string) error {
	switch format {
	case "table", "text", "":
		return WriteTable(w, g)
	case "json":
		return WriteJSON(w, g)
	case "dot":
		return WriteDot(w, g)
	case "mermaid":
		return WriteMermaid(w, g)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// WriteTable prints one line per edge, busiest first.
func WriteTable(w io.Writer, g *Graph) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CLIENT\t\tSERVER\tREQ/S\tERRORS\tP95\n")
	for _, e := range g.Edges {
		fmt.Fprintf(tw, "%s\t→\t%s\t%s\t%s\t%s\n", e.Client, serverName(e), FormatRate(e.RequestsPerSec), FormatRatio(e.ErrorRatio), FormatP95(e.P95Seconds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d edges; rates over the last %s\n", len(g.Edges), g.Window)
	return err
}

type jsonGraph struct {
	Window        string `json:"window"`
	WindowSeconds int64  `json:"window_seconds"`
	Edges         []Edge `json:"edges"`
}

// WriteJSON prints the graph as one JSON object.
func WriteJSON(w io.Writer, g *Graph) error {
	edges := g.Edges
	if edges == nil {
		edges = []Edge{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonGraph{Window: g.Window.String(), WindowSeconds: int64(g.Window / time.Second), Edges: edges})
}

// WriteDot prints a Graphviz digraph: `svcgraph graph -o dot | dot -Tsvg > graph.svg`.
func WriteDot(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("digraph service_graph {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", strconv.Quote(e.Client), strconv.Quote(serverName(e)), strconv.Quote(edgeLabel(e)))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMermaid prints a Mermaid flowchart, ready to paste into Markdown.
func WriteMermaid(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	id := func(name string) string {
		if v, ok := ids[name]; ok {
			return v
		}
		v := "n" + strconv.Itoa(len(ids))
		ids[name] = v
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", v, mermaidText(name))
		return v
	}
	for _, e := range g.Edges {
		from, to := id(e.Client), id(serverName(e))
		fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", from, mermaidText(edgeLabel(e)), to)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText escapes what would end a quoted Mermaid string.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ").Replace(s)
}

func serverName(e Edge) string {
	if e.ConnectionType == "" {
		return e.Server
	}
	return e.Server + " (" + e.ConnectionType + ")"
}

func edgeLabel(e Edge) string {
	return FormatRate(e.RequestsPerSec) + " req/s, " + FormatRatio(e.ErrorRatio) + " errors, p95 " + FormatP95(e.P95Seconds)
}

// FormatRate writes requests per second with two decimals ("0.25").
func FormatRate(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// FormatRatio writes an error ratio as a percentage with one decimal ("2.5%").
func FormatRatio(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// FormatP95 writes a latency in milliseconds below a second, else in seconds; "-" for none.
func FormatP95(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v < 1:
		return strconv.FormatFloat(*v*1000, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(*v, 'f', 2, 64) + "s"
	}
}
