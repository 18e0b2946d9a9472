package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/steps"
)

// graphCommand is `svcgraph graph`: the service graph read from the demo's Prometheus.
func graphCommand() *cli.Command {
	var flags []cli.Flag
	for _, f := range globalFlags() {
		if f.Names()[0] != "output" { // graph's --output has more formats
			flags = append(flags, f)
		}
	}
	return &cli.Command{
		Name:  "graph",
		Usage: "print the service graph (client → server, requests/s, error %, p95) from the demo's Prometheus",
		Flags: append(flags,
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, json, dot or mermaid", EnvVars: env("graph-output")},
			&cli.DurationFlag{Name: "window", Value: graph.DefaultWindow, Usage: "the rate window: edges with traffic in it, rates averaged over it", EnvVars: env("window")},
		),
		Action: graphAction,
	}
}

func graphAction(c *cli.Context) error {
	format := c.String("output")
	if format == "text" {
		format = "table"
	}
	if !slices.Contains(graph.Formats, format) {
		return reason.New(reason.Usage, "Use --output "+strings.Join(graph.Formats, ", --output ")+".", "unknown --output %q", format)
	}
	window := c.Duration("window")
	if window < time.Second {
		return reason.New(reason.Usage, "Use a window of a minute or more, e.g. --window 5m.", "--window %s is too short", window)
	}
	// config() knows the text and json of the other commands; graph's own formats end here.
	mode := "text"
	if format == "json" {
		mode = "json"
	}
	if err := c.Set("output", mode); err != nil {
		return err
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	g, err := steps.ReadGraph(c.Context, newSession(cfg), graph.Options{Window: window})
	if err != nil {
		return err
	}
	if err := graph.Write(c.App.Writer, g, format); err != nil {
		return fmt.Errorf("write the graph: %w", err)
	}
	if len(g.Edges) == 0 {
		return steps.EmptyGraph(g)
	}
	return nil
}

// doctorCommand is `svcgraph doctor`: walk the service-graph pipeline of the live release.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:   "doctor",
		Usage:  "check the service-graph pipeline on the live cluster (collector → Tempo → Prometheus → Grafana) and name the first broken link",
		Flags:  globalFlags(),
		Action: doctorAction,
	}
}

func doctorAction(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	rep, err := steps.Doctor(c.Context, newSession(cfg))
	if err != nil {
		return err
	}
	if err := printReport(c, cfg, rep); err != nil {
		return err
	}
	return rep.Err()
}
