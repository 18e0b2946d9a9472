// Command svcgraph brings up the OpenTelemetry demo with Grafana Tempo's service graph on
// minikube in one command, and takes it down again. This file is the command line only: flags
// and environment become one steps.Config, and a plan of steps does the work.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
	helmcli "helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
	"github.com/svcgraph/svcgraph/steps"
)

// The minikube size `up --preset lite` asks for unless --cpus/--memory are given.
const (
	liteCPUs   = 2
	liteMemory = "4G"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

// env names the environment variable that backs a flag: --demo-repo reads SVCGRAPH_DEMO_REPO.
func env(flag string) []string {
	return []string{"SVCGRAPH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// The flag lists are functions: urfave/cli writes defaults from the environment into a flag's
// struct, so each app gets fresh ones (tests run many apps in one process).

// globalFlags are the flags every command takes after its name, as kubectl and helm users type them.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)", EnvVars: env("kubeconfig")},
		&cli.StringFlag{Name: "profile", Value: "svcgraph", Usage: "minikube profile, and the kubeconfig context it writes (your own minikube profile is left alone)", EnvVars: env("profile")},
		&cli.StringFlag{Name: "context", Usage: "use this existing kubeconfig context (kind, k3d, Docker Desktop, a cloud cluster) instead of the minikube profile; svcgraph never starts, stops or deletes it", EnvVars: env("context")},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "otel-demo", Usage: "namespace to install into", EnvVars: env("namespace")},
		&cli.StringFlag{Name: "release", Value: "my-otel-demo", Usage: "Helm release name", EnvVars: env("release")},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the commands svcgraph runs and more detail", EnvVars: env("verbose")},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json (one event per line)", EnvVars: env("output")},
		&cli.DurationFlag{Name: "request-timeout", Value: kube.DefaultRequestTimeout, Usage: "how long the Kubernetes API server may take to answer one request (0: no limit); watches and port-forwards only have to start within it", EnvVars: env("request-timeout")},
	}
}

// chartFlags choose and change the charts: `up` and `render` take them.
func chartFlags() []cli.Flag {
	return concat([]cli.Flag{
		&cli.StringFlag{Name: "demo-version", Usage: "opentelemetry-demo chart version, or latest (default " + chartmod.DefaultDemoVersion + "; `svcgraph versions` lists them)", EnvVars: env("demo-version")},
		&cli.StringFlag{Name: "tempo-version", Usage: "tempo-distributed chart version, or latest (default " + chartmod.DefaultTempoVersion + ")", EnvVars: env("tempo-version")},
	}, repoFlags(), []cli.Flag{
		&cli.StringSliceFlag{Name: "values", Aliases: []string{"f"}, Usage: "values file applied on top of the patched chart, as with helm (repeatable)", EnvVars: env("values")},
		&cli.StringSliceFlag{Name: "set", Usage: "set a value on top of the patched chart, key=value as with helm (repeatable)", EnvVars: env("set")},
		&cli.StringFlag{Name: "preset", Value: chartmod.PresetFull, Usage: "full (the charts' own services) or lite (a smaller demo that still draws the service graph; minikube 2 CPUs and 4G unless --cpus/--memory say otherwise)", EnvVars: env("preset")},
	})
}

// repoFlags name the chart repositories: `up`, `render` and `versions` take them.
func repoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "demo-repo", Usage: "Helm repository URL of opentelemetry-demo (default: the OpenTelemetry repository)", EnvVars: env("demo-repo")},
		&cli.StringFlag{Name: "tempo-repo", Usage: "Helm repository URL of tempo-distributed (default: the grafana-community repository)", EnvVars: env("tempo-repo")},
	}
}

// sizeFlags size the minikube profile: `up` creates it with them, `render --check-only` checks
// the release against a profile of that size.
func sizeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "cpus", Value: 4, Usage: "CPUs for the minikube profile (--preset lite: 2)", EnvVars: env("cpus")},
		&cli.StringFlag{Name: "memory", Value: "8G", Usage: "memory for the minikube profile, as minikube takes it (8G, 8192mb, 8192; --preset lite: 4G)", EnvVars: env("memory")},
	}
}

// offlineFlag makes a command use only svcgraph's cache: `up` and `images` take it.
func offlineFlag() cli.Flag {
	return &cli.BoolFlag{Name: "offline", Usage: "no network: charts and images only from svcgraph's cache (fill it with `svcgraph prepare`), every image pulled IfNotPresent", EnvVars: env("offline")}
}

// prepareFlags are `svcgraph prepare`'s own.
func prepareFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "platform of the minikube nodes the images are for: linux/amd64 or linux/arm64 (default: this machine's)", EnvVars: env("platform")},
		&cli.StringSliceFlag{Name: "registry-mirror", Usage: "pull REGISTRY's images through a mirror, REGISTRY=URL (repeatable), e.g. docker.io=https://mirror.gcr.io", EnvVars: env("registry-mirror")},
		&cli.IntFlag{Name: "workers", Value: images.DefaultWorkers, Usage: "image blobs downloaded at once", EnvVars: env("workers")},
		&cli.StringFlag{Name: "bundle", Usage: "also write the charts and images into this one file, for laptops without a network", EnvVars: env("bundle")},
		&cli.StringFlag{Name: "from-bundle", Usage: "import a bundle written by `svcgraph prepare --bundle` instead of pulling (no network)", EnvVars: env("from-bundle")},
	}
}

func forwardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "port", Value: 8080, Usage: "local port for the frontend proxy (webstore, Grafana, Jaeger)", EnvVars: env("port")},
		&cli.StringFlag{Name: "address", Value: "127.0.0.1", Usage: "local address to listen on; anything but loopback exposes the demo to your network", EnvVars: env("address")},
	}
}

func upFlags() []cli.Flag {
	return concat(chartFlags(), forwardFlags(), sizeFlags(), []cli.Flag{
		&cli.StringFlag{Name: "driver", Usage: "minikube driver (default: minikube's choice)", EnvVars: env("driver")},
		&cli.StringFlag{Name: "storage-class", Usage: "StorageClass for the volume claims of Tempo's components (default: the cluster's default class; without one, Tempo keeps its data in emptyDirs)", EnvVars: env("storage-class")},
		&cli.DurationFlag{Name: "timeout", Value: 15 * time.Minute, Usage: "how long to wait for the install and for every pod to be ready", EnvVars: env("timeout")},
		&cli.BoolFlag{Name: "detach", Usage: "forward in the background and return; svcgraph down stops the forwarder", EnvVars: env("detach")},
		&cli.BoolFlag{Name: "no-forward", Usage: "do not port-forward the frontend proxy", EnvVars: env("no-forward")},
		&cli.BoolFlag{Name: "no-verify", Usage: "skip the last step, which waits until Tempo's service graph has edges and shows the busiest", EnvVars: env("no-verify")},
		&cli.DurationFlag{Name: "graph-timeout", Value: steps.DefaultGraphTimeout, Usage: "how long up waits for the service graph before it runs the doctor", EnvVars: env("graph-timeout")},
		// --verify was the opt-in before the check became the default; kept so old scripts still run.
		&cli.BoolFlag{Name: "verify", Hidden: true, Usage: "no effect: up verifies the service graph unless --no-verify"},
		offlineFlag(),
	})
}

func concat(lists ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

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

// config turns the flags of the running command into one Config.
func config(c *cli.Context) (steps.Config, error) {
	cfg := steps.Config{
		Kubeconfig:      c.String("kubeconfig"),
		Profile:         c.String("profile"),
		Context:         c.String("context"),
		Namespace:       c.String("namespace"),
		Release:         c.String("release"),
		Verbose:         c.Bool("verbose"),
		RequestTimeout:  c.Duration("request-timeout"),
		CPUs:            c.Int("cpus"),
		Driver:          c.String("driver"),
		StorageClass:    c.String("storage-class"),
		DemoVersion:     c.String("demo-version"),
		TempoVersion:    c.String("tempo-version"),
		DemoRepo:        c.String("demo-repo"),
		TempoRepo:       c.String("tempo-repo"),
		ValuesFiles:     c.StringSlice("values"),
		SetValues:       c.StringSlice("set"),
		Timeout:         c.Duration("timeout"),
		Address:         c.String("address"),
		Port:            c.Int("port"),
		Detach:          c.Bool("detach"),
		NoForward:       c.Bool("no-forward"),
		NoVerify:        c.Bool("no-verify"),
		GraphTimeout:    c.Duration("graph-timeout"),
		StopCluster:     c.Bool("stop"),
		Preset:          c.String("preset"),
		CheckOnly:       c.Bool("check-only"),
		PurgeCluster:    c.Bool("purge"),
		Helm:            helmcli.New(),
		Offline:         c.Bool("offline"),
		Platform:        c.String("platform"),
		RegistryMirrors: c.StringSlice("registry-mirror"),
		Workers:         c.Int("workers"),
		Bundle:          c.String("bundle"),
		FromBundle:      c.String("from-bundle"),
		Version:         version,
	}
	if cfg.Platform == "" {
		cfg.Platform = images.HostPlatform(runtime.GOARCH).String()
	}
	if cfg.Output = c.String("output"); cfg.Output != "text" && cfg.Output != "json" {
		return cfg, reason.New(reason.Usage, "Use --output text or --output json.", "unknown --output %q", cfg.Output)
	}
	memory := c.String("memory")
	// The lite preset fits a smaller profile: it is the default size unless one is given.
	if cfg.Preset == chartmod.PresetLite {
		if !c.IsSet("cpus") {
			cfg.CPUs = liteCPUs
		}
		if !c.IsSet("memory") {
			memory = liteMemory
		}
	}
	if m := memory; m != "" {
		mb, err := minikube.ParseMemory(m)
		if err != nil {
			return cfg, reason.Wrap(reason.Usage, err, "Use a size such as --memory 8G or --memory 8192mb.", "bad --memory")
		}
		cfg.MemoryMB = mb
	}
	if cfg.RequestTimeout < 0 {
		return cfg, reason.New(reason.Usage, "Use a duration such as --request-timeout 30s, or 0 for no limit.", "--request-timeout %s is negative", cfg.RequestTimeout)
	}
	var err error
	if cfg.CacheDir, err = os.UserCacheDir(); err != nil {
		return cfg, reason.Wrap(reason.Usage, err, "Set HOME (or XDG_CACHE_HOME) so svcgraph has a cache directory.", "no cache directory")
	}
	cfg.CacheDir = filepath.Join(cfg.CacheDir, "svcgraph")
	cfg.StateDir = stateDir(cfg.CacheDir)
	checks := []func() error{cfg.Validate}
	if hasFlag(c.Command, "memory") {
		checks = append(checks, cfg.ValidateSize)
	}
	if hasFlag(c.Command, "port") {
		checks = append(checks, cfg.ValidatePort, cfg.ValidateAddress)
	}
	if hasFlag(c.Command, "workers") {
		checks = append(checks, cfg.ValidateWorkshop)
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// hasFlag says whether the command takes the flag, so only what it uses is validated.
func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// stateDir follows XDG_STATE_HOME where it is set, else keeps state beside the cache.
func stateDir(cacheDir string) string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "svcgraph")
	}
	if home, err := os.UserHomeDir(); err == nil && runtime.GOOS != "windows" {
		return filepath.Join(home, ".local", "state", "svcgraph")
	}
	return filepath.Join(cacheDir, "state")
}

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
		HostMemoryMB: hostMemoryMB,
		HostCPUs:     hostCPUs,
		GOOS:         runtime.GOOS,
	}
}

// hostCPUs counts the CPUs this process may run on, as Docker counts them for the NCPU that
// minikube's docker driver checks; its VM drivers count all of the host's, which is never fewer.
func hostCPUs() (int, bool) { return runtime.NumCPU(), true }

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
