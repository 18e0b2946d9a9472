// Package e2e runs the svcgraph binary as a user would: a real process with real kubectl and helm
// on PATH, the minikube double standing in for minikube, the fixture chart repositories served
// over HTTP on 127.0.0.1, and the loopback Kubernetes cluster of scripts/testcluster behind it.
// Tests check the outcome in the cluster (client-go, Helm's release storage), never by trusting
// svcgraph's own words alone.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
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
	os.Exit(code)
}

// goTool finds the go command: on PATH, else beside the running toolchain's GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// binaries builds svcgraph and the minikube double (once) and returns their paths.
func binaries(t *testing.T) (svcgraph, minikube string) {
	t.Helper()
	buildOnce.Do(func() {
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
		for _, b := range [][2]string{{"svcgraph", "."}, {"minikube", "./e2e/minikube-double"}} {
			start := time.Now()
			cmd := exec.Command(goTool(), "build", "-o", filepath.Join(dir, b[0]), b[1])
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
	return filepath.Join(buildDir, "svcgraph"), filepath.Join(buildDir, "minikube")
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
	mkState    string
	mkLog      string
	stateDir   string // svcgraph's state: $XDG_STATE_HOME/svcgraph
	extraEnv   []string

	Profile, Namespace, Release string
	Port                        int

	mu         sync.Mutex
	transcript strings.Builder
}

type worldOption func(*worldConfig)

type worldConfig struct {
	without map[string]bool // tools left off PATH
	env     []string
	nodes   []testcluster.Node // set: a private cluster of these nodes instead of the shared one
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

// newWorld needs the loopback cluster and the fixture charts; without either the test is skipped
// loudly (or fails under CI=true when the cluster is missing).
func newWorld(t *testing.T, name string, opts ...worldOption) *world {
	t.Helper()
	cfg := worldConfig{without: map[string]bool{}}
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
	svcgraph, minikube := binaries(t)

	dir := t.TempDir()
	w := &world{
		cluster:    cl,
		repo:       chartrepo.Serve(t, charts),
		dir:        dir,
		bin:        filepath.Join(dir, "bin"),
		home:       filepath.Join(dir, "home"),
		kubeconfig: filepath.Join(dir, "home", ".kube", "config"),
		mkState:    filepath.Join(dir, "minikube-double"),
		mkLog:      filepath.Join(dir, "minikube-double.log"),
		stateDir:   filepath.Join(dir, "state", "svcgraph"),
		extraEnv:   cfg.env,
		Profile:    "svcgraph",
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
	tools := map[string]string{
		"svcgraph": svcgraph,
		"minikube": minikube,
		"kubectl":  filepath.Join(cl.Layout.BinDir(), "kubectl"),
		"helm":     filepath.Join(cl.Layout.BinDir(), "helm"),
	}
	for name, target := range tools {
		if cfg.without[name] {
			continue
		}
		if _, err := os.Stat(target); err != nil {
			t.Fatalf("%s for PATH: %v (scripts/testcluster up links kubectl and helm into %s)", name, err, cl.Layout.BinDir())
		}
		if err := os.Symlink(target, filepath.Join(w.bin, name)); err != nil {
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
		"MINIKUBE_DOUBLE_SOURCE_KUBECONFIG=" + w.cluster.Kubeconfig,
		"MINIKUBE_DOUBLE_LOG=" + w.mkLog,
		"SVCGRAPH_DEMO_REPO=" + w.repo.RepoURL("open-telemetry"),
		"SVCGRAPH_TEMPO_REPO=" + w.repo.RepoURL("grafana-community"),
	}
	return append(env, w.extraEnv...)
}

// names are the flags that put a command on this world's namespace and release.
func (w *world) names() []string {
	return []string{"--namespace", w.Namespace, "--release", w.Release}
}

// upArgs is `up` with this world's names, port and a generous timeout, then extra flags. It skips
// the service-graph check (no Prometheus with traffic behind these installs); graph_test.go opts back in.
func (w *world) upArgs(extra ...string) []string {
	return append(append([]string{"up"}, w.names()...), append([]string{"--port", strconv.Itoa(w.Port), "--timeout", "10m", "--no-verify"}, extra...)...)
}

type result struct {
	args           []string
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) output() string { return r.stdout + r.stderr }

func (r result) String() string {
	return fmt.Sprintf("$ svcgraph %s\n(exit %d after %s)\n--- stdout ---\n%s--- stderr ---\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

func (w *world) record(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.transcript.WriteString(s)
	w.transcript.WriteString("\n")
}

// run runs svcgraph to its end (at most limit) and returns what it printed and its exit code.
func (w *world) run(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	return w.runWhile(t, limit, nil, args...)
}

// runWhile is run with during called while the process runs: it gets the run's context and the
// process's exit (a channel that yields Wait's error once) and returns that error when it has
// received it, or leaves the channel to runWhile by returning errNotWaited.
func (w *world) runWhile(t *testing.T, limit time.Duration, during func(ctx context.Context, exited <-chan error) error, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.svcgraph, args...)
	cmd.Env = w.environ()
	cmd.Dir = w.dir
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	err := errNotWaited
	if during != nil {
		err = during(ctx, exited)
	}
	if err == errNotWaited {
		err = <-exited
	}
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		r.code = -1
		w.record(r.String())
		t.Fatalf("svcgraph %s: %v (limit %s)\n%s", strings.Join(args, " "), err, limit, r)
	}
	w.record(r.String())
	t.Logf("svcgraph %s: exit %d in %s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

// errNotWaited is what a runWhile callback returns when it did not take the process's exit.
var errNotWaited = errors.New("not waited for")

// expect checks the exit code and that the output is plain (no escape codes: stdout is a pipe).
func expect(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
	if i := strings.IndexByte(r.output(), 0x1b); i >= 0 {
		t.Errorf("output piped to a file contains an escape code at byte %d:\n%q", i, r.output())
	}
}

// stepLine returns the plain-mode line of a finished or failed step ("ok   Title (1.2s): result").
func stepLine(t *testing.T, r result, title string) string {
	t.Helper()
	for _, l := range strings.Split(r.stdout, "\n") {
		if (strings.HasPrefix(l, "ok   ") || strings.HasPrefix(l, "FAIL ")) && strings.HasPrefix(l[5:], title+" (") {
			return l
		}
	}
	t.Fatalf("no line for step %q in the output\n%s", title, r)
	return ""
}

// mustContain fails unless every piece appears in the output.
func mustContain(t *testing.T, r result, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if !strings.Contains(r.output(), p) {
			t.Errorf("output lacks %q\n%s", p, r)
		}
	}
}

// minikubeCalls is the double's log: one line of argv per invocation.
func (w *world) minikubeCalls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(w.mkLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func countCalls(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// Cluster-side checks, through client-go and Helm's release storage.

func (w *world) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespaceExists says whether the world's namespace is in the API server (terminating or not).
func (w *world) namespaceExists(t *testing.T) bool {
	t.Helper()
	_, err := w.cluster.Client.CoreV1().Namespaces().Get(w.ctx(t), w.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("get namespace %s: %v", w.Namespace, err)
	}
	return true
}

// release reads the latest revision of the world's release from Helm's storage (Secrets in the
// namespace, as the Helm SDK and CLI keep them), or nil when there is none.
func (w *world) release(t *testing.T) *release.Release {
	t.Helper()
	st := storage.Init(driver.NewSecrets(w.cluster.Client.CoreV1().Secrets(w.Namespace)))
	rel, err := st.Last(w.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading release %s in %s: %v", w.Release, w.Namespace, err)
	}
	return rel
}

// helmSecrets lists Helm's storage Secrets of the release in the world's namespace.
func (w *world) helmSecrets(t *testing.T) []string {
	t.Helper()
	sel := labels.Set{"owner": "helm", "name": w.Release}.String()
	list, err := w.cluster.Client.CoreV1().Secrets(w.Namespace).List(w.ctx(t), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("list helm secrets: %v", err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

// clusterScoped lists the ClusterRoles and ClusterRoleBindings Helm created for the release.
func (w *world) clusterScoped(t *testing.T) []string {
	t.Helper()
	var out []string
	mine := func(m metav1.ObjectMeta) bool {
		return m.Annotations["meta.helm.sh/release-name"] == w.Release && m.Annotations["meta.helm.sh/release-namespace"] == w.Namespace
	}
	roles, err := w.cluster.Client.RbacV1().ClusterRoles().List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		if mine(r.ObjectMeta) {
			out = append(out, "ClusterRole/"+r.Name)
		}
	}
	bindings, err := w.cluster.Client.RbacV1().ClusterRoleBindings().List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		if mine(b.ObjectMeta) {
			out = append(out, "ClusterRoleBinding/"+b.Name)
		}
	}
	return out
}

// unchanged asserts that a failed command left no trace in the cluster.
func (w *world) unchanged(t *testing.T) {
	t.Helper()
	if w.namespaceExists(t) {
		t.Errorf("namespace %s exists after a failed up", w.Namespace)
	}
	if s := w.helmSecrets(t); len(s) > 0 {
		t.Errorf("Helm release storage exists after a failed up: %v", s)
	}
	if objs := w.clusterScoped(t); len(objs) > 0 {
		t.Errorf("cluster-scoped objects of release %s exist after a failed up: %v", w.Release, objs)
	}
}

// podsReady asserts that the namespace has pods and that every pod that serves (not a finished
// Job pod) is Ready; it returns how many there are.
func (w *world) podsReady(t *testing.T) int {
	t.Helper()
	pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serving := 0
	var notReady []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		serving++
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready || p.DeletionTimestamp != nil {
			notReady = append(notReady, fmt.Sprintf("%s (%s)", p.Name, p.Status.Phase))
		}
	}
	if serving == 0 {
		t.Fatalf("no pods in namespace %s", w.Namespace)
	}
	if len(notReady) > 0 {
		t.Errorf("%d of %d pods not ready: %s", len(notReady), serving, strings.Join(notReady, ", "))
	}
	return serving
}

// Forwarding.

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portClosed says whether nothing accepts connections on 127.0.0.1:port.
func portClosed(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// getUntil GETs url until it answers 200 with want as its body, or the deadline passes. kwok
// applies PortForward rules through a watch and gives no signal when it has, so the first
// requests may reach the old target: polling is the only way to see the rule take effect.
func getUntil(t *testing.T, url, want string, limit time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	var last string
	for attempt := 1; ; attempt++ {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && string(body) == want {
				t.Logf("GET %s: %q after %d attempt(s)", url, body, attempt)
				return
			}
			last = fmt.Sprintf("%s %q (read error %v)", resp.Status, body, rerr)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not return %q within %s; last answer: %s", url, want, limit, last)
		}
		time.Sleep(250 * time.Millisecond) // polling interval: kwok has no "rule applied" event
	}
}

// forwarderRecord is the pid file `up --detach` writes.
func (w *world) pidFile() string {
	return filepath.Join(w.stateDir, fmt.Sprintf("forward-%s-%s-%s.json", w.Profile, w.Namespace, w.Release))
}

// processGone says whether pid no longer runs. A zombie (exited, not yet reaped by whoever
// inherited the orphaned forwarder) counts as gone.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// /proc/PID/stat: "pid (comm) state …"; comm may contain spaces and parentheses.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// running is a svcgraph process the test talks to while it runs (to interrupt it, say), its
// stdout followed line by line.
type running struct {
	cmd     *exec.Cmd
	lines   *lineReader
	stderr  strings.Builder
	drained chan struct{}
}

// start runs svcgraph with args in the background until ctx ends; its output is recorded under
// label when the (sub)test ends.
func (w *world) start(t *testing.T, ctx context.Context, label string, args ...string) *running {
	t.Helper()
	p := &running{cmd: exec.CommandContext(ctx, w.svcgraph, args...), drained: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir, p.cmd.WaitDelay = w.environ(), w.dir, 10*time.Second
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.lines = newLineReader(stdout)
	t.Cleanup(func() {
		w.record(fmt.Sprintf("$ svcgraph %s (%s)\n--- stdout ---\n%s--- stderr ---\n%s",
			strings.Join(args, " "), label, p.lines, p.stderr.String()))
	})
	return p
}

// await waits for a line of stdout containing want, then keeps reading the rest so the process
// never blocks writing. If the line never comes, the process is killed and the test fails.
func (p *running) await(t *testing.T, want string, limit time.Duration, what string) {
	t.Helper()
	if !p.lines.waitLine(want, limit) {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		t.Fatalf("%s\n%s", what, p.output())
	}
	go func() { p.lines.drain(); close(p.drained) }()
}

// interrupt sends SIGINT (Ctrl-C), reads stdout to its end (the process closes it when it
// exits) before Wait closes the pipe, and returns the exit code and Wait's error.
func (p *running) interrupt(t *testing.T) (int, error) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.drained:
	case <-time.After(time.Minute):
		t.Errorf("svcgraph still runs a minute after Ctrl-C")
	}
	err := p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode(), err
}

func (p *running) output() string {
	return "--- stdout ---\n" + p.lines.String() + "--- stderr ---\n" + p.stderr.String()
}

// lineReader follows a running process's stdout line by line.
type lineReader struct {
	lines chan string
	all   strings.Builder
	mu    sync.Mutex
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 256)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.mu.Lock()
			lr.all.WriteString(sc.Text() + "\n")
			lr.mu.Unlock()
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

func (lr *lineReader) String() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.all.String()
}

// waitLine waits for a line containing want; false when the stream ends or the deadline passes.
func (lr *lineReader) waitLine(want string, limit time.Duration) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				return false
			}
			if strings.Contains(l, want) {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// drain consumes the remaining lines so the process never blocks writing.
func (lr *lineReader) drain() {
	for range lr.lines {
	}
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
	fmt.Fprintf(&b, "----- chart repository requests -----\n%s\n", strings.Join(w.repo.Requests(), "\n"))
	t.Logf("e2e transcript (namespace %s, release %s, port %d):\n%s", w.Namespace, w.Release, w.Port, b.String())
}
