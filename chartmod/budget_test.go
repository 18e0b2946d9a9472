package chartmod

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/budget"
)

const mi = 1 << 20

// Lite's targets (issue 14): minikube --memory 4G --cpus 2 holds it with the system pods.
const (
	liteRequestsTarget = 2560 * mi
	liteLimitsTarget   = 3584 * mi
)

// Every pair renders under both presets with every render check passing; lite meets its
// targets, runs each Tempo component once with requests and limits, and drops exactly the
// components its values switch off.
func TestPresetsEveryPair(t *testing.T) {
	for _, pair := range TestedPairs() {
		t.Run(pair.Demo+"_"+pair.Tempo, func(t *testing.T) {
			o, _ := fixtureOptions(t, pair.Demo, pair.Tempo, "my-otel-demo")
			demand := map[string]Demand{}
			for _, preset := range Presets {
				o.Preset = preset
				_, r := prepare(t, o)
				if rep := Check(r); rep.Err() != nil {
					t.Fatalf("%s: checks failed:\n%s", preset, rep)
				}
				d, err := DemandOf(r)
				if err != nil {
					t.Fatal(err)
				}
				demand[preset] = d
				prom := workloadNamed(d, r.Names.PrometheusService)
				if prom == nil || prom.Limits.Memory <= 300*mi {
					t.Errorf("%s: Prometheus %+v, want a memory limit above the demo's own", preset, prom)
				}
			}
			full, lite := demand[PresetFull], demand[PresetLite]
			if req, lim := lite.Requests(1), lite.Limits(1); req.Memory > liteRequestsTarget || lim.Memory > liteLimitsTarget {
				t.Errorf("lite requests %s and limits %s, want at most 2.5Gi and 3.5Gi", budget.Memory(req.Memory), budget.Memory(lim.Memory))
			}
			if full.Requests(1).Memory <= lite.Requests(1).Memory {
				t.Errorf("full requests %s, not more than lite's %s", budget.Memory(full.Requests(1).Memory), budget.Memory(lite.Requests(1).Memory))
			}
			s, err := resolve(o)
			if err != nil {
				t.Fatal(err)
			}
			dropped := droppedComponents(t, s)
			for _, w := range full.Workloads {
				kept := workloadNamed(lite, w.Name) != nil
				if drop := dropsWorkload(dropped, o.Release, w.Name); kept == drop {
					t.Errorf("%s %s: in lite %t, but its list drops it: %t", w.Kind, w.Name, kept, drop)
				}
			}
			for _, w := range lite.Workloads {
				if !strings.Contains(w.Name, "tempo") {
					continue
				}
				if w.Replicas != 1 || w.Requests.Memory == 0 || w.Limits.Memory == 0 || w.Requests.MilliCPU == 0 || len(w.NoMemoryLimit) > 0 {
					t.Errorf("lite %s %s: %d replicas, requests %v, limits %v, no memory limit in %v; want one replica with requests and limits",
						w.Kind, w.Name, w.Replicas, w.Requests, w.Limits, w.NoMemoryLimit)
				}
			}
		})
	}
}

func workloadNamed(d Demand, name string) *Workload {
	for i, w := range d.Workloads {
		if w.Name == name {
			return &d.Workloads[i]
		}
	}
	return nil
}

// droppedComponents reads lite's list: every value that switches something off.
func droppedComponents(t *testing.T, s *spec) []string {
	t.Helper()
	v, err := presetValues(s, PresetLite)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if Field(v, "opensearch", "enabled") == false {
		out = append(out, "opensearch")
	}
	comps, _ := v["components"].(map[string]any)
	for name, c := range comps {
		if Field(c, "enabled") == false {
			out = append(out, name)
		}
	}
	return out
}

// dropsWorkload matches a rendered workload name with a component name: demo 0.30.2 names
// Deployments R-lowercase(component), later demos use the component name itself.
func dropsWorkload(dropped []string, release, workload string) bool {
	for _, c := range dropped {
		if workload == release+"-"+strings.ToLower(c) || workload == c || workload == "otel-demo-"+c {
			return true
		}
	}
	return false
}

// The sums come from the pod specs as the scheduler counts them, whatever kind runs the pod.
func TestDemandFromObjects(t *testing.T) {
	const manifest = `
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  template:
    spec:
      initContainers:
      - name: migrate
        resources: {limits: {memory: 1Gi}}
      - name: proxy
        restartPolicy: Always
        resources: {requests: {memory: 64Mi, cpu: 50m}, limits: {memory: 128Mi}}
      containers:
      - name: app
        resources: {limits: {memory: 256Mi, cpu: "1"}}
      - name: log
---
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      nodeSelector: {kubernetes.io/arch: arm64}
      containers:
      - {name: a, resources: {requests: {memory: 100Mi}, limits: {memory: 200Mi}}}
---
kind: Pod
metadata: {name: test, annotations: {helm.sh/hook: test}}
spec:
  containers:
  - {name: t, resources: {limits: {memory: 5Gi}}}
---
kind: Job
metadata: {name: seed}
spec:
  parallelism: 2
  template:
    spec:
      containers:
      - {name: s, resources: {limits: {memory: 10Mi}}}
`
	var objs []Object
	for _, doc := range strings.Split(manifest, "---") {
		var f map[string]any
		if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
			t.Fatal(err)
		}
		md, _ := f["metadata"].(map[string]any)
		objs = append(objs, Object{Kind: f["kind"].(string), Name: md["name"].(string), Fields: f})
	}
	d, err := DemandOf(&Rendered{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Workloads) != 3 {
		t.Fatalf("%d workloads, want web, agent and seed (the test hook never runs on install)", len(d.Workloads))
	}
	web := d.Workloads[0]
	// The sidecar runs beside app (64Mi + 256Mi = 320Mi); the init container runs before the
	// sidecar starts and needs 1Gi alone, which is more.
	if web.Requests.Memory != 1<<30 || web.Requests.MilliCPU != 1050 {
		t.Errorf("web requests %v, want 1Gi (its largest init container) and 1050m (app's limit as request + the sidecar)", web.Requests)
	}
	if web.Limits.Memory != 1<<30 {
		t.Errorf("web limits %v, want 1Gi", web.Limits)
	}
	if strings.Join(web.NoMemoryLimit, ",") != "log" {
		t.Errorf("web containers without a memory limit: %v, want [log]", web.NoMemoryLimit)
	}
	agent := d.Workloads[1]
	if !agent.PerNode || agent.Pods(3) != 3 || agent.NodeSelector["kubernetes.io/arch"] != "arm64" {
		t.Errorf("agent %+v: want one pod per node with its selector", agent)
	}
	if got := d.Requests(2); got.Memory != 3<<30+2*100*mi+2*10*mi {
		t.Errorf("total requests on 2 nodes %s, want 3Gi + 2×100Mi + 2×10Mi", budget.Memory(got.Memory))
	}
	arm := map[string]string{"kubernetes.io/arch": "arm64"}
	nodes := []budget.Node{{Name: "n1", Labels: arm}, {Name: "n2", Labels: arm}, {Name: "x86"}}
	if got := d.Pods(nodes); len(got) != 3+2+2 || got[1].Name != "Deployment/web#2" || got[3].Node != "n1" || got[4].Node != "n2" {
		t.Errorf("pods %+v, want web's 3, agent's on the two arm64 nodes only, and seed's 2", got)
	}
	if b := d.Biggest(1, 1); b[0].Name != "web" {
		t.Errorf("biggest %v, want web", b)
	}
}
