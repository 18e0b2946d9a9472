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

// The collector's exporter helper logs failed exports with the exporter's id in the fields: as
// "name" in older collectors, as "otelcol.component.id" in newer ones. Only the Tempo exporter's
// failures break the service graph.
func TestExportFailures(t *testing.T) {
	lines := []string{
		"2026-11-25T21:00:00.000Z\tinfo\tservice@v0.98.0/service.go:169\tEverything is ready. Begin running and processing data.",
		"2026-11-25T21:00:01.000Z\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t" +
			`{"kind": "exporter", "data_type": "traces", "name": "otlp/jaeger", "error": "rpc error: code = Unavailable", "dropped_items": 3}`,
		"2026-11-25T21:00:02.000Z\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t" +
			`{"kind": "exporter", "data_type": "traces", "name": "otlp/tempo", "error": "rpc error: code = Unavailable desc = connection refused", "dropped_items": 12}`,
		"2026-11-25T21:00:03.000Z\tinfo\tinternal/retry_sender.go:133\tExporting failed. Will retry the request after interval.\t" +
			`{"otelcol.component.id": "otlp_grpc/tempo", "otelcol.component.kind": "exporter", "otelcol.signal": "traces", "error": "deadline exceeded", "interval": "5.2s"}`,
	}
	for _, c := range []struct {
		exporter string
		want     []int // indexes into lines
	}{
		{"otlp/tempo", []int{2}},
		{"otlp_grpc/tempo", []int{3}},
		{"otlp", nil}, // "otlp" is not "otlp/tempo"
		{"", nil},     // exporter unknown, no line names the distributor
	} {
		got := exportFailures(lines, c.exporter, "tempo-distributor")
		var want []string
		for _, i := range c.want {
			want = append(want, lines[i])
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("exporter %q: got %q, want %q", c.exporter, got, want)
		}
	}
	byEndpoint := "2026-11-25T21:00:04.000Z\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t" +
		`{"error": "dial tcp: lookup tempo-distributor on 10.96.0.10:53: no such host"}`
	if got := exportFailures([]string{byEndpoint}, "", "tempo-distributor"); len(got) != 1 {
		t.Errorf("a failure naming the distributor was not picked: %q", got)
	}
}
