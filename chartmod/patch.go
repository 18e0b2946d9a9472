package chartmod

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Patched is the demo chart with Tempo added, ready for action.Install or action.Upgrade.
type Patched struct {
	// Chart is what to install. Helm's install and upgrade rewrite a chart's dependencies and
	// values in place, so pass ChartCopy() to them when Chart is used again afterwards.
	Chart *chart.Chart
	// Values to pass to the install: the preset's under the user's (-f/--set); the patch
	// itself lives in the chart.
	Values map[string]any
	// sha256 over the patched chart's files, the tempo package and the user values: the install
	// step upgrades only when it changed.
	Hash  string
	Names Names
	Pair  Pair
	// PostRenderer is set for an offline release (Options.Offline): install and render apply it.
	PostRenderer postrender.PostRenderer

	spec *spec
}

// Patch applies PATCHES.md parts (a)–(f) to a copy of p.Demo and merges the user's values. The
// edits are structural: YAML nodes for Chart.yaml and values.yaml, decoded JSON for the schema,
// and lists are extended, never replaced (PATCHES.md §1.5). A chart that lacks what the patch
// expects is a reason.ChartLayout error.
func Patch(ctx context.Context, p *Pulled, o Options) (*Patched, error) {
	if p == nil || p.Demo == nil || p.Tempo == nil {
		return nil, reason.New(reason.Internal, "", "chartmod.Patch: nothing pulled")
	}
	o.DemoVersion, o.TempoVersion = p.Pair.Demo, p.Pair.Tempo // as pulled ("latest" pinned)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s, err := resolve(o)
	if err != nil {
		return nil, err
	}
	if err := checkTempoLayout(p.Tempo, s); err != nil {
		return nil, err
	}
	c := cloneChart(p.Demo)
	edits := []func(*chart.Chart, *spec, Options) error{patchChartYAML, patchSchema, patchValuesFile, patchDatasourceFile}
	for _, edit := range edits {
		if err := edit(c, s, o); err != nil {
			return nil, err
		}
	}
	c.AddDependency(cloneChart(p.Tempo)) // AddDependency reparents its argument

	user, err := ReadValues(ctx, o)
	if err != nil {
		return nil, err
	}
	preset, err := presetValues(s, o.Preset)
	if err != nil {
		return nil, err
	}
	user = mergeValues(mergeValues(preset, user), storageValues(s, o.Storage))
	hash, err := patchedHash(c, p.DemoDigest, p.TempoDigest, user)
	if err != nil {
		return nil, err
	}
	patched := &Patched{Chart: c, Values: user, Hash: hash, Names: s.Names,
		Pair: Pair{o.DemoVersion, o.TempoVersion}, spec: s}
	if o.Offline {
		patched.offline()
	}
	return patched, nil
}

// ChartCopy returns a copy of Chart that Helm may change freely.
func (p *Patched) ChartCopy() *chart.Chart { return cloneChart(p.Chart) }

func layoutErr(c *chart.Chart, file string, err error) error {
	return reason.Wrap(reason.ChartLayout, err, "", "unsupported chart layout in %s %s, %s", c.Name(), c.Metadata.Version, file)
}

func rawFile(c *chart.Chart, name string) *chart.File {
	for _, f := range c.Raw {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// replaceRaw swaps in new contents for a file of the chart's package. The *chart.File values are
// shared with the pulled chart, so the entry is replaced rather than written to.
func replaceRaw(c *chart.Chart, name string, data []byte) {
	for i, f := range c.Raw {
		if f.Name == name {
			c.Raw[i] = &chart.File{Name: name, Data: data}
			return
		}
	}
	c.Raw = append(c.Raw, &chart.File{Name: name, Data: data})
}

// (a) The dependency goes into the dependencies sequence of Chart.yaml by a node edit: a pulled
// Chart.yaml has sorted keys, so appending text would land under `version:` (PATCHES.md §1.1).
// The condition path exists in values (part c), so the subchart can really be switched off (§1.2).
// The release stores this file: the repository URL goes in without its password.
func patchChartYAML(c *chart.Chart, _ *spec, o Options) error {
	dep := &chart.Dependency{Name: TempoChart, Version: o.TempoVersion, Repository: RedactURL(o.TempoRepoURL),
		Condition: TempoChart + ".enabled"}
	f := rawFile(c, chartutil.ChartfileName)
	if f == nil {
		return layoutErr(c, chartutil.ChartfileName, errors.New("file missing"))
	}
	doc, err := parseYAMLDoc(f.Data)
	if err != nil {
		return layoutErr(c, chartutil.ChartfileName, err)
	}
	deps, err := lookup(doc.Content[0], yaml.SequenceNode, "dependencies")
	if err != nil {
		return layoutErr(c, chartutil.ChartfileName, err)
	}
	for _, d := range c.Metadata.Dependencies {
		if d.Name == TempoChart || d.Alias == TempoChart {
			return layoutErr(c, chartutil.ChartfileName, errors.New("it already depends on "+TempoChart))
		}
	}
	deps.Content = append(deps.Content, ordered(kv{"name", dep.Name}, kv{"version", dep.Version},
		kv{"repository", dep.Repository}, kv{"condition", dep.Condition}))
	data, err := encodeYAMLDoc(doc)
	if err != nil {
		return layoutErr(c, chartutil.ChartfileName, err)
	}
	replaceRaw(c, chartutil.ChartfileName, data)
	c.Metadata.Dependencies = append(c.Metadata.Dependencies, dep)
	return nil
}

// (b) The demo schema forbids unknown top-level keys (§1.3). Key order does not matter in JSON
// Schema, so decoding and re-encoding is a faithful edit.
func patchSchema(c *chart.Chart, _ *spec, _ Options) error {
	if len(c.Schema) == 0 {
		return nil
	}
	var schema map[string]any
	if err := json.Unmarshal(c.Schema, &schema); err != nil {
		return layoutErr(c, chartutil.SchemafileName, err)
	}
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return layoutErr(c, chartutil.SchemafileName, errors.New("no top-level properties object"))
	}
	props[TempoChart] = map[string]any{"type": "object"}
	data, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return layoutErr(c, chartutil.SchemafileName, err)
	}
	c.Schema = data
	replaceRaw(c, chartutil.SchemafileName, data)
	return nil
}

// (c)–(f) in values.yaml.
func patchValuesFile(c *chart.Chart, s *spec, _ Options) error {
	f := rawFile(c, chartutil.ValuesfileName)
	if f == nil {
		return layoutErr(c, chartutil.ValuesfileName, errors.New("file missing"))
	}
	data, err := patchDemoValues(f.Data, s)
	if err != nil {
		return layoutErr(c, chartutil.ValuesfileName, err)
	}
	vals, err := chartutil.ReadValues(data)
	if err != nil {
		return layoutErr(c, chartutil.ValuesfileName, err)
	}
	replaceRaw(c, chartutil.ValuesfileName, data)
	c.Values = vals
	return nil
}

// tempoDatasource is the Grafana datasource of part (f): the query-frontend for queries, and the
// demo's Prometheus datasource for the service graph.
func tempoDatasource(s *spec) *yaml.Node {
	n := s.Names
	return ordered(kv{"name", "Tempo"}, kv{"uid", tempoDatasourceUID}, kv{"type", "tempo"},
		kv{"url", fmt.Sprintf("http://%s:%d", n.TempoQueryFrontendService, n.TempoQueryFrontendPort)},
		kv{"access", "proxy"}, kv{"editable", true}, kv{"isDefault", false},
		kv{"jsonData", ordered(kv{"httpMethod", "GET"},
			kv{"serviceMap", ordered(kv{"datasourceUid", prometheusDSUID})})})
}

// tempoValues is part (c), the tempo-distributed values for this version pair (PATCHES.md §4).
// Every name is a literal rendered from the release here: Kafka's address must be literal (§1.7),
// and fullnameOverride makes the Tempo names independent of whether R contains "tempo" (§1.8).
func tempoValues(s *spec) []kv {
	n := s.Names
	v := []kv{
		{"enabled", true},
		{"fullnameOverride", n.TempoPrefix},
		{"traces.otlp.grpc.enabled", true},
		{"storage.trace.backend", "local"},
		{"metricsGenerator.enabled", true},
		{"metricsGenerator.config.storage.remote_write", []map[string]any{{
			"url":            fmt.Sprintf("http://%s:%d/api/v1/write", n.PrometheusService, n.PrometheusPort),
			"send_exemplars": true}}},
		{strings.Join(s.ProcessorsPath, "."), s.Processors},
		{strings.Join(s.RetentionPath, "."), blockRetention},
	}
	if s.NeedsKafka {
		// One partition, so one block-builder and one live-store: the demo runs one broker.
		v = append(v,
			kv{"ingest.kafka.address", n.KafkaAddress},
			kv{"ingest.kafka.topic", "tempo-traces"},
			kv{"ingest.kafka.auto_create_topic_enabled", true},
			kv{"ingest.kafka.auto_create_topic_default_partitions", 1},
			kv{"blockBuilder.replicas", 1},
			kv{"liveStore.replicas", 1})
	}
	return v
}

// (f) for demos whose datasources are chart files, which the demo does not template (§1.7): a
// new file with literal names, next to the demo's own provisioning files (§3.2).
func patchDatasourceFile(c *chart.Chart, s *spec, _ Options) error {
	if !s.DatasourcesInFiles {
		return nil
	}
	promFound := false
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Name, grafanaDatasourceDir) {
			continue
		}
		if f.Name == tempoDatasourceFile {
			return layoutErr(c, f.Name, errors.New("file already exists"))
		}
		var file struct {
			Datasources []struct{ UID, Type string } `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(f.Data, &file); err == nil {
			for _, d := range file.Datasources {
				promFound = promFound || (d.UID == prometheusDSUID && d.Type == "prometheus")
			}
		}
	}
	if !promFound {
		return layoutErr(c, grafanaDatasourceDir, fmt.Errorf("no provisioning file defines the prometheus datasource %s", prometheusDSUID))
	}
	doc := ordered(kv{"apiVersion", 1}, kv{"datasources", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq",
		Content: []*yaml.Node{tempoDatasource(s)}}})
	data, err := encodeYAMLDoc(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}})
	if err != nil {
		return err
	}
	file := &chart.File{Name: tempoDatasourceFile, Data: data}
	c.Files = append(c.Files, file)
	c.Raw = append(c.Raw, file)
	return nil
}

// checkTempoLayout makes sure every value part (c) sets lands where the tempo chart has a place
// for it, so a renamed key in some chart version fails loudly instead of being ignored the way
// `global_overrides` silently is from 1.33.0 on (PATCHES.md §2). Every key on the way that exists
// must be a mapping, and at least the first two levels (or the whole parent path, if shorter)
// must exist: leaves and the insides of an empty `defaults: {}` may be new.
func checkTempoLayout(t *chart.Chart, s *spec) error {
	for _, p := range tempoValues(s) {
		if p.K == "enabled" { // read by the parent's condition, not by the tempo chart
			continue
		}
		path := strings.Split(p.K, ".")
		parents := path[:len(path)-1]
		cur := map[string]any(t.Values)
		depth := 0
		for _, key := range parents {
			next, ok := cur[key]
			if !ok {
				break
			}
			m, ok := next.(map[string]any)
			if !ok {
				return layoutErr(t, chartutil.ValuesfileName, &pathError{strings.Join(path[:depth+1], "."), "mapping"})
			}
			cur, depth = m, depth+1
		}
		if depth < min(len(parents), 2) {
			return layoutErr(t, chartutil.ValuesfileName, &pathError{strings.Join(path[:depth+1], "."), "mapping"})
		}
	}
	return nil
}

// patchedHash identifies what an install would apply: the two packages by digest, the patched
// files (Raw holds the demo's files including the patched ones) and the user values.
func patchedHash(c *chart.Chart, demoDigest, tempoDigest string, user map[string]any) (string, error) {
	h := sha256.New()
	raw := slices.Clone(c.Raw)
	slices.SortFunc(raw, func(a, b *chart.File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range raw {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	fmt.Fprintf(h, "demo\x00%s\x00tempo\x00%s\x00", demoDigest, tempoDigest)
	uv, err := json.Marshal(user) // encoding/json sorts map keys, so equal values hash equally
	if err != nil {
		return "", reason.Wrap(reason.BadValues, err, "", "values given with -f/--set cannot be encoded")
	}
	h.Write(uv)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cloneChart copies what Patch edits and what a render mutates (Helm's dependency processing
// rewrites Metadata.Dependencies, the subchart list and Values in place), sharing the rest.
func cloneChart(c *chart.Chart) *chart.Chart {
	md := *c.Metadata
	md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
	for i, d := range c.Metadata.Dependencies {
		dd := *d
		md.Dependencies[i] = &dd
	}
	n := &chart.Chart{
		Raw: slices.Clone(c.Raw), Metadata: &md, Lock: c.Lock, Templates: c.Templates,
		Values: deepCopy(c.Values).(map[string]any), Schema: c.Schema, Files: slices.Clone(c.Files),
	}
	for _, sub := range c.Dependencies() {
		n.AddDependency(cloneChart(sub))
	}
	return n
}

// mergeValues lays over onto base as Helm merges values files: maps key by key, anything else
// (lists included) replaced by over's. Neither argument is changed.
func mergeValues(base, over map[string]any) map[string]any {
	out := deepCopy(base).(map[string]any)
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case chartutil.Values:
		return deepCopy(map[string]any(t))
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}
