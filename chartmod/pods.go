package chartmod

import (
	"strings"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// podSpecPath is where each workload kind keeps the spec of the pods it runs.
var podSpecPath = map[string][]string{
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
	"Pod":                   {"spec"},
}

// containerLists are the pod spec's lists of containers, init containers first, as the kubelet
// starts them.
var containerLists = []string{"initContainers", "containers"}

// Pull policies, as the API server spells them.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// Container is one container of a workload the release runs.
type Container struct {
	Workload   string // Kind/name
	Name       string
	Init       bool
	Image      string // as rendered
	PullPolicy string // as rendered; "" leaves it to the API server (see EffectivePullPolicy)
}

// EffectivePullPolicy is the pull policy the container runs with: its own, else the API
// server's default, Always for an image tagged latest or not tagged at all, IfNotPresent for
// any other tag or a digest (Kubernetes' SetDefaults_Container).
func (c Container) EffectivePullPolicy() string {
	if c.PullPolicy != "" {
		return c.PullPolicy
	}
	if imageTag(c.Image) == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// imageTag is the tag of an image reference: "latest" when it has neither tag nor digest, ""
// when it has only a digest (as Kubernetes' parsers.ParseImageName reads it).
func imageTag(image string) string {
	name, _, hasDigest := strings.Cut(image, "@")
	last := name[strings.LastIndex(name, "/")+1:]
	if _, tag, ok := strings.Cut(last, ":"); ok {
		return tag
	}
	if hasDigest {
		return ""
	}
	return "latest"
}

// hookKinds are an object's Helm hooks ("pre-install", "test", ...), none when it is no hook.
func hookKinds(fields map[string]any) []string {
	hooks, _ := Field(fields, "metadata", "annotations", "helm.sh/hook").(string)
	var kinds []string
	for _, h := range strings.Split(hooks, ",") {
		if h = strings.TrimSpace(h); h != "" {
			kinds = append(kinds, h)
		}
	}
	return kinds
}

// isHook says whether an object is a Helm hook of any kind: it runs before or after the
// release's workloads, never beside them.
func isHook(fields map[string]any) bool { return len(hookKinds(fields)) > 0 }

// isTestHook says whether an object is a Helm test hook: it runs only with `helm test`, never
// on install, so its images are not part of what `up` runs.
func isTestHook(fields map[string]any) bool {
	for _, h := range hookKinds(fields) {
		if h == "test" || h == "test-success" || h == "test-failure" {
			return true
		}
	}
	return false
}

// podSpec returns the pod spec of a workload object, or nil when the object runs no pods.
func podSpec(kind string, fields map[string]any) map[string]any {
	path, ok := podSpecPath[kind]
	if !ok {
		return nil
	}
	spec, _ := Field(fields, path...).(map[string]any)
	return spec
}

// Containers lists every container the release runs on install: init containers and containers
// of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs
// and bare Pods, hooks included (a pre-install Job runs too) but test hooks left out.
func (r *Rendered) Containers() ([]Container, error) {
	var out []Container
	for _, o := range r.Objects {
		spec := podSpec(o.Kind, o.Fields)
		if spec == nil || isTestHook(o.Fields) {
			continue
		}
		for _, list := range containerLists {
			items, _ := spec[list].([]any)
			for _, item := range items {
				c, _ := item.(map[string]any)
				name, _ := c["name"].(string)
				image, _ := c["image"].(string)
				policy, _ := c["imagePullPolicy"].(string)
				if image == "" {
					return nil, reason.New(reason.ChartCheck, "Check your -f/--set values: every container needs an image.",
						"%s/%s: container %q has no image", o.Kind, o.Name, name)
				}
				out = append(out, Container{Workload: o.Kind + "/" + o.Name, Name: name,
					Init: list == "initContainers", Image: image, PullPolicy: policy})
			}
		}
	}
	return out, nil
}
