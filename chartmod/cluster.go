package chartmod

import (
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// What the rendered release asks of the cluster it goes to: the API kinds, the Kubernetes
// versions its charts accept, and the storage its claims want. The fit step compares them with
// what the cluster has.

// ObjectKind is an apiVersion and kind the release creates.
type ObjectKind struct{ APIVersion, Kind string }

// Kinds lists the apiVersion/kind pairs of the objects `up` creates, each once, sorted. Test
// hooks are left out: only `helm test` creates them.
func (r *Rendered) Kinds() []ObjectKind {
	seen := map[ObjectKind]bool{}
	var out []ObjectKind
	for _, o := range r.Objects {
		if isTestHook(o.Fields) {
			continue
		}
		api, _ := o.Fields["apiVersion"].(string)
		k := ObjectKind{APIVersion: api, Kind: o.Kind}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].APIVersion < out[j].APIVersion
	})
	return out
}

// KubeVersionNeed is the kubeVersion constraint of one chart in the release.
type KubeVersionNeed struct {
	Chart      string // name and version: "tempo-distributed 2.26.2"
	Constraint string // as its Chart.yaml writes it: "^1.25.0-0"
}

// KubeVersions lists the kubeVersion constraints of the demo chart, of Tempo's, and of every
// subchart that renders objects in this release (a subchart switched off asks nothing). Helm
// itself checks only the chart it installs, which for the demo says nothing.
func (p *Patched) KubeVersions(r *Rendered) []KubeVersionNeed {
	var out []KubeVersionNeed
	var walk func(c *chart.Chart, path string, top bool)
	walk = func(c *chart.Chart, path string, top bool) {
		if c.Metadata.KubeVersion != "" && (top || rendersFrom(r, path)) {
			out = append(out, KubeVersionNeed{Chart: c.Name() + " " + c.Metadata.Version, Constraint: c.Metadata.KubeVersion})
		}
		for _, sub := range c.Dependencies() {
			walk(sub, path+"/charts/"+sub.Name(), top && sub.Name() == TempoChart)
		}
	}
	walk(p.Chart, p.Chart.Name(), true)
	return out
}

// rendersFrom says whether any object came from the templates of the chart at path.
func rendersFrom(r *Rendered, path string) bool {
	for _, o := range r.Objects {
		if strings.HasPrefix(o.Source, path+"/templates/") {
			return true
		}
	}
	return false
}

// Refuses returns the needs a cluster of that Kubernetes version (its gitVersion, e.g.
// v1.30.4-eks-a737599) does not meet, as Helm compares them.
func Refuses(needs []KubeVersionNeed, version string) []KubeVersionNeed {
	var out []KubeVersionNeed
	for _, n := range needs {
		if !chartutil.IsCompatibleRange(n.Constraint, version) {
			out = append(out, n)
		}
	}
	return out
}

// Claim is one PersistentVolumeClaim the release makes: on its own, or one per pod from a
// StatefulSet's volumeClaimTemplates.
type Claim struct {
	Owner string  // "StatefulSet/tempo-ingester" or "PersistentVolumeClaim/data"
	Name  string  // the claim (template) name
	Class *string // storageClassName; nil asks for the cluster's default class
	Tempo bool    // tempo-distributed renders it: the storage options reach it
}

// Claims lists the release's claims, in render order.
func (r *Rendered) Claims() []Claim {
	var out []Claim
	for _, o := range r.Objects {
		tempo := strings.Contains(o.Source, "/charts/"+TempoChart+"/")
		switch o.Kind {
		case "PersistentVolumeClaim":
			out = append(out, Claim{Owner: o.Kind + "/" + o.Name, Name: o.Name, Class: storageClassOf(o.Fields), Tempo: tempo})
		case "StatefulSet":
			templates, _ := Field(o.Fields, "spec", "volumeClaimTemplates").([]any)
			for _, t := range templates {
				name, _ := Field(t, "metadata", "name").(string)
				out = append(out, Claim{Owner: o.Kind + "/" + o.Name, Name: name, Class: storageClassOf(t), Tempo: tempo})
			}
		}
	}
	return out
}

func storageClassOf(claim any) *string {
	if c, ok := Field(claim, "spec", "storageClassName").(string); ok {
		return &c
	}
	return nil
}

// Storage says where the claims of Tempo's components go.
type Storage struct {
	// Ephemeral keeps Tempo's data in emptyDirs instead of claims: for a cluster without a
	// default StorageClass, where the claims would stay Pending for ever.
	Ephemeral bool
	// Class is the StorageClass of their claims; "" leaves the cluster's default.
	Class string
}

// storageValues lay the storage choice over every other value: the persistence switch or class
// of each Tempo component that can have claims in this version (versions.go).
func storageValues(s *spec, st Storage) map[string]any {
	m := map[string]any{}
	for _, comp := range s.TempoPersistence {
		if st.Ephemeral {
			setValue(m, []string{TempoChart, comp, "persistence", "enabled"}, false)
		}
		if st.Class != "" {
			setValue(m, []string{TempoChart, comp, "persistence", "storageClass"}, st.Class)
		}
	}
	return m
}
