// Package e2e runs the svcgraph binary as a user would: a real process with real kubectl and helm
// on PATH, the minikube double standing in for minikube, the fixture chart repositories served
// over HTTP on 127.0.0.1, and the loopback Kubernetes cluster of scripts/testcluster behind it.
// Tests check the outcome in the cluster (client-go, Helm's release storage), never by trusting
// svcgraph's own words alone.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/minikubetest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// The binaries under test, built once per `go test` run on first use, so a run that skips every
// test (no cluster, no fixtures) builds nothing.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	minikubetest.Cleanup()
	os.Exit(code)
}

// envBuilt names, in a child process of a test (internal/faultydir's), the directory of the
// binaries its parent built, so the child does not build them again.
const envBuilt = "SVCGRAPH_E2E_BUILT"

// binaries builds svcgraph, the minikube double and peakrss (the benchmarks' peak RSS meter),
// once, and returns the paths of the first two (peakRSSTool gives the third).
func binaries(t *testing.T) (svcgraph, minikube string) {
	t.Helper()
	buildOnce.Do(func() {
		if os.Getenv(envBuilt) != "" {
			return // the parent's, which it removes
		}
		dir, err := os.MkdirTemp("", "svcgraph-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		for _, b := range [][2]string{{"svcgraph", "."}, {"minikube", "./e2e/minikube-double"}, {"peakrss", "./e2e/peakrss"}} {
			start := time.Now()
			cmd := exec.Command(minikubetest.GoTool(), "build", "-o", filepath.Join(dir, b[0]), b[1])
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build -o %s %s: %v\n%s", filepath.Join(dir, b[0]), b[1], err, out)
				return
			}
			fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", b[0], time.Since(start).Round(100*time.Millisecond))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binaries under test: %v", buildErr)
	}
	dir := buildDir
	if dir == "" {
		dir = os.Getenv(envBuilt)
	}
	return filepath.Join(dir, "svcgraph"), filepath.Join(dir, "minikube")
}

// shareBinaries builds the binaries here and hands them to the child processes this test starts.
func shareBinaries(t *testing.T) {
	t.Helper()
	svcgraph, _ := binaries(t)
	t.Setenv(envBuilt, filepath.Dir(svcgraph))
}

func peakRSSTool(t *testing.T) string {
	svcgraph, _ := binaries(t)
	return filepath.Join(filepath.Dir(svcgraph), "peakrss")
}

// world is one test's user: a home, caches, a kubeconfig, a minikube double state, a PATH, the
// chart repositories, and unique names in the shared cluster.
type world struct {
	cluster *testcluster.Cluster
	repo    *chartrepo.Server

	dir        string
	bin        string // the only PATH entry
	svcgraph   string // bin/svcgraph
	home       string
	kubeconfig string
	// sourceKubeconfig is the cluster the minikube double hands out on `start`.
	sourceKubeconfig string
	mkState          string
	mkLog            string
	stateDir         string // svcgraph's state: $XDG_STATE_HOME/svcgraph
	extraEnv         []string

	Profile, Namespace, Release string
	Port                        int
	target                      []string // --context NAME for a world on an existing context

	mu         sync.Mutex
	transcript strings.Builder
}

type worldOption func(*worldConfig)

type worldConfig struct {
	without  map[string]bool // tools left off PATH
	env      []string
	minikube string               // the program on PATH as minikube; "" is the double
	docker   *minikubetest.Docker // what the fake docker on PATH reports; nil: no docker
	qemu     bool                 // a qemu-system-x86_64 on PATH, so the double finds the qemu2 driver
	nodes    []testcluster.Node   // set: a private cluster of these nodes instead of the shared one
}

// onNodes gives the world a private cluster of its own with these nodes (about 15 s more), whose
// nodes the minikube double resizes as a new profile's would be.
func onNodes(nodes ...testcluster.Node) worldOption {
	return func(c *worldConfig) { c.nodes = nodes }
}

// without leaves a tool (kubectl, helm, minikube) off PATH.
func without(tool string) worldOption {
	return func(c *worldConfig) { c.without[tool] = true }
}

// withEnv adds KEY=VALUE to every svcgraph process of the world.
func withEnv(kv ...string) worldOption {
	return func(c *worldConfig) { c.env = append(c.env, kv...) }
}

// withRealMinikube puts a real minikube binary on PATH instead of the double, kept off the
// network (minikubetest.Offline) with its log files in the world's own TMPDIR.
func withRealMinikube(bin string) worldOption {
	return func(c *worldConfig) { c.minikube = bin }
}

// withDocker sets what the fake docker reports; nil leaves docker off PATH.
func withDocker(d *minikubetest.Docker) worldOption {
	return func(c *worldConfig) { c.docker = d }
}

// withQEMU puts a qemu-system-x86_64 on PATH: the double, like minikube, then finds the qemu2
// driver installed (a VM driver, whose node reports the profile's --cpus and --memory).
func withQEMU() worldOption {
	return func(c *worldConfig) { c.qemu = true }
}

// newWorld needs the loopback cluster and the fixture charts; without either the test is skipped
// loudly (or fails under CI=true when the cluster is missing). Its user has a working Docker
// engine (the fake docker: 4 CPUs, 16 GiB) and, for the double, is not root.
func newWorld(t *testing.T, name string, opts ...worldOption) *world {
	t.Helper()
	cfg := defaultWorldConfig()
	for _, o := range opts {
		o(&cfg)
	}
	var cl *testcluster.Cluster
	if cfg.nodes != nil {
		cl = testcluster.Private(t, cfg.nodes...)
		// A new profile's nodes report what a real minikube node of its driver and size would;
		// only on a private cluster, since it changes the nodes other tests share otherwise.
		cfg.env = append(cfg.env, "MINIKUBE_DOUBLE_SIZE_NODES=true")
	} else {
		cl = testcluster.Require(t)
	}
	charts := chartrepo.Dir(t)
	w := newBareWorld(t, name, cl.Kubeconfig, cfg, map[string]string{
		"kubectl": filepath.Join(cl.Layout.BinDir(), "kubectl"),
		"helm":    filepath.Join(cl.Layout.BinDir(), "helm"),
	})
	w.cluster, w.repo = cl, chartrepo.Serve(t, charts)
	return w
}

// defaultWorldConfig is a world as most tests want it: every tool on PATH and a docker engine
// (the fake one) with room for minikube's defaults, run as a regular user.
func defaultWorldConfig() worldConfig {
	return worldConfig{without: map[string]bool{}, docker: &minikubetest.Docker{CPUs: 4, MemoryMB: 16384}}
}

// newBareWorld is a world without the loopback cluster and chart repositories: svcgraph and the
// minikube double (plus tools) on PATH, the double handing out sourceKubeconfig's cluster.
func newBareWorld(t *testing.T, name, sourceKubeconfig string, cfg worldConfig, tools map[string]string) *world {
	t.Helper()
	svcgraph, minikube := binaries(t)
	dir := t.TempDir()
	if cfg.minikube != "" {
		minikube = cfg.minikube
	}
	w := &world{
		dir:              dir,
		bin:              filepath.Join(dir, "bin"),
		home:             filepath.Join(dir, "home"),
		kubeconfig:       filepath.Join(dir, "home", ".kube", "config"),
		sourceKubeconfig: sourceKubeconfig,
		mkState:          filepath.Join(dir, "minikube-double"),
		mkLog:            filepath.Join(dir, "minikube-double.log"),
		stateDir:         filepath.Join(dir, "state", "svcgraph"),
		extraEnv:         append(worldEnv(t, cfg, dir), cfg.env...),
		Profile:          "svcgraph",
		// Unique per test: the cluster is shared with other packages' tests and other runs.
		Namespace: "e2e-" + name + "-" + rand.String(5),
		// The demo's cluster-scoped objects (ClusterRoles, …) are named after the release, so two
		// releases of one name in two namespaces would collide.
		Release: "e2e" + rand.String(5),
		Port:    freePort(t),
	}
	for _, d := range []string{w.bin, w.home, filepath.Dir(w.kubeconfig), w.mkState} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tools["svcgraph"], tools["minikube"] = svcgraph, minikube
	if cfg.docker != nil {
		tools["docker"] = minikubetest.FakeDocker(t)
	}
	for name, target := range tools {
		if cfg.without[name] {
			continue
		}
		if _, err := os.Stat(target); err != nil {
			t.Fatalf("%s for PATH: %v (scripts/testcluster up links kubectl and helm into its bin directory)", name, err)
		}
		if err := os.Symlink(target, filepath.Join(w.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.qemu {
		// The double only looks it up on PATH; it is never run.
		qemu := "#!/bin/sh\necho 'QEMU emulator version 8.2.2'\n"
		if err := os.WriteFile(filepath.Join(w.bin, "qemu-system-x86_64"), []byte(qemu), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.svcgraph = filepath.Join(w.bin, "svcgraph")
	t.Cleanup(func() {
		if t.Failed() {
			w.dumpState(t)
		}
	})
	return w
}

// worldEnv is the environment the world's minikube and docker need.
func worldEnv(t *testing.T, cfg worldConfig, dir string) []string {
	var env []string
	if cfg.docker != nil {
		env = cfg.docker.Env()
	}
	if cfg.minikube == "" {
		// The tests run as root, which real minikube refuses; the double plays a regular user.
		return append(env, "MINIKUBE_DOUBLE_ROOT=false")
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	return append(append(env, "TMPDIR="+tmp), minikubetest.Offline()...)
}

// environ is the whole environment of a svcgraph process: nothing leaks in from the test's own.
func (w *world) environ() []string {
	env := []string{
		"PATH=" + w.bin,
		"HOME=" + w.home,
		"USER=e2e",
		"TMPDIR=" + os.TempDir(),
		// A terminal type that wants colour: the output must still be plain, because stdout is a pipe.
		"TERM=xterm-256color",
		"XDG_CACHE_HOME=" + filepath.Join(w.dir, "cache"),
		"XDG_STATE_HOME=" + filepath.Join(w.dir, "state"),
		"XDG_CONFIG_HOME=" + filepath.Join(w.dir, "config"),
		"HELM_CONFIG_HOME=" + filepath.Join(w.dir, "helm", "config"),
		"HELM_CACHE_HOME=" + filepath.Join(w.dir, "helm", "cache"),
		"HELM_DATA_HOME=" + filepath.Join(w.dir, "helm", "data"),
		"KUBECONFIG=" + w.kubeconfig,
		"MINIKUBE_DOUBLE_STATE=" + w.mkState,
		"MINIKUBE_DOUBLE_SOURCE_KUBECONFIG=" + w.sourceKubeconfig,
		"MINIKUBE_DOUBLE_LOG=" + w.mkLog,
	}
	if w.repo != nil {
		env = append(env, "SVCGRAPH_DEMO_REPO="+w.repo.RepoURL("open-telemetry"), "SVCGRAPH_TEMPO_REPO="+w.repo.RepoURL("grafana-community"))
	}
	return append(env, w.extraEnv...)
}

// names are the flags that put a command on this world's namespace and release.
func (w *world) names() []string {
	return append([]string{"--namespace", w.Namespace, "--release", w.Release}, w.target...)
}

// upArgs is `up` with this world's names, port and a generous timeout, then extra flags. It skips
// the service-graph check (no Prometheus with traffic behind these installs); graph_test.go opts back in.
// --cpus 2: preflight refuses more CPUs than the host has, and test machines may have only 2.
func (w *world) upArgs(extra ...string) []string {
	return append(append([]string{"up"}, w.names()...), append([]string{"--port", strconv.Itoa(w.Port), "--timeout", "10m", "--no-verify", "--cpus", "2"}, extra...)...)
}

// teardown runs `svcgraph down` for a world whose test may have left an install, a namespace or
// a background forwarder behind, and kills the forwarder if down could not.
func (w *world) teardown(t *testing.T) {
	t.Helper()
	_, pidErr := os.Stat(w.pidFile())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, nsErr := w.cluster.Client.CoreV1().Namespaces().Get(ctx, w.Namespace, metav1.GetOptions{})
	cancel()
	if pidErr != nil && apierrors.IsNotFound(nsErr) {
		return
	}
	r := w.run(t, 5*time.Minute, append([]string{"down"}, w.names()...)...)
	if r.code != 0 {
		t.Errorf("cleanup: svcgraph down exited %d\n%s", r.code, r)
	}
	if pid := w.forwarderPID(); pid > 0 && !processGone(pid) {
		t.Logf("cleanup: killing leftover forwarder pid %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// forwarderPID reads the background forwarder's pid from its pid file; 0 when there is none.
func (w *world) forwarderPID() int {
	var rec struct {
		PID int `json:"pid"`
	}
	data, err := os.ReadFile(w.pidFile())
	if err != nil || json.Unmarshal(data, &rec) != nil {
		return 0
	}
	return rec.PID
}

// dumpState prints, for a failed test, every svcgraph run, the double's log and the forwarder logs.
func (w *world) dumpState(t *testing.T) {
	var b strings.Builder
	w.mu.Lock()
	b.WriteString(w.transcript.String())
	w.mu.Unlock()
	if data, err := os.ReadFile(w.mkLog); err == nil {
		fmt.Fprintf(&b, "----- minikube double log -----\n%s", data)
	}
	logs, _ := filepath.Glob(filepath.Join(w.stateDir, "forward-*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "----- %s -----\n%s", l, data)
	}
	if w.repo != nil {
		fmt.Fprintf(&b, "----- chart repository requests -----\n%s\n", strings.Join(w.repo.Requests(), "\n"))
	}
	t.Logf("e2e transcript (namespace %s, release %s, port %d):\n%s", w.Namespace, w.Release, w.Port, b.String())
}
