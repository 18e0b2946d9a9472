// Package otelcol knows what it takes to run the real OpenTelemetry Collector on the config
// svcgraph renders: which components a collector config names, the Go module of each (for the
// OpenTelemetry Collector Builder's manifest), and the collector version and arguments a rendered
// chart pair runs with. scripts/otelcol builds collectors from what it says; the tests run them.
package otelcol

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kinds are the sections of a collector config that name components, in manifest order.
var Kinds = []string{"connectors", "exporters", "extensions", "processors", "receivers"}

// Components are the component types a config names, by kind (a section of Kinds), each list
// sorted and without repeats: "otlp/tempo" and "otlp" are both type otlp.
type Components map[string][]string

// ComponentsOf lists the component types of every component the config defines. The collector
// decodes every defined component, used in a pipeline or not, so each needs its factory.
func ComponentsOf(config []byte) (Components, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("collector config does not parse: %w", err)
	}
	c := Components{}
	for _, kind := range Kinds {
		section, ok := cfg[kind].(map[string]any)
		if cfg[kind] != nil && !ok {
			return nil, fmt.Errorf("collector config: %s is not a map", kind)
		}
		for id := range section {
			typ, _, _ := strings.Cut(id, "/")
			if !slices.Contains(c[kind], typ) {
				c[kind] = append(c[kind], typ)
			}
		}
		slices.Sort(c[kind])
	}
	return c, nil
}

// Add merges other into c.
func (c Components) Add(other Components) {
	for kind, types := range other {
		for _, t := range types {
			if !slices.Contains(c[kind], t) {
				c[kind] = append(c[kind], t)
			}
		}
		slices.Sort(c[kind])
	}
}

// String is one "kind: a, b" line per kind that has components.
func (c Components) String() string {
	var b strings.Builder
	for _, kind := range Kinds {
		if len(c[kind]) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", kind, strings.Join(c[kind], ", "))
		}
	}
	return b.String()
}
