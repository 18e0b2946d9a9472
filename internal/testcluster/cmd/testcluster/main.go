//go:build linux

// Command testcluster builds, starts and stops the loopback test cluster. Run it through
// scripts/testcluster, which builds it and passes --repo-root:
//
//	eval "$(scripts/testcluster up [--forward-to HOST:PORT] [--forward PORT=HOST:PORT ...])"
//	scripts/testcluster status | env | down
//
// up prints only shell lines on stdout; everything else goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gofrs/flock"

	"github.com/svcgraph/svcgraph/internal/testcluster/harness"
)

const usage = `usage: testcluster [--repo-root DIR] COMMAND
  up [--forward-to HOST:PORT] [--forward PORT=HOST:PORT ...]
     [--nodes N] [--node-cpus 4] [--node-memory 8Gi] [--node-arch amd64]
     [--node NAME[:cpus=C,memory=M,arch=A,label=K=V,...] ...]
                 build what is missing, start the cluster (or update the forward rules of a
                 running one with the same nodes) and print shell lines for eval. The nodes
                 are N alike (minikube, minikube-m02, ...; default one of 4 CPUs and 8Gi), or
                 each --node in turn
  down           stop every component; logs stay in the state directory
  status         show the components; exit 1 unless the cluster is ready
  env            print the shell lines for a running cluster
environment: SVCGRAPH_TESTCLUSTER_DIR (state, default /tmp/svcgraph-testcluster),
             SVCGRAPH_TESTCLUSTER_CACHE (binaries, default ~/.cache/svcgraph-testcluster)
`

type forwardFlags []harness.Forward

func (f *forwardFlags) String() string { return fmt.Sprint(*f) }
func (f *forwardFlags) Set(s string) error {
	fw, err := harness.ParseForward(s)
	if err != nil {
		return err
	}
	*f = append(*f, fw)
	return nil
}

type nodeFlags []harness.Node

func (f *nodeFlags) String() string { return fmt.Sprint(*f) }
func (f *nodeFlags) Set(s string) error {
	n, err := harness.ParseNode(s)
	if err != nil {
		return err
	}
	*f = append(*f, n)
	return nil
}

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	global := flag.NewFlagSet("testcluster", flag.ContinueOnError)
	global.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	repoRoot := global.String("repo-root", ".", "repository root (where scripts/testcluster-tools is)")
	if err := global.Parse(args); err != nil {
		return err
	}
	if global.NArg() == 0 {
		global.Usage()
		return errors.New("no command")
	}
	layout := harness.Layout{Dir: envOr("SVCGRAPH_TESTCLUSTER_DIR", "/tmp/svcgraph-testcluster")}
	var err error
	if layout.Dir, err = filepath.Abs(layout.Dir); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := global.Arg(0), global.Args()[1:]
	if cmd == "up" || cmd == "down" {
		// One up or down at a time per state directory: tests and people share it.
		if err := os.MkdirAll(layout.Dir, 0o755); err != nil {
			return err
		}
		lock := flock.New(layout.LockFile())
		if err := lock.Lock(); err != nil {
			return err
		}
		defer lock.Unlock()
	}
	switch cmd {
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		forwardTo := fs.String("forward-to", "", "send every pod port-forward to HOST:PORT")
		var forwards forwardFlags
		fs.Var(&forwards, "forward", "send pod port PORT to HOST:PORT (repeatable; wins over --forward-to)")
		count := fs.Int("nodes", 1, "number of alike nodes")
		cpus := fs.String("node-cpus", harness.DefaultNodeCPUs, "CPUs of each node (a quantity: 2, 1500m)")
		memory := fs.String("node-memory", harness.DefaultNodeMemory, "memory of each node (a quantity: 4Gi, 4096Mi)")
		arch := fs.String("node-arch", harness.DefaultNodeArch, "architecture of each node (kubernetes.io/arch)")
		var nodes nodeFlags
		fs.Var(&nodes, "node", "one node, NAME[:cpus=C,memory=M,arch=A,label=K=V,...] (repeatable; instead of --nodes)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("up takes no arguments, got %q", fs.Args())
		}
		alike := false
		fs.Visit(func(f *flag.Flag) { alike = alike || strings.HasPrefix(f.Name, "node-") || f.Name == "nodes" })
		if len(nodes) > 0 && alike {
			return errors.New("--node lists each node: it does not go with --nodes, --node-cpus, --node-memory or --node-arch")
		}
		if len(nodes) == 0 {
			if *count < 1 {
				return fmt.Errorf("--nodes %d: the cluster needs at least one node", *count)
			}
			nodes = harness.UniformNodes(*count, *cpus, *memory, *arch)
		}
		o := harness.Options{Dir: layout.Dir, RepoRoot: *repoRoot, Forwards: forwards, Nodes: nodes, Progress: os.Stderr}
		if *forwardTo != "" {
			t, err := harness.ParseTarget(*forwardTo)
			if err != nil {
				return err
			}
			o.ForwardTo = &t
		}
		if o.CacheDir, err = cacheDir(); err != nil {
			return err
		}
		if o.Self, err = os.Executable(); err != nil {
			return err
		}
		env, err := harness.Up(ctx, o)
		if err != nil {
			return err
		}
		fmt.Print(env.ShellLines())
		return nil
	case "down":
		return harness.Down(layout, os.Stderr)
	case "status":
		return harness.Status(ctx, layout, os.Stdout)
	case "env":
		if err := harness.Status(ctx, layout, &strings.Builder{}); err != nil {
			return err
		}
		fmt.Print(harness.Env{Layout: layout}.ShellLines())
		return nil
	case "provisioner": // started by up as a supervised component
		fs := flag.NewFlagSet("provisioner", flag.ContinueOnError)
		dir := fs.String("dir", layout.Dir, "state directory")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return harness.Provision(ctx, harness.Layout{Dir: *dir}, os.Stderr)
	default:
		global.Usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func cacheDir() (string, error) {
	if v := os.Getenv("SVCGRAPH_TESTCLUSTER_CACHE"); v != "" {
		return filepath.Abs(v)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "svcgraph-testcluster"), nil
}
