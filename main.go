// Command svcgraph brings up the OpenTelemetry demo with Grafana Tempo's service graph on
// minikube in one command, and takes it down again. This file is the command line only: flags
// and environment become one steps.Config, and a plan of steps does the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/steps"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "svcgraph",
		Usage:                "the OpenTelemetry demo with Grafana Tempo's service graph on minikube, in one command",
		Version:              version,
		EnableBashCompletion: true,
		// helm's own --set syntax has commas ({a,b}, a=x\,y), and file names may too: a value
		// reaches Helm as typed, one per flag, never split at commas.
		DisableSliceFlagSeparator: true,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		ExitErrHandler:            func(*cli.Context, error) {}, // main decides exit codes
		OnUsageError:              usageError,
		Commands: withUsageErrors([]*cli.Command{
			{
				Name:   "up",
				Usage:  "start minikube (or use --context), install the demo with Tempo, wait for it and forward the frontend to localhost",
				Flags:  concat(globalFlags(), upFlags()),
				Action: up,
			},
			{
				Name:  "down",
				Usage: "uninstall the demo and delete its namespace (--stop / --purge also stop / delete the minikube profile; never a --context cluster)",
				Flags: concat(globalFlags(), []cli.Flag{
					&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long to wait for the release's delete hooks and for the namespace to be gone", EnvVars: env("timeout")},
					&cli.BoolFlag{Name: "stop", Usage: "also stop the minikube profile", EnvVars: env("stop")},
					&cli.BoolFlag{Name: "purge", Usage: "also delete the minikube profile", EnvVars: env("purge")},
				}),
				Action: func(c *cli.Context) error {
					_, err := runPlan(c, steps.DownPlan)
					return err
				},
			},
			{
				Name:   "status",
				Usage:  "show the cluster (minikube profile, or the kind of cluster --context names), the release, pod readiness, the background forwarder and whether `up --offline` could run",
				Flags:  concat(globalFlags(), chartFlags()),
				Action: reportAction(steps.Status),
			},
			{
				Name:   "images",
				Usage:  "list every container image the release runs, with its pull policy (from the rendered charts; no cluster)",
				Flags:  concat(globalFlags(), chartFlags(), []cli.Flag{offlineFlag()}),
				Action: listImages,
			},
			{
				Name:  "prepare",
				Usage: "pull the charts and every image into svcgraph's cache (or a bundle), so `up --offline` needs no network",
				Flags: concat(globalFlags(), chartFlags(), prepareFlags()),
				Action: func(c *cli.Context) error {
					_, err := runPlan(c, steps.PreparePlan)
					return err
				},
			},
			{
				Name:  "render",
				Usage: "print the patched manifests (or only the check report) without touching any cluster",
				Flags: concat(globalFlags(), chartFlags(), sizeFlags(), []cli.Flag{
					&cli.BoolFlag{Name: "check-only", Usage: "print only the render checks and whether the release fits a minikube profile of --cpus and --memory, not the manifests"},
				}),
				Action: render,
			},
			{
				Name:  "forward",
				Usage: "forward the frontend proxy to localhost, reconnecting when its pod is replaced (until Ctrl-C)",
				Flags: concat(globalFlags(), forwardFlags(), []cli.Flag{
					&cli.BoolFlag{Name: "background", Hidden: true, Usage: "run as up --detach's forwarder: one ready line on stdout, the rest on stderr"},
				}),
				Action: forward,
			},
			graphCommand(),
			doctorCommand(),
			{
				Name:   "versions",
				Usage:  "list the chart versions svcgraph installs, the tested pairs, and what the repositories offer",
				Flags:  concat(globalFlags(), repoFlags()),
				Action: reportAction(steps.Versions),
			},
			{
				Name:  "version",
				Usage: "print svcgraph's version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "svcgraph %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					return nil
				},
			},
		}),
	}
}

// usageError turns urfave/cli's flag errors into a Usage error (exit code 2) instead of a
// screenful of help.
func usageError(c *cli.Context, err error, _ bool) error {
	advice := "Run svcgraph --help to see the commands."
	if c.Command != nil && c.Command.Name != "" {
		advice = fmt.Sprintf("Run svcgraph %s --help to see the flags it takes.", c.Command.Name)
	}
	return reason.Wrap(reason.Usage, err, advice, "bad command line")
}

func withUsageErrors(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.OnUsageError = usageError
	}
	return cmds
}

// reported marks an error the runner has already shown, so main only sets the exit code.
type reported struct{ error }

func (r reported) Unwrap() error { return r.error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the plan unwinds; a second one should kill at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(runCLI(ctx, os.Args, os.Stdout, os.Stderr))
}

// runCLI runs one command line and returns the process's exit code. A command that did its work
// but could not write its output (a full disk behind `> file`) does not exit 0.
func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := &checkedWriter{Writer: stdout}
	err := newApp(out, stderr).RunContext(ctx, args)
	if err == nil && out.err != nil {
		err = reason.Wrap(reason.Output, out.err, "", "cannot write to standard output")
	}
	return exitCode(err, stderr)
}

// checkedWriter remembers the first failed write, which fmt.Fprint and friends let pass.
type checkedWriter struct {
	io.Writer
	err error
}

func (w *checkedWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// terminal is the file behind w when it is one (the spinner needs it), seen through checkedWriter.
func terminal(w io.Writer) (*os.File, bool) {
	if cw, ok := w.(*checkedWriter); ok {
		w = cw.Writer
	}
	f, ok := w.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// exitCode shows errors nobody has shown yet and returns the documented exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var rep reported
	if !errors.As(err, &rep) {
		fmt.Fprint(stderr, strings.TrimPrefix(steps.Explain(err), "\n"))
	}
	return reason.Of(err).Kind.ExitCode
}
