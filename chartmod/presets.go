package chartmod

import (
	"slices"
	"strings"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Presets are values laid under the user's; which values each preset holds for a version pair
// is in versions.go, with the other version facts.

// res is a resources block: memory request and limit, and a CPU request ("" leaves it out).
func res(memRequest, memLimit, cpuRequest string) map[string]any {
	req := map[string]any{"memory": memRequest}
	if cpuRequest != "" {
		req["cpu"] = cpuRequest
	}
	return map[string]any{"requests": req, "limits": map[string]any{"memory": memLimit}}
}

// CheckPreset refuses a preset name that is not one of Presets ("" means full).
func CheckPreset(p string) error {
	if p != "" && !slices.Contains(Presets, p) {
		return reason.New(reason.Usage, "Use --preset "+strings.Join(Presets, " or --preset ")+".", "unknown preset %q", p)
	}
	return nil
}

// presetValues are the values of preset p for the version pair: a nested map to lay under the
// user's values.
func presetValues(s *spec, p string) (map[string]any, error) {
	if err := CheckPreset(p); err != nil {
		return nil, err
	}
	v := []kv{
		{"prometheus.server.resources.limits.memory", prometheusLimit},
		{"prometheus.server.retention", prometheusRetention},
	}
	switch p {
	case "", PresetFull:
	case PresetLite:
		v = append(v, kv{"opensearch.enabled", false},
			kv{"opentelemetry-collector.config.service.pipelines.logs.exporters", []any{"debug"}},
			kv{"prometheus.server.resources", res(prometheusLiteRequest, prometheusLiteLimit, "")})
		v = append(v, presetDemoLite.at(s.Demo)(s)...)
		for _, t := range presetTempoLite.at(s.Tempo) {
			v = append(v, kv{TempoChart + "." + t.K, t.V})
		}
	}
	m := map[string]any{}
	for _, x := range v {
		setValue(m, strings.Split(x.K, "."), x.V)
	}
	return m, nil
}

// setValue sets a value at a path of nested maps, making the maps on the way.
func setValue(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
