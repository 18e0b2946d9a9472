package otelcol

import (
	"context"
	"fmt"
	"strings"

	"github.com/svcgraph/svcgraph/chartmod"
)

// Collector is the collector a rendered chart pair runs: its config (ConfigMap key relay), the
// version of its image, and its container's arguments.
type Collector struct {
	Pair    chartmod.Pair
	Config  string
	Version string   // the image tag without a leading v, e.g. 0.97.0
	Args    []string // the container's args, --config included
	Object  string   // Kind/name of the workload
}

// FeatureGates are the container's --feature-gates arguments: validate and run need them too
// (0.41.0's profiles pipeline exists only behind one).
func (c *Collector) FeatureGates() []string {
	var out []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--feature-gates") {
			out = append(out, a)
		}
	}
	return out
}

// CollectorOf finds the collector in a render: the workload whose pod mounts the collector
// ConfigMap, and that ConfigMap's relay key.
func CollectorOf(r *chartmod.Rendered) (*Collector, error) {
	name := r.Names.CollectorConfigMap
	cm := r.Find("ConfigMap", name)
	if cm == nil {
		return nil, fmt.Errorf("no ConfigMap %s in the render", name)
	}
	relay, _ := chartmod.Field(cm.Fields, "data", "relay").(string)
	if relay == "" {
		return nil, fmt.Errorf("ConfigMap %s has no key relay", name)
	}
	for _, o := range r.Objects {
		if o.Kind != "Deployment" && o.Kind != "DaemonSet" && o.Kind != "StatefulSet" {
			continue
		}
		spec := chartmod.Field(o.Fields, "spec", "template", "spec")
		if !mounts(spec, name) {
			continue
		}
		containers, _ := chartmod.Field(spec, "containers").([]any)
		for _, c := range containers {
			image, _ := chartmod.Field(c, "image").(string)
			if !strings.Contains(image, "opentelemetry-collector") {
				continue
			}
			_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
			if !ok {
				return nil, fmt.Errorf("%s/%s: collector image %q has no tag", o.Kind, o.Name, image)
			}
			col := &Collector{Pair: r.Pair, Config: relay, Version: strings.TrimPrefix(tag, "v"), Object: o.Kind + "/" + o.Name}
			for _, a := range asList(chartmod.Field(c, "args")) {
				col.Args = append(col.Args, fmt.Sprint(a))
			}
			return col, nil
		}
	}
	return nil, fmt.Errorf("no Deployment, DaemonSet or StatefulSet with a collector container mounts ConfigMap %s", name)
}

func mounts(podSpec any, configMap string) bool {
	for _, v := range asList(chartmod.Field(podSpec, "volumes")) {
		if chartmod.Field(v, "configMap", "name") == configMap {
			return true
		}
	}
	return false
}

func asList(v any) []any { l, _ := v.([]any); return l }

// Render adds the chart repositories, pulls, patches and renders the pair o names (as `svcgraph
// render` does) and returns its collector.
func Render(ctx context.Context, o chartmod.Options) (*Collector, error) {
	if err := chartmod.AddRepos(ctx, o); err != nil {
		return nil, err
	}
	pulled, err := chartmod.Pull(ctx, o)
	if err != nil {
		return nil, err
	}
	p, err := chartmod.Patch(ctx, pulled, o)
	if err != nil {
		return nil, err
	}
	r, err := chartmod.Render(p, o)
	if err != nil {
		return nil, err
	}
	return CollectorOf(r)
}
