package otelcol

import "fmt"

// MetricsGenerator is the name of the collector build that stands in for Tempo's
// metrics-generator in tests: spans in over OTLP, the servicegraph connector turns client/server
// span pairs into the traces_service_graph_request_total family Tempo's service-graphs processor
// writes, and the prometheusremotewrite exporter writes them to Prometheus as Tempo does.
const MetricsGenerator = "metricsgen"

// MetricsGeneratorConfig is the stand-in's config: OTLP gRPC on otlpAddr, remote writes to
// remoteWriteURL (…/api/v1/write), its own metrics on telemetryAddr. The store's TTL is Tempo's
// default wait for a span's other half; the connector flushes every second so a test sees its
// edges soon.
func MetricsGeneratorConfig(otlpAddr, remoteWriteURL, telemetryAddr string) string {
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
connectors:
  servicegraph:
    store:
      ttl: 2s
      max_items: 10000
    metrics_flush_interval: 1s
exporters:
  prometheusremotewrite:
    endpoint: %s
    target_info:
      enabled: false
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [servicegraph]
    metrics:
      receivers: [servicegraph]
      exporters: [prometheusremotewrite]
  telemetry:
    metrics:
      address: %s
`, otlpAddr, remoteWriteURL, telemetryAddr)
}

// MetricsGeneratorComponents are the components MetricsGeneratorConfig names.
func MetricsGeneratorComponents() Components {
	c, err := ComponentsOf([]byte(MetricsGeneratorConfig("127.0.0.1:4317", "http://127.0.0.1:9090/api/v1/write", "127.0.0.1:8888")))
	if err != nil {
		panic(err) // the config above is a constant
	}
	return c
}
