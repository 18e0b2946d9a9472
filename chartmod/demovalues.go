package chartmod

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// patchDemoValues applies (c), (d), (e) and, for demos that keep datasources in values, (f) to
// the demo's values.yaml. Each edit is made on the parsed nodes and, where the splicer can place
// it, as text too (see splice.go).
func patchDemoValues(src []byte, s *spec) ([]byte, error) {
	doc, err := parseYAMLDoc(src)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	sp := newSplicer(src)

	// (d) collector: a new exporter, inserted into the traces pipeline after the Jaeger exporter.
	// The whole list stays: without the Jaeger exporter and the span-metrics connector the
	// collector refuses to start (§1.6).
	collector, err := lookup(root, yaml.MappingNode, "opentelemetry-collector")
	if err != nil {
		return nil, err
	}
	if alt, err := lookup(collector, yaml.MappingNode, "alternateConfig"); err == nil && len(alt.Content) > 0 {
		return nil, errors.New("opentelemetry-collector.alternateConfig is set, so a patch to config would have no effect")
	}
	exportersKey, exporters, err := lookupPair(collector, yaml.MappingNode, "config", "exporters")
	if err != nil {
		return nil, prefixPath("opentelemetry-collector.", err)
	}
	if hasKey(exporters, s.TempoExporter) {
		return nil, fmt.Errorf("the collector already has an exporter %s", s.TempoExporter)
	}
	traces, err := lookup(collector, yaml.SequenceNode, "config", "service", "pipelines", "traces", "exporters")
	if err != nil {
		return nil, prefixPath("opentelemetry-collector.", err)
	}
	jaeger := scalarIndex(traces, s.JaegerExporter)
	if jaeger < 0 || scalarIndex(traces, s.SpanConnector) < 0 {
		return nil, fmt.Errorf("the collector's traces exporters lack %s or %s", s.JaegerExporter, s.SpanConnector)
	}
	exporter := ordered(
		kv{"endpoint", fmt.Sprintf("%s:%d", s.Names.TempoDistributorService, s.Names.TempoDistributorOTLPPort)},
		kv{"tls", ordered(kv{"insecure", true})})
	sp.firstKey(exportersKey, exporters, ordered(kv{s.TempoExporter, exporter}))
	addKey(exporters, s.TempoExporter, exporter)
	sp.afterItem(traces, jaeger, s.TempoExporter)
	insertAt(traces, jaeger+1, node(s.TempoExporter))

	// (e) Prometheus accepts the metrics-generator's remote writes only with this flag.
	flags, err := lookup(root, yaml.SequenceNode, "prometheus", "server", "extraFlags")
	if err != nil {
		return nil, err
	}
	flagAdded := scalarIndex(flags, remoteWriteFlag) < 0
	if flagAdded {
		if len(flags.Content) == 0 {
			sp.ok = false
		} else {
			sp.afterItem(flags, len(flags.Content)-1, remoteWriteFlag)
		}
		flags.Content = append(flags.Content, node(remoteWriteFlag))
	}

	// (f) for demos whose datasources live in values; appended after the demo's own (§1.5).
	if !s.DatasourcesInFiles {
		ds, err := lookup(root, yaml.SequenceNode, "grafana", "datasources", valuesDatasourcesFile, "datasources")
		if err != nil {
			return nil, err
		}
		tempoDS := tempoDatasource(s)
		sp.appendItem(ds, tempoDS)
		ds.Content = append(ds.Content, tempoDS)
	}

	// (c) a new top-level key; the schema allows it after (b).
	if hasKey(root, TempoChart) {
		return nil, fmt.Errorf("values already have a %s key", TempoChart)
	}
	tempo := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, p := range tempoValues(s) {
		setPath(tempo, strings.Split(p.K, "."), p.V)
	}
	sp.appendTopLevel(ordered(kv{TempoChart, tempo}))
	addKey(root, TempoChart, tempo)

	// Use the first rendition in which Helm's reader sees exactly the original values plus the
	// patch: the splice normally; the re-encoded document when the splicer could not place an
	// edit. yaml.v3 re-encoding is not lossless for every input, so neither is trusted blindly.
	want, err := expectedValues(src, s, exporter, flagAdded, tempo)
	if err != nil {
		return nil, err
	}
	encoded, err := encodeYAMLDoc(doc)
	if err != nil {
		return nil, err
	}
	for _, out := range [][]byte{sp.result(), encoded} {
		if out != nil && helmSees(out, want) {
			return out, nil
		}
	}
	return nil, errors.New("the patch cannot be written without changing other values")
}

// expectedValues applies the patch to the values as Helm reads them: the reference for the
// written document.
func expectedValues(src []byte, s *spec, exporter *yaml.Node, flagAdded bool, tempo *yaml.Node) (map[string]any, error) {
	var v map[string]any
	if err := sigsyaml.Unmarshal(src, &v); err != nil {
		return nil, err
	}
	exporters, ok1 := Field(v, "opentelemetry-collector", "config", "exporters").(map[string]any)
	pipeline, ok2 := Field(v, "opentelemetry-collector", "config", "service", "pipelines", "traces").(map[string]any)
	server, ok3 := Field(v, "prometheus", "server").(map[string]any)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("values read differently by Helm's YAML reader")
	}
	exporters[s.TempoExporter] = nodeValue(exporter)
	traces, _ := pipeline["exporters"].([]any)
	j := slices.Index(traces, any(s.JaegerExporter))
	if j < 0 {
		return nil, errors.New("values read differently by Helm's YAML reader")
	}
	pipeline["exporters"] = slices.Insert(traces, j+1, any(s.TempoExporter))
	if flagAdded {
		flags, _ := server["extraFlags"].([]any)
		server["extraFlags"] = append(flags, remoteWriteFlag)
	}
	if !s.DatasourcesInFiles {
		file, ok := Field(v, "grafana", "datasources", valuesDatasourcesFile).(map[string]any)
		if !ok {
			return nil, errors.New("values read differently by Helm's YAML reader")
		}
		ds, _ := file["datasources"].([]any)
		file["datasources"] = append(ds, nodeValue(tempoDatasource(s)))
	}
	v[TempoChart] = nodeValue(tempo)
	return v, nil
}

// nodeValue is a node as Helm's reader decodes it.
func nodeValue(n *yaml.Node) any {
	var v any
	data, err := encodeYAMLDoc(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}})
	if err == nil {
		err = sigsyaml.Unmarshal(data, &v)
	}
	if err != nil {
		panic(fmt.Sprintf("chartmod: a patch node does not round-trip: %v", err)) // built from literals here
	}
	return v
}

func helmSees(doc []byte, want map[string]any) bool {
	var got map[string]any
	return sigsyaml.Unmarshal(doc, &got) == nil && reflect.DeepEqual(got, want)
}

func prefixPath(prefix string, err error) error {
	var pe *pathError
	if errors.As(err, &pe) {
		return &pathError{prefix + pe.Path, pe.Want}
	}
	return err
}
