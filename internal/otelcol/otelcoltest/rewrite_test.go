package otelcoltest

import (
	"strings"
	"testing"
)

func TestLoopback(t *testing.T) {
	cfg := `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:MY_POD_IP}:4317
  prometheus:
    config:
      scrape_configs:
      - job_name: self
        static_configs:
        - targets: ['${env:MY_POD_IP}:8888']
exporters:
  otlp/tempo:
    endpoint: demo-tempo-distributor:4317
  otlphttp/prometheus:
    endpoint: http://demo-prometheus-server:9090/api/v1/otlp
processors:
  batch:
    timeout: 10s
service:
  telemetry:
    metrics:
      address: ${env:MY_POD_IP}:8888
`
	out, moved, err := Loopback(cfg, map[string]string{"demo-tempo-distributor:4317": "127.0.0.1:1234"})
	if err != nil {
		t.Fatal(err)
	}
	if moved["demo-tempo-distributor:4317"] != "127.0.0.1:1234" || !strings.Contains(out, "endpoint: 127.0.0.1:1234") {
		t.Errorf("target not used:\n%s", out)
	}
	self := moved["${env:MY_POD_IP}:8888"]
	if !strings.HasPrefix(self, "127.0.0.1:") || strings.Count(out, self) != 2 {
		t.Errorf("the collector's own metrics address %q is not the same in both places:\n%s", self, out)
	}
	if p := moved["demo-prometheus-server:9090"]; !strings.Contains(out, "http://"+p+"/api/v1/otlp") {
		t.Errorf("URL not rewritten with its scheme and path:\n%s", out)
	}
	if strings.Contains(out, "MY_POD_IP") || !strings.Contains(out, "timeout: 10s") {
		t.Errorf("rewritten config:\n%s", out)
	}
	if err := Unchanged(cfg, out, moved); err != nil {
		t.Errorf("Unchanged: %v", err)
	}
	if err := Unchanged(cfg, strings.Replace(out, "10s", "1s", 1), moved); err == nil {
		t.Error("Unchanged missed a changed timeout")
	}
}

func TestEnvRefs(t *testing.T) {
	got := EnvRefs("a: ${env:MY_POD_IP}:1\nb: ${K8S_NODE_NAME}\nc: ${env:MY_POD_IP}\nd: ${env:X:-y}\n")
	if strings.Join(got, ",") != "K8S_NODE_NAME,MY_POD_IP,X" {
		t.Errorf("EnvRefs = %v", got)
	}
	env := strings.Join(Env(got, map[string]string{"X": "1"}), " ")
	if env != "K8S_NODE_NAME=minikube MY_POD_IP=127.0.0.1 X=1" {
		t.Errorf("Env = %s", env)
	}
}
