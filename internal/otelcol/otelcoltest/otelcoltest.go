// Package otelcoltest runs the real OpenTelemetry Collectors that scripts/otelcol builds: the
// collector of a chart pair on the config svcgraph renders, the metrics-generator stand-in, and
// telemetrygen. The binaries come from SVCGRAPH_TEST_OTELCOL_DIR (`export
// SVCGRAPH_TEST_OTELCOL_DIR=$(scripts/otelcol)`; scripts/test does this). Without it a test is
// skipped loudly, or fails under CI=true.
package otelcoltest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/testenv"
)

// EnvDir names the variable with the directory scripts/otelcol prints.
const EnvDir = "SVCGRAPH_TEST_OTELCOL_DIR"

// Dir returns the directory of built collectors, or skips the test (fails it under CI=true).
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		testenv.Missing(t, "no OpenTelemetry Collector builds for the tests; run scripts/test, or export "+EnvDir+"=$(scripts/otelcol) and then go test")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("%s=%s: %v (scripts/otelcol prints a working directory)", EnvDir, dir, err)
	}
	return dir
}

// Binary returns the build NAME-VERSION (name "otelcol" or otelcol.MetricsGenerator). A build
// scripts/otelcol reported as impossible (a module the Go module proxy does not serve) skips the
// test with that reason, under CI=true too: no run can build it.
func Binary(t testing.TB, name, version string) string {
	t.Helper()
	dir := Dir(t)
	build := name + "-" + version
	if why, err := os.ReadFile(filepath.Join(dir, build+".unavailable")); err == nil {
		t.Skipf("SKIPPED: %s cannot be built here: %s(see README, scripts/otelcol)", build, why)
	}
	bin := filepath.Join(dir, build)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s has no %s: %v; run scripts/otelcol again (the charts may name another collector version now)", dir, build, err)
	}
	return bin
}

// Telemetrygen returns collector-contrib's load generator.
func Telemetrygen(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(Dir(t), "telemetrygen")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no telemetrygen: %v; run scripts/otelcol again", err)
	}
	return bin
}

var envRef = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}`)

// EnvRefs lists the environment variables a config references as ${env:NAME} or ${NAME}.
func EnvRefs(config string) []string {
	var names []string
	for _, m := range envRef.FindAllStringSubmatch(config, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// Env gives every variable in names a value, as the pod would: an address for *_IP (loopback),
// the kwok node's name for node names, a placeholder otherwise; values in set win.
func Env(names []string, set map[string]string) []string {
	var env []string
	for _, n := range names {
		v, ok := set[n]
		switch {
		case ok:
		case strings.HasSuffix(n, "_IP"):
			v = "127.0.0.1"
		case strings.Contains(n, "NODE_NAME"):
			v = "minikube"
		default:
			v = "svcgraph-test"
		}
		env = append(env, n+"="+v)
	}
	for n, v := range set {
		if !slices.Contains(names, n) {
			env = append(env, n+"="+v)
		}
	}
	return env
}

// Validate runs `otelcol validate` on the config with the given extra arguments (feature gates)
// and environment (on top of PATH and HOME only), and returns what it printed.
func Validate(t testing.TB, bin, config string, args, env []string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"validate", "--config=" + file}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s validate did not finish in 2 minutes:\n%s", bin, out.String())
	}
	return out.String(), err
}

// Process is a collector (or telemetrygen) running for a test.
type Process struct {
	Log  string // its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error { return p.err }

// Output is everything the process logged so far.
func (p *Process) Output() string {
	data, _ := os.ReadFile(p.Log)
	return string(data)
}

// Stop ends the process (SIGTERM, then SIGKILL after 20 s) and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Start runs argv with env (on top of PATH and HOME only), its output in a log file of the test,
// and stops it when the test ends (printing the log's tail if the test failed).
func Start(t testing.TB, label string, argv, env []string) *Process {
	t.Helper()
	log := filepath.Join(t.TempDir(), label+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", label, err)
	}
	p := &Process{Log: log, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", label, log, Tail(p.Output(), 40))
		}
	})
	return p
}

// WaitLog waits until the process has logged a line containing every piece of want, and returns
// that line. It fails the test when the process exits first or limit passes.
func (p *Process) WaitLog(t testing.TB, limit time.Duration, want ...string) string {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
	lines:
		for _, l := range strings.Split(p.Output(), "\n") {
			for _, w := range want {
				if !strings.Contains(l, w) {
					continue lines
				}
			}
			return l
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before logging %q:\n%s", p.cmd.Path, p.err, want, Tail(p.Output(), 40))
		case <-deadline.C:
			t.Fatalf("%s did not log %q within %s:\n%s", p.cmd.Path, want, limit, Tail(p.Output(), 40))
		case <-tick.C:
		}
	}
}

// Ready is the line the collector logs once every pipeline has started.
const Ready = "Everything is ready. Begin running and processing data."

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
