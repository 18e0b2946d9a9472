package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
)

func TestDoctorPrometheusLink(t *testing.T) {
	on := promtest.Start(t, promtest.Options{})
	off := promtest.Start(t, promtest.Options{NoRemoteWrite: true})
	ctx := context.Background()
	check := func(url string) Finding {
		f := Finding{Link: "prometheus"}
		f.OK = checkPrometheus(ctx, &graph.Prom{URL: url}, &f)
		return f
	}
	expect := func(name string, f Finding, ok bool, evidence, fix string) {
		t.Helper()
		ev := strings.Join(f.Evidence, "\n")
		if f.OK != ok || !strings.Contains(ev, evidence) || !strings.Contains(f.Fix, fix) {
			t.Errorf("%s: ok=%t evidence:\n%s\nfix: %s\nwant ok=%t, evidence %q, fix %q", name, f.OK, ev, f.Fix, ok, evidence, fix)
		}
	}

	expect("without the flag", check(off.URL), false, "--web.enable-remote-write-receiver=false", "start it with --web.enable-remote-write-receiver")
	expect("no writes yet", check(on.URL), false, "remote writes received: 0", "Nothing has remote-written")

	now := time.Now()
	promtest.MustWrite(t, on.URL, promtest.Counter("up", map[string]string{"job": "other"}, 1, now, time.Minute))
	expect("writes, but no service graph", check(on.URL), false, graph.MetricRequests+" series: 0", "no service-graph series")

	promtest.MustWrite(t, on.URL,
		promtest.Counter(graph.MetricRequests, map[string]string{"client": "a", "server": "b"}, 1, now, time.Minute),
		promtest.Counter(graph.MetricRequests, map[string]string{"client": "b", "server": "c"}, 1, now, time.Minute))
	expect("all well", check(on.URL), true, graph.MetricRequests+" series: 2", "")
	if f := check(on.URL); !strings.Contains(strings.Join(f.Evidence, "\n"), "remote writes received: 2 ") {
		t.Errorf("two accepted writes, evidence: %v", f.Evidence)
	}
}
