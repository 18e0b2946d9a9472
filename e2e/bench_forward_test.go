//go:build bench

// Issue 5 item 5: svcgraph's port-forward against `kubectl port-forward`, both to the frontend
// proxy Service of the installed release, whose pod kwok routes to a backend in this process.

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// benchBackend stands in for the frontend proxy's container: /big streams a large body, anything
// else answers with the backend's own name, so an answer tells which backend it came from.
type benchBackend struct {
	name string
	srv  *httptest.Server
}

func newBenchBackend(t *testing.T, name string, bigBytes int64) *benchBackend {
	b := &benchBackend{name: name + "-" + rand.String(6)}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/big" {
			fmt.Fprint(rw, b.name)
			return
		}
		rw.Header().Set("Content-Length", strconv.FormatInt(bigBytes, 10))
		for left := bigBytes; left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := rw.Write(chunk[:n]); err != nil {
				return
			}
			left -= n
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *benchBackend) target() string { return strings.TrimPrefix(b.srv.URL, "http://") }

// stop is what a dying container does: the listener and every open connection close.
func (b *benchBackend) stop() {
	b.srv.CloseClientConnections()
	b.srv.Close()
}

// forwardProc is a running `svcgraph forward` or `kubectl port-forward`.
type forwardProc struct {
	name     string
	cmd      *exec.Cmd
	lines    *lineReader
	stderr   *strings.Builder
	exited   chan struct{} // closed when the process has exited
	err      error         // its exit, once exited is closed
	exitedAt time.Time
}

// startForward starts a forwarding process and waits for the line that says it listens.
func (w *world) startForward(t *testing.T, name, ready string, args ...string) *forwardProc {
	t.Helper()
	path := w.svcgraph
	if name != "svcgraph" {
		path = w.bin + "/" + name
	}
	p := &forwardProc{name: name, cmd: exec.Command(path, args...), stderr: &strings.Builder{}, exited: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir = w.environ(), w.dir
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.lines = newLineReader(stdout)
	go func() {
		p.lines.drain()
		p.err = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(p.lines.String(), ready) {
		select {
		case <-p.exited:
			t.Fatalf("%s %s exited before %q: %v\n%s%s", name, strings.Join(args, " "), ready, p.err, p.lines, p.stderr)
		case <-deadline:
			t.Fatalf("%s %s: no %q within 2 minutes\n%s%s", name, strings.Join(args, " "), ready, p.lines, p.stderr)
		case <-time.After(20 * time.Millisecond): // the line reader has no "new line" signal once drained
		}
	}
	return p
}

func (p *forwardProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *forwardProc) stop(t *testing.T) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("%s still runs 30 s after SIGINT; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// proxyPods lists the pods behind the frontend proxy Service that are not being deleted.
func (w *world) proxyPods(t *testing.T) (svc *corev1.Service, pods []corev1.Pod) {
	t.Helper()
	names, err := chartmod.Options{Release: w.Release, Namespace: w.Namespace}.Names()
	if err != nil {
		t.Fatal(err)
	}
	svc, err = w.cluster.Client.CoreV1().Services(w.Namespace).Get(w.ctx(t), names.FrontendProxyService, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("frontend proxy Service: %v", err)
	}
	list, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return svc, pods
}

// download GETs url and reads the whole body; the throughput is bytes per second of wall time.
func download(url string, want int64) (time.Duration, error) {
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	if n != want {
		return took, fmt.Errorf("got %d bytes, want %d", n, want)
	}
	return took, nil
}

// latencies sends n small GETs one after the other and returns each one's time; with keepAlive
// they share one connection (one stream through the forward), else each opens its own.
func latencies(url, want string, n int, keepAlive bool) ([]time.Duration, error) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		if string(body) != want {
			return out, fmt.Errorf("answer %q, want %q", body, want)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// fseries is a series of plain numbers (MB/s).
type fseries struct {
	name string
	v    []float64
}

func (s *fseries) row(unit string) string {
	if len(s.v) == 0 {
		return fmt.Sprintf("| %s | 0 | – | – | – |", s.name)
	}
	d := slices.Clone(s.v)
	slices.Sort(d)
	med := d[len(d)/2]
	if len(d)%2 == 0 {
		med = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	var all []string
	for _, x := range s.v {
		all = append(all, strconv.FormatFloat(x, 'f', 1, 64))
	}
	return fmt.Sprintf("| %s | %d | %.1f %s | %.1f–%.1f | %s |", s.name, len(d), med, unit, d[0], d[len(d)-1], strings.Join(all, ", "))
}

func (w *world) benchForward(t *testing.T, rep *benchReport, rounds int) {
	mb := int64(benchRounds(t, "BENCH_FORWARD_MB", 200))
	requests := benchRounds(t, "BENCH_FORWARD_REQUESTS", 1000)
	big := mb << 20

	svc, pods := w.proxyPods(t)
	if len(pods) != 1 {
		t.Fatalf("want one frontend proxy pod, found %d", len(pods))
	}
	names, _ := chartmod.Options{Release: w.Release, Namespace: w.Namespace}.Names()
	backend := newBenchBackend(t, "backend", big)
	w.cluster.ForwardPod(t, w.Namespace, pods[0].Name, testcluster.Rule{PodPort: 0, Target: backend.target()})

	sgPort, kcPort := freePort(t), freePort(t)
	sg := w.startForward(t, "svcgraph", "press Ctrl-C", append([]string{"forward"}, append(w.names(), "--port", strconv.Itoa(sgPort))...)...)
	kc := w.startForward(t, "kubectl", "Forwarding from 127.0.0.1:"+strconv.Itoa(kcPort),
		"port-forward", "--context", w.Profile, "--namespace", w.Namespace, "svc/"+svc.Name, fmt.Sprintf("%d:%d", kcPort, names.FrontendProxyPort))
	tools := []struct {
		name string
		base string
	}{{"svcgraph forward", "http://127.0.0.1:" + strconv.Itoa(sgPort)}, {"kubectl port-forward", "http://127.0.0.1:" + strconv.Itoa(kcPort)}}
	for _, tool := range tools { // kwok picks the rule up through a watch: wait until it routes
		getUntil(t, tool.base+"/", backend.name, time.Minute)
	}

	thr := map[string]*fseries{}
	lat := map[string][]time.Duration{}
	for _, tool := range tools {
		thr[tool.name] = &fseries{name: tool.name + ": " + strconv.FormatInt(mb, 10) + " MB download"}
	}
	for i := 0; i < rounds; i++ {
		for _, tool := range tools {
			took, err := download(tool.base+"/big", big)
			if err != nil {
				t.Fatalf("%s: download of %d MB: %v after %s", tool.name, mb, err, took)
			}
			thr[tool.name].v = append(thr[tool.name].v, float64(big)/(1<<20)/took.Seconds())
			for _, keep := range []bool{true, false} {
				d, err := latencies(tool.base+"/small", backend.name, requests, keep)
				if err != nil {
					t.Fatalf("%s: small requests (keep-alive %v): %v after %d", tool.name, keep, err, len(d))
				}
				key := tool.name + map[bool]string{true: ", one connection", false: ", a connection per request"}[keep]
				lat[key] = append(lat[key], d...)
			}
			t.Logf("forward round %d, %s: %s MB/s", i+1, tool.name, strconv.FormatFloat(thr[tool.name].v[i], 'f', 1, 64))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Port-forward (%d rounds, alternating; each round one %d MB download and %d small GETs on one connection and %d on a connection each):\n\n", rounds, mb, requests, requests)
	b.WriteString("| throughput | n | median | min–max MB/s | all rounds MB/s |\n|---|---|---|---|---|\n")
	for _, tool := range tools {
		b.WriteString(thr[tool.name].row("MB/s") + "\n")
	}
	fmt.Fprintf(&b, "\nThroughput ratio svcgraph / kubectl (medians): %s\n\n", fratio(thr[tools[0].name], thr[tools[1].name]))
	b.WriteString("| small requests | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n")
	keys := make([]string, 0, len(lat))
	for k := range lat {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d := lat[k]
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", k, len(d), ms(percentile(d, 0.5)), ms(percentile(d, 0.99)), ms(percentile(d, 1)))
	}
	rep.sections = append(rep.sections, b.String())
	rep.flush()

	// Reconnect: pod 1 → backend A; delete pod 1; the Deployment's pod 2 → backend B; stop A (a
	// dead container: kwok alone keeps serving a deleted pod's forward). Timed from the delete to
	// the first answer from B through the same local port.
	kc.stop(t)
	var fromDelete, fromReady series
	fromDelete.name, fromReady.name = "svcgraph forward: pod deleted → first answer from the new pod", "svcgraph forward: new pod Ready → first answer"
	a := backend
	for i := 0; i < rounds; i++ {
		bb := newBenchBackend(t, fmt.Sprintf("replacement%d", i+1), 1)
		rp := w.replaceProxyPod(t, a, bb, "http://127.0.0.1:"+strconv.Itoa(sgPort)+"/", time.Minute)
		if rp.answered.IsZero() {
			t.Fatalf("round %d: no answer from the replacement backend through svcgraph's port within a minute\n%s%s", i+1, sg.lines, sg.stderr)
		}
		if !sg.running() {
			t.Fatalf("svcgraph forward exited during the reconnect: %v\n%s%s", sg.err, sg.lines, sg.stderr)
		}
		fromDelete.add(benchRun{took: rp.answered.Sub(rp.deleted)})
		fromReady.add(benchRun{took: rp.answered.Sub(rp.ready)})
		t.Logf("reconnect round %d: %s from the delete, %s from the new pod's Ready, %s from stopping the old backend", i+1,
			rp.answered.Sub(rp.deleted), rp.answered.Sub(rp.ready), rp.answered.Sub(rp.stopped))
		a = bb
	}
	rep.rows = append(rep.rows, fromDelete.row(), fromReady.row())

	// kubectl, once: the same sequence, then see what becomes of it (the issue says it exits;
	// this checks rather than assumes).
	kcPort2 := freePort(t)
	kc2 := w.startForward(t, "kubectl", "Forwarding from 127.0.0.1:"+strconv.Itoa(kcPort2),
		"port-forward", "--context", w.Profile, "--namespace", w.Namespace, "svc/"+svc.Name, fmt.Sprintf("%d:%d", kcPort2, names.FrontendProxyPort))
	kbase := "http://127.0.0.1:" + strconv.Itoa(kcPort2) + "/"
	getUntil(t, kbase, a.name, time.Minute)
	last := newBenchBackend(t, "kubectl-replacement", 1)
	rp := w.replaceProxyPod(t, a, last, kbase, 30*time.Second)
	var outcome string
	switch {
	case rp.answered.IsZero() && !kc2.running():
		stderrLines := strings.Split(strings.TrimSpace(kc2.stderr.String()), "\n")
		when := "after"
		if kc2.exitedAt.Before(rp.stopped) {
			when = "before"
		}
		outcome = fmt.Sprintf("exited (%v) %s after the pod's delete, %s the old backend was stopped (the new pod was Ready %s after the delete); "+
			"last stderr line: %q; no request reached the new pod through its port",
			kc2.err, kc2.exitedAt.Sub(rp.deleted).Round(time.Millisecond), when, rp.ready.Sub(rp.deleted).Round(time.Millisecond), stderrLines[len(stderrLines)-1])
	case rp.answered.IsZero():
		outcome = "still running 30 s after the old backend was stopped, but no request reached the new pod"
	default:
		outcome = fmt.Sprintf("answered from the new pod %s after the delete", rp.answered.Sub(rp.deleted).Round(time.Millisecond))
	}
	t.Logf("kubectl port-forward after its pod was replaced: %s", outcome)
	rep.sections = append(rep.sections, "Reconnect, `kubectl port-forward svc/…` (same sequence, once): "+outcome+".")
}

func fratio(a, b *fseries) string {
	med := func(v []float64) float64 {
		d := slices.Clone(v)
		slices.Sort(d)
		if len(d) == 0 {
			return 0
		}
		if len(d)%2 == 0 {
			return (d[len(d)/2-1] + d[len(d)/2]) / 2
		}
		return d[len(d)/2]
	}
	mb := med(b.v)
	if mb == 0 {
		return "–"
	}
	return strconv.FormatFloat(med(a.v)/mb, 'f', 3, 64)
}

// replacement is the timeline of one replaced frontend proxy pod.
type replacement struct {
	deleted, ready, stopped time.Time // the delete, the new pod's Ready, the old backend stopped
	answered                time.Time // the first answer from the new backend; zero: none in time
}

// replaceProxyPod deletes the frontend proxy pod (routed to old), routes its replacement to next,
// stops old once the replacement is Ready, and polls url (every 10 ms) until next answers or limit
// passes.
func (w *world) replaceProxyPod(t *testing.T, old, next *benchBackend, url string, limit time.Duration) (rp replacement) {
	t.Helper()
	svc, pods := w.proxyPods(t)
	if len(pods) != 1 {
		t.Fatalf("want one frontend proxy pod, found %d", len(pods))
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit+time.Minute)
	defer cancel()
	watcher, err := w.cluster.Client.CoreV1().Pods(w.Namespace).Watch(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String(), ResourceVersion: pods[0].ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()
	rp.deleted = time.Now()
	if err := w.cluster.Client.CoreV1().Pods(w.Namespace).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	routed := false
	for rp.ready.IsZero() {
		select {
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				t.Fatal("pod watch ended before the replacement was Ready")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || p.Name == pods[0].Name || ev.Type == watch.Deleted {
				continue
			}
			if !routed { // route it as soon as it exists: the rule may land before it is Ready
				w.cluster.ForwardPod(t, w.Namespace, p.Name, testcluster.Rule{PodPort: 0, Target: next.target()})
				routed = true
			}
			if podIsReady(p) {
				rp.ready = time.Now()
			}
		case <-ctx.Done():
			t.Fatal("no Ready replacement of the frontend proxy pod within the limit")
		}
	}
	old.stop()
	rp.stopped = time.Now()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == next.name {
				rp.answered = time.Now()
				return rp
			}
		}
		time.Sleep(10 * time.Millisecond) // the poll interval is the resolution of this figure
	}
	return rp
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return p.DeletionTimestamp == nil
		}
	}
	return false
}
