//go:build bench

// The benchmark of issue 5, run by scripts/bench (never by `go test ./...`: it needs -tags bench).
// It measures svcgraph against what a user would otherwise run (the real helm and kubectl of the
// loopback cluster's bin dir) on the same cluster, alternating A and B, and writes a Markdown
// table to $BENCH_OUT (and the test log).

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"helm.sh/helm/v3/pkg/chartutil"
	helmcli "helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
)

// benchRun is one timed process (or a sequence of processes, for helm then kubectl).
type benchRun struct {
	took   time.Duration
	maxRSS int64 // KiB, the last process's own peak RSS (e2e/peakrss); 0 when unknown
}

// timed runs one process with the world's environment and returns its wall time and peak RSS.
// A non-zero exit fails the benchmark: a figure from a failed run means nothing. The process is
// started by peakrss, whose report is the process's own peak: this test process's wait4 would
// give max(this process, the child) (e2e/peakrss says why). The wall time includes peakrss's
// start, about a millisecond.
func (w *world) timed(t *testing.T, limit time.Duration, name string, args ...string) benchRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join(w.bin, name)
	}
	rssFile := filepath.Join(t.TempDir(), "peakrss")
	cmd := exec.CommandContext(ctx, peakRSSTool(t), append([]string{rssFile, path}, args...)...)
	cmd.Env = w.environ()
	cmd.Dir = w.dir
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v after %s\n%s", name, strings.Join(args, " "), err, took, out.String())
	}
	r := benchRun{took: took}
	if data, err := os.ReadFile(rssFile); err == nil {
		r.maxRSS, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	var note []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "ok   ") { // svcgraph's step lines, with each step's own time
			note = append(note, l)
		}
	}
	t.Logf("%s %s: %s (maxrss %d KiB) %s", filepath.Base(name), strings.Join(args, " "), took.Round(time.Millisecond), r.maxRSS, strings.Join(note, " | "))
	return r
}

type series struct {
	name string
	runs []benchRun
}

func (s *series) add(r benchRun) { s.runs = append(s.runs, r) }

func (s *series) sorted() []time.Duration {
	d := make([]time.Duration, len(s.runs))
	for i, r := range s.runs {
		d[i] = r.took
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// row is a Markdown table row: name, n, median, min–max, all runs.
func (s *series) row() string {
	d := s.sorted()
	if len(d) == 0 {
		return fmt.Sprintf("| %s | 0 | – | – | – |", s.name)
	}
	var all []string
	for _, r := range s.runs {
		all = append(all, secs(r.took))
	}
	return fmt.Sprintf("| %s | %d | %s | %s–%s | %s |", s.name, len(d), secs(median(d)), secs(d[0]), secs(d[len(d)-1]), strings.Join(all, ", "))
}

func ratio(a, b *series) string {
	ma, mb := median(a.sorted()), median(b.sorted())
	if mb == 0 {
		return "–"
	}
	return strconv.FormatFloat(ma.Seconds()/mb.Seconds(), 'f', 3, 64)
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func benchRounds(t *testing.T, env string, def int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", env, v)
	}
	return n
}

// waitNamespaceGone polls until the namespace is deleted (not timed: cleanup between rounds).
func (w *world) waitNamespaceGone(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := w.cluster.Client.CoreV1().Namespaces().Get(ctx, w.Namespace, metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there after %s (last error %v)", w.Namespace, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// benchReport collects the benchmark's tables and writes them (to $BENCH_OUT and the log) after
// every section, so a run that fails half-way still leaves what it measured.
type benchReport struct {
	t        *testing.T
	out      string
	rows     []string // the timing table
	ratios   []string
	sections []string // further Markdown sections (forward, ready detection, stuck pod)
	rss      series
	loads    []string
}

func (r *benchReport) sampleLoad(when string) { r.loads = append(r.loads, when+": "+loadavg()) }

func (r *benchReport) flush() {
	var b strings.Builder
	b.WriteString("| measurement | n | median s | min–max s | all runs s (in order) |\n|---|---|---|---|---|\n")
	for _, row := range r.rows {
		b.WriteString(row + "\n")
	}
	b.WriteString("\nRatios (median A / median B):\n\n")
	for _, x := range r.ratios {
		b.WriteString("- " + x + "\n")
	}
	var maxRSS int64
	var all []string
	for _, run := range r.rss.runs {
		maxRSS = max(maxRSS, run.maxRSS)
		all = append(all, strconv.FormatInt(run.maxRSS/1024, 10))
	}
	if len(r.rss.runs) > 0 { // none in TestBenchZarf, which runs no up
		fmt.Fprintf(&b, "\nPeak RSS of `svcgraph up` (its own ru_maxrss, through e2e/peakrss): max %d MiB over %d runs (MiB: %s)\n", maxRSS/1024, len(r.rss.runs), strings.Join(all, ", "))
	}
	for _, sec := range r.sections {
		b.WriteString("\n" + sec + "\n")
	}
	fmt.Fprintf(&b, "\nLoad average (1/5/15 min) samples: %s\n", strings.Join(r.loads, "; "))
	r.t.Logf("benchmark so far:\n%s", b.String())
	if r.out != "" {
		if err := os.WriteFile(r.out, []byte(b.String()), 0o644); err != nil {
			r.t.Errorf("writing %s: %v", r.out, err)
		}
	}
}

// benchUp is `up --no-forward` for the benchmark (upArgs already skips the service-graph check:
// the loopback cluster has no Prometheus with traffic).
func (w *world) benchUp(extra ...string) []string {
	return w.upArgs(append([]string{"--no-forward"}, extra...)...)
}

func TestBench(t *testing.T) {
	warmN := benchRounds(t, "BENCH_WARM_ROUNDS", 5)
	coldN := benchRounds(t, "BENCH_COLD_ROUNDS", 5)
	renderN := benchRounds(t, "BENCH_RENDER_ROUNDS", 5)
	forwardN := benchRounds(t, "BENCH_FORWARD_ROUNDS", 5)
	readyN := benchRounds(t, "BENCH_READY_ROUNDS", 5)
	stuckN := benchRounds(t, "BENCH_STUCK_ROUNDS", 5)
	budgetN := benchRounds(t, "BENCH_BUDGET_ROUNDS", 5)
	presetN := benchRounds(t, "BENCH_PRESET_ROUNDS", 3)
	fitN := benchRounds(t, "BENCH_FIT_ROUNDS", 5)
	workshop := workshopSettings(t)

	w := newWorld(t, "bench")
	t.Cleanup(func() { w.teardown(t) })
	const limit = 15 * time.Minute
	rep := &benchReport{t: t, out: os.Getenv("BENCH_OUT")}
	rep.sampleLoad("start")

	up := w.benchUp()
	// The first install: not timed as a round, it fills the chart cache and creates the profile.
	first := w.timed(t, limit, "svcgraph", up...)
	t.Logf("first svcgraph up (empty caches): %s", first.took)
	rep.rss.add(first)

	// The same patched chart svcgraph installs, built by chartmod from the same repositories in a
	// scratch Helm home (the release's stored chart lacks its subcharts), and the release's values.
	rel := w.release(t)
	if rel == nil {
		t.Fatal("no release after svcgraph up")
	}
	h := filepath.Join(w.dir, "bench-helm")
	hs := helmcli.New()
	hs.RepositoryConfig = filepath.Join(h, "repositories.yaml")
	hs.RepositoryCache = filepath.Join(h, "repository")
	hs.RegistryConfig = filepath.Join(h, "registry.json")
	opts := chartmod.Options{
		DemoRepoURL: w.repo.RepoURL("open-telemetry"), TempoRepoURL: w.repo.RepoURL("grafana-community"),
		Release: w.Release, Namespace: w.Namespace, CacheDir: filepath.Join(h, "cache"), Helm: hs,
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer pcancel()
	if err := chartmod.AddRepos(pctx, opts); err != nil {
		t.Fatal(err)
	}
	pulled, err := chartmod.Pull(pctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := chartmod.Patch(pctx, pulled, opts)
	if err != nil {
		t.Fatal(err)
	}
	if patched.Hash == "" {
		t.Fatal("chartmod.Patch returned no hash")
	}
	chartFile, err := chartutil.Save(patched.ChartCopy(), w.dir)
	if err != nil {
		t.Fatal(err)
	}
	values, err := json.Marshal(rel.Config)
	if err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(w.dir, "values.json") // JSON is YAML: helm -f reads it
	if err := os.WriteFile(valuesFile, values, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("helm gets %s with values %s", chartFile, values)
	helmArgs := func(verb ...string) []string {
		return append(verb, w.Release, chartFile, "--namespace", w.Namespace, "-f", valuesFile, "--wait", "--timeout", "10m")
	}
	kubectlWait := []string{"wait", "--for=condition=Ready", "pods", "--all", "--namespace", w.Namespace,
		"--field-selector=status.phase!=Succeeded", "--timeout=10m"}
	helmThenWait := func(helm []string) benchRun {
		a := w.timed(t, limit, "helm", helm...)
		b := w.timed(t, limit, "kubectl", kubectlWait...)
		return benchRun{took: a.took + b.took}
	}

	// 2. Warm re-run, everything ready: same release and namespace for both tools, alternating.
	warmA := &series{name: "warm: svcgraph up --no-forward"}
	warmB := &series{name: "warm: helm upgrade --install --wait + kubectl wait"}
	for i := 0; i < warmN; i++ {
		r := w.timed(t, limit, "svcgraph", up...)
		warmA.add(r)
		rep.rss.add(r)
		warmB.add(helmThenWait(helmArgs("upgrade", "--install")))
	}
	rep.sampleLoad("after warm")
	rep.rows = append(rep.rows, warmA.row(), warmB.row())
	rep.ratios = append(rep.ratios, "warm svcgraph / helm+kubectl: "+ratio(warmA, warmB))
	rep.flush()

	// Issue 14: the budget check's share of a warm up.
	if budgetN > 0 {
		w.benchBudget(t, rep, budgetN, up)
		rep.sampleLoad("after budget")
		rep.flush()
	}
	// Issue 15: the fit step's share of a warm up.
	if fitN > 0 {
		w.benchFit(t, rep, fitN, up)
		rep.sampleLoad("after fit")
		rep.flush()
	}

	// 6. render with a warm chart cache (its own process, manifests to a file).
	renderS := &series{name: "svcgraph render (cached charts) > file"}
	renderOut := filepath.Join(w.dir, "rendered.yaml")
	for i := 0; i < renderN; i++ {
		f, err := os.Create(renderOut)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(w.svcgraph, append([]string{"render"}, w.names()...)...)
		cmd.Env, cmd.Dir, cmd.Stdout = w.environ(), w.dir, f
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err = cmd.Run()
		took := time.Since(start)
		f.Close()
		if err != nil {
			t.Fatalf("svcgraph render: %v\n%s", err, stderr.String())
		}
		renderS.add(benchRun{took: took})
	}
	rep.sampleLoad("after render")
	rep.rows = append(rep.rows, renderS.row())
	rep.flush()

	// 5. Port-forward: throughput, latency, reconnect (bench_forward_test.go).
	if forwardN > 0 {
		w.benchForward(t, rep, forwardN)
		rep.sampleLoad("after forward")
		rep.flush()
	}
	// 3. and 4. Ready detection and a stuck pod (bench_wait_test.go).
	if readyN > 0 {
		w.benchReady(t, rep, readyN, up, chartFile, valuesFile)
		rep.sampleLoad("after ready detection")
		rep.flush()
	}
	if stuckN > 0 {
		w.benchStuck(t, rep, stuckN, chartFile, valuesFile)
		rep.sampleLoad("after stuck pod")
		rep.flush()
	}

	// 1. Cold install until every pod is Ready; down (uninstall + namespace delete) between
	// rounds, not timed. svcgraph down removes a helm-installed release of the same name too.
	down := func() {
		r := w.run(t, limit, append([]string{"down"}, w.names()...)...)
		if r.code != 0 {
			t.Fatalf("svcgraph down exited %d\n%s", r.code, r)
		}
		w.waitNamespaceGone(t, 5*time.Minute)
	}
	coldA := &series{name: "cold: svcgraph up --no-forward"}
	coldB := &series{name: "cold: helm install --wait + kubectl wait"}
	coldHelmOnly := &series{name: "cold: helm install --wait alone"}
	for i := 0; i < coldN; i++ {
		down()
		r := w.timed(t, limit, "svcgraph", up...)
		coldA.add(r)
		rep.rss.add(r)
		down()
		h := w.timed(t, limit, "helm", append(helmArgs("install"), "--create-namespace")...)
		k := w.timed(t, limit, "kubectl", kubectlWait...)
		coldB.add(benchRun{took: h.took + k.took})
		coldHelmOnly.add(h)
	}
	// Issue 14: cold up by preset, pods and API objects.
	if presetN > 0 {
		w.benchPresets(t, rep, presetN, down)
	}
	rep.sampleLoad("after cold")
	if coldN > 0 {
		rep.rows = append(rep.rows, coldA.row(), coldB.row(), coldHelmOnly.row())
		rep.ratios = append(rep.ratios, "cold svcgraph / (helm install --wait + kubectl wait): "+ratio(coldA, coldB),
			"cold svcgraph / helm install --wait alone: "+ratio(coldA, coldHelmOnly))
	}
	rep.flush()

	// Issue 17: workshop mode (bench_workshop_test.go), in a world of its own: the node has room
	// for one demo, so this one goes first.
	if workshop.any() {
		w.teardown(t)
		benchWorkshop(t, rep, workshop)
	}
}
