package chartmod

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/svcgraph/svcgraph/internal/budget"
)

// Workload is one rendered object that runs pods, and what each of its pods asks a node for.
type Workload struct {
	Kind, Name string
	// Replicas is how many pods it runs at once: spec.replicas (default 1), a Job's parallelism;
	// for a DaemonSet it is 0 and PerNode is set: one pod on every node.
	Replicas int
	PerNode  bool
	// Requests and Limits of one pod, as the scheduler counts them (component-helpers'
	// PodRequests and PodLimits): the sum over containers and sidecars, or the largest init
	// container when that is more. A container with a limit and no request requests its limit,
	// as the API server defaults it.
	Requests, Limits budget.Amount
	// NoMemoryLimit names the containers (init containers too) that set no memory limit: they
	// may take any memory the node has.
	NoMemoryLimit []string
	NodeSelector  map[string]string
}

// Pods is how many pods the workload runs on a cluster of that many nodes.
func (w Workload) Pods(nodes int) int {
	if w.PerNode {
		return nodes
	}
	return w.Replicas
}

// Demand is what a rendered release asks of the cluster, workload by workload.
type Demand struct{ Workloads []Workload }

// Requests is the total the release requests on a cluster of that many nodes.
func (d Demand) Requests(nodes int) budget.Amount {
	var t budget.Amount
	for _, w := range d.Workloads {
		t = t.Add(w.Requests.Times(w.Pods(nodes)))
	}
	return t
}

// Limits is the total of the release's limits; a container without a limit counts nothing.
func (d Demand) Limits(nodes int) budget.Amount {
	var t budget.Amount
	for _, w := range d.Workloads {
		t = t.Add(w.Limits.Times(w.Pods(nodes)))
	}
	return t
}

// Pods lists every pod the release runs on these nodes, for budget.Pack: a DaemonSet's on each
// node its selector matches, bound there. Pods are named Kind/name, with #N for the replicas
// after the first and @node for a DaemonSet's.
func (d Demand) Pods(nodes []budget.Node) []budget.Pod {
	var pods []budget.Pod
	for _, w := range d.Workloads {
		name := w.Kind + "/" + w.Name
		if w.PerNode {
			for _, n := range nodes {
				if n.Matches(w.NodeSelector) {
					pods = append(pods, budget.Pod{Name: name + "@" + n.Name, Requests: w.Requests, NodeSelector: w.NodeSelector, Node: n.Name})
				}
			}
			continue
		}
		for i := range w.Replicas {
			n := name
			if i > 0 {
				n = fmt.Sprintf("%s#%d", name, i+1)
			}
			pods = append(pods, budget.Pod{Name: n, Requests: w.Requests, NodeSelector: w.NodeSelector})
		}
	}
	return pods
}

// DemandOf reads every workload of the rendered release: Deployments, StatefulSets,
// DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs and bare Pods. Helm hooks are
// left out: test hooks never run on install, and the others finish before the release's pods
// need their room.
func DemandOf(r *Rendered) (Demand, error) {
	var d Demand
	for _, o := range r.Objects {
		w, ok, err := workload(o)
		if err != nil {
			return Demand{}, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
		}
		if ok {
			d.Workloads = append(d.Workloads, w)
		}
	}
	return d, nil
}

// replicasPath is where each workload kind says how many pods it runs at once (default 1); a
// DaemonSet, which has none, runs one on every node.
var replicasPath = map[string][]string{
	"Deployment":            {"spec", "replicas"},
	"StatefulSet":           {"spec", "replicas"},
	"ReplicaSet":            {"spec", "replicas"},
	"ReplicationController": {"spec", "replicas"},
	"Job":                   {"spec", "parallelism"},
	"CronJob":               {"spec", "jobTemplate", "spec", "parallelism"},
}

// workload reads one object's pods through the same pod-spec table as Containers; a hook of any
// kind holds no room (see DemandOf).
func workload(o Object) (Workload, bool, error) {
	fields := podSpec(o.Kind, o.Fields)
	if fields == nil || isHook(o.Fields) {
		return Workload{}, false, nil
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return Workload{}, false, err
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return Workload{}, false, err
	}
	w := Workload{Kind: o.Kind, Name: o.Name, Replicas: 1}
	if o.Kind == "DaemonSet" {
		w.Replicas, w.PerNode = 0, true
	} else if path, ok := replicasPath[o.Kind]; ok {
		switch n := Field(o.Fields, path...).(type) {
		case int:
			w.Replicas = n
		case int64:
			w.Replicas = int(n)
		case float64:
			w.Replicas = int(n)
		}
	}
	defaultRequests(spec.Containers)
	defaultRequests(spec.InitContainers)
	pod := &corev1.Pod{Spec: spec}
	w.Requests = budget.Of(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	w.Limits = budget.Of(resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}))
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			w.NoMemoryLimit = append(w.NoMemoryLimit, c.Name)
		}
	}
	w.NodeSelector = spec.NodeSelector
	return w, true, nil
}

// defaultRequests does what the API server does to a container with a limit and no request:
// the request becomes the limit (Kubernetes' SetDefaults_Pod).
func defaultRequests(cs []corev1.Container) {
	for i := range cs {
		r := &cs[i].Resources
		for name, limit := range r.Limits {
			if _, ok := r.Requests[name]; !ok {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = limit
			}
		}
	}
}

// Biggest returns the n workloads that request the most memory in total on a cluster of that
// many nodes (then CPU, then name), biggest first.
func (d Demand) Biggest(n, nodes int) []Workload {
	ws := slices.Clone(d.Workloads)
	slices.SortStableFunc(ws, func(a, b Workload) int {
		ta, tb := a.Requests.Times(a.Pods(nodes)), b.Requests.Times(b.Pods(nodes))
		return cmp.Or(cmp.Compare(tb.Memory, ta.Memory), cmp.Compare(tb.MilliCPU, ta.MilliCPU),
			strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name))
	})
	return ws[:min(n, len(ws))]
}
