package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/steps"
)

// runner picks how progress looks: JSON when asked; a spinner only on a terminal that wants
// colour and cursor movement; plain lines everywhere else, so logs and files stay clean.
func runner(c *cli.Context) *steps.Runner {
	r := &steps.Runner{Out: c.App.Writer, Verbose: c.Bool("verbose")}
	f, isTerminal := terminal(c.App.Writer)
	switch {
	case c.String("output") == "json":
		r.Mode = steps.JSON
	case isTerminal && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb":
		r.Mode, r.TTY = steps.Terminal, f
	}
	return r
}

func newSession(cfg steps.Config) *steps.Session {
	x := execx.OS{}
	return &steps.Session{
		Config:       cfg,
		Exec:         x,
		Spawner:      x,
		Minikube:     minikube.Driver{Exec: x},
		HostMemoryMB: steps.ReadHostMemoryMB,
		HostCPUs:     steps.CountHostCPUs,
		GOOS:         runtime.GOOS,
	}
}

// runPlan runs a command's plan and returns the session for what follows it.
func runPlan(c *cli.Context, plan func(steps.Config) steps.Plan) (*steps.Session, error) {
	r := runner(c)
	cfg, err := config(c)
	if err != nil {
		r.Failure(err)
		return nil, reported{err}
	}
	s := newSession(cfg)
	if err := r.Run(c.Context, plan(cfg), s); err != nil {
		return s, reported{err}
	}
	return s, nil
}

func up(c *cli.Context) error {
	s, err := runPlan(c, steps.UpPlan)
	if err != nil {
		return err
	}
	return s.Hold(c.Context)
}

// textReport is what a read-only command finds: printed as JSON with -o json, else as its text.
type textReport interface{ WriteText(io.Writer) }

func printReport(c *cli.Context, cfg steps.Config, rep textReport) error {
	if cfg.Output == "json" {
		return json.NewEncoder(c.App.Writer).Encode(rep)
	}
	rep.WriteText(c.App.Writer)
	return nil
}

// reportAction is the action of a command that finds one report and prints it (status, versions).
func reportAction[R textReport](find func(context.Context, *steps.Session) (R, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		cfg, err := config(c)
		if err != nil {
			return err
		}
		rep, err := find(c.Context, newSession(cfg))
		if err != nil {
			return err
		}
		return printReport(c, cfg, rep)
	}
}

// runOnStderr runs a plan whose command prints its answer on stdout: progress goes to stderr,
// so the answer can be piped.
func runOnStderr(c *cli.Context, plan func(steps.Config) steps.Plan) (*steps.Session, *steps.Runner, error) {
	r := runner(c)
	r.Out = c.App.ErrWriter
	if r.Mode == steps.Terminal {
		r.TTY, _ = terminal(c.App.ErrWriter)
	}
	cfg, err := config(c)
	if err != nil {
		r.Failure(err)
		return nil, r, reported{err}
	}
	s := newSession(cfg)
	if err := r.Run(c.Context, plan(cfg), s); err != nil {
		return s, r, reported{err}
	}
	return s, r, nil
}

// render prints manifests on stdout.
func render(c *cli.Context) error {
	s, _, err := runOnStderr(c, steps.RenderPlan)
	if err != nil {
		return err
	}
	if c.Bool("check-only") {
		fmt.Fprint(c.App.Writer, s.Checks.String())
		fmt.Fprintf(c.App.Writer, "✓ budget: %s\n", s.Budget)
		return nil
	}
	fmt.Fprint(c.App.Writer, s.Rendered.Manifest)
	return nil
}

// listImages prints the release's images on stdout (a table, or JSON with -o json); progress
// goes to stderr so the list can be piped.
func listImages(c *cli.Context) error {
	s, r, err := runOnStderr(c, steps.ImagesPlan)
	if err != nil {
		return err
	}
	list, err := images.List(s.Rendered)
	if err != nil {
		r.Failure(err)
		return reported{err}
	}
	if c.String("output") == "json" {
		return json.NewEncoder(c.App.Writer).Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tPULL POLICY\tUSED BY")
	for _, img := range list {
		used := img.UsedBy[0]
		if n := len(img.UsedBy) - 1; n > 0 {
			used += fmt.Sprintf(" and %d more", n)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", img.Ref, img.PullPolicy, used)
	}
	return w.Flush()
}

func forward(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	s := newSession(cfg)
	if c.Bool("background") {
		return steps.ForwardInBackground(c.Context, s, c.App.Writer, c.App.ErrWriter)
	}
	r := runner(c)
	if err := r.Run(c.Context, steps.Plan{steps.Forward{}}, s); err != nil {
		return reported{err}
	}
	return s.Hold(c.Context)
}
