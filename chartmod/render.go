package chartmod

import (
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Object is one rendered Kubernetes object.
type Object struct {
	Kind, Name, Namespace string
	Source                string // template path, e.g. opentelemetry-demo/charts/tempo-distributed/templates/…
	Fields                map[string]any
}

// Rendered is the output of a client-only install of a patched chart.
type Rendered struct {
	Manifest string // every object and hook, as `helm template` prints them
	Objects  []Object
	Names    Names
	Pair     Pair

	spec      *spec
	condition string // the tempo dependency's condition in the patched Chart.yaml
	offline   bool   // rendered with the offline post-renderer: the pull-policy check applies
	switchSet bool   // whether the chart's values hold a boolean at the condition path
}

// Render installs p client-only (DryRun, ClientOnly, explicit KubeVersion: an SDK build would
// otherwise assume Kubernetes v1.20, PATCHES.md §1.9) and parses every object. It touches no
// cluster, and p stays as it was. Helm's template engine is most of the time of a warm `up`, and
// its output depends only on the patched chart and values (p.Hash), the release, namespace and
// Kubernetes version, and this binary; so the manifest is kept in o.CacheDir under those, and an
// unchanged chart is parsed from there. The parse and the checks still run on it every time.
func Render(p *Patched, o Options) (*Rendered, error) {
	o = o.withDefaults()
	kube, err := chartutil.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, reason.Wrap(reason.Usage, err, "Pass a Kubernetes version like v1.34.0.", "invalid Kubernetes version %q", o.KubeVersion)
	}
	r := &Rendered{Names: p.Names, Pair: p.Pair, spec: p.spec, offline: p.PostRenderer != nil}
	key := renderKey(p, o, kube)
	hit := false
	if manifest, ok := cachedRender(o.CacheDir, key); ok {
		if objs, err := parseManifest(manifest); err == nil { // else render afresh
			r.Manifest, r.Objects, hit = manifest, objs, true
		}
	}
	if !hit {
		if r.Manifest, err = helmRender(p, o, kube); err != nil {
			return nil, err
		}
		if r.Objects, err = parseManifest(r.Manifest); err != nil {
			return nil, err
		}
		keepRender(o.CacheDir, key, r.Manifest)
	}
	for _, d := range p.Chart.Metadata.Dependencies {
		if d.Name == TempoChart {
			r.condition = d.Condition
		}
	}
	if tv, ok := p.Chart.Values[TempoChart].(map[string]any); ok {
		_, r.switchSet = tv["enabled"].(bool)
	}
	return r, nil
}

// helmRender is the client-only install itself: every object and hook, as `helm template`
// prints them.
func helmRender(p *Patched, o Options, kube *chartutil.KubeVersion) (string, error) {
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = o.Release, o.Namespace
	inst.KubeVersion = kube
	inst.PostRenderer = p.PostRenderer
	// Helm's dependency processing rewrites the chart and values in place: render copies.
	ch := p.ChartCopy()
	// Helm refuses a chart whose kubeVersion excludes the render's assumed version; the fit step
	// compares every chart's kubeVersion with the real API server's instead (KubeVersions), so the
	// render does not refuse a cluster it has not seen.
	ch.Metadata.KubeVersion = ""
	rel, err := inst.Run(ch, deepCopy(p.Values).(map[string]any))
	if err != nil {
		return "", reason.Wrap(reason.ChartCheck, err, "Check your -f/--set values; without them the patched chart renders.",
			"the patched %s chart does not render", DemoChart)
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s", h.Path, h.Manifest)
	}
	return b.String(), nil
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.*)$`)
)

func parseManifest(manifest string) ([]Object, error) {
	var objs []Object
	for _, doc := range docSeparator.Split(manifest, -1) {
		source := ""
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			source = strings.TrimSpace(m[1])
		}
		var fields map[string]any
		if err := yaml.Unmarshal([]byte(doc), &fields); err != nil {
			return nil, reason.Wrap(reason.ChartCheck, err, "", "rendered object from %s is not valid YAML", source)
		}
		if len(fields) == 0 {
			continue
		}
		kind, _ := fields["kind"].(string)
		md, _ := fields["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		ns, _ := md["namespace"].(string)
		objs = append(objs, Object{Kind: kind, Name: name, Namespace: ns, Source: source, Fields: fields})
	}
	return objs, nil
}

// Find returns the rendered object of that kind and name, or nil.
func (r *Rendered) Find(kind, name string) *Object {
	for i := range r.Objects {
		if r.Objects[i].Kind == kind && r.Objects[i].Name == name {
			return &r.Objects[i]
		}
	}
	return nil
}

// TempoObjects are the objects the tempo-distributed subchart rendered, or that carry its prefix.
func (r *Rendered) TempoObjects() []Object {
	var out []Object
	for _, o := range r.Objects {
		if strings.Contains(o.Source, "/charts/"+TempoChart+"/") || strings.HasPrefix(o.Name, r.Names.TempoPrefix+"-") {
			out = append(out, o)
		}
	}
	return out
}
