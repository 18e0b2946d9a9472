package otelcol

import (
	"strings"
	"testing"
)

const sample = `receivers:
  otlp: {}
  prometheus/ad: {}
  prometheus: {}
processors:
  k8s_attributes: {}
exporters:
  otlp_grpc/tempo: {}
  otlp_grpc/jaeger: {}
connectors:
  span_metrics: {}
`

func TestComponentsOf(t *testing.T) {
	c, err := ComponentsOf([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := "connectors: span_metrics\nexporters: otlp_grpc\nprocessors: k8s_attributes\nreceivers: otlp, prometheus\n"
	if c.String() != want {
		t.Errorf("components:\n%s\nwant:\n%s", c, want)
	}
	if _, err := ComponentsOf([]byte("receivers: [otlp]\n")); err == nil {
		t.Error("a receivers list, not a map, was accepted")
	}
}

func TestNewBuild(t *testing.T) {
	c, _ := ComponentsOf([]byte(sample))
	b, err := NewBuild("otelcol-0.97.0", "0.97.0", c)
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifest("/out")
	for _, want := range []string{
		"otelcol_version: 0.97.0", "output_path: /out",
		"- gomod: " + contrib + "connector/spanmetricsconnector v0.97.0",
		"- gomod: " + core + "exporter/otlpexporter v0.97.0",
		"- gomod: " + contrib + "receiver/prometheusreceiver v0.97.0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %q:\n%s", want, m)
		}
	}
	if strings.Count(m, "prometheusreceiver") != 1 {
		t.Errorf("prometheus and prometheus/ad are one module:\n%s", m)
	}

	// A version the proxy lacks: the stand-in, said in the manifest; one it cannot serve: missing.
	os, _ := NewBuild("x", "0.97.0", Components{"exporters": {"opensearch"}})
	if got := os.Manifest("/o"); !strings.Contains(got, "opensearchexporter v0.96.0\n    # v0.97.0 is not served") {
		t.Errorf("substitute not in manifest:\n%s", got)
	}
	gen, _ := NewBuild("x", "0.156.0", Components{"processors": {"gen_ai_normalizer", "batch"}})
	if len(gen.Missing) != 1 || !strings.Contains(gen.Missing[0], "genainormalizerprocessor@v0.156.0") {
		t.Errorf("missing = %v", gen.Missing)
	}
	if _, err := NewBuild("x", "0.97.0", Components{"receivers": {"nosuch"}}); err == nil || !strings.Contains(err.Error(), `receiver type "nosuch"`) {
		t.Errorf("unknown type: %v", err)
	}
}
