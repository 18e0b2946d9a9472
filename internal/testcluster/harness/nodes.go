package harness

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Node is one of the cluster's fake (kwok) nodes: its name, the capacity it reports (also its
// allocatable: minikube reserves nothing, see the minikube double) and extra labels.
type Node struct {
	Name   string            `json:"name"`
	CPUs   string            `json:"cpus"`   // a quantity: "4", "1500m"
	Memory string            `json:"memory"` // a quantity: "8Gi", "4096Mi"
	Arch   string            `json:"arch"`   // kubernetes.io/arch and status.nodeInfo.architecture
	Labels map[string]string `json:"labels,omitempty"`
}

// The default node is minikube's default size for svcgraph: one node of 4 CPUs and 8Gi.
const (
	DefaultNodeCPUs   = "4"
	DefaultNodeMemory = "8Gi"
	DefaultNodeArch   = "amd64"
)

// DefaultNodes is the cluster every test gets unless it asks for another shape.
func DefaultNodes() []Node {
	return UniformNodes(1, DefaultNodeCPUs, DefaultNodeMemory, DefaultNodeArch)
}

// UniformNodes is n nodes of one size, named as minikube names a profile's nodes: the first
// after the profile (NodeName), the others NodeName-m02, NodeName-m03, …
func UniformNodes(n int, cpus, memory, arch string) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: nodeName(i), CPUs: cpus, Memory: memory, Arch: arch}
	}
	return nodes
}

func nodeName(i int) string {
	if i == 0 {
		return NodeName
	}
	return fmt.Sprintf("%s-m%02d", NodeName, i+1)
}

// ParseNode reads one --node value: NAME[:KEY=VALUE,…] with keys cpus, memory, arch and label
// (repeatable, its value KEY=VALUE). Unset sizes are the defaults.
//
//	minikube-m02:cpus=2,memory=4Gi,arch=arm64,label=pool=small
func ParseNode(s string) (Node, error) {
	name, rest, _ := strings.Cut(s, ":")
	n := Node{Name: name, CPUs: DefaultNodeCPUs, Memory: DefaultNodeMemory, Arch: DefaultNodeArch}
	if rest != "" {
		for _, field := range strings.Split(rest, ",") {
			key, value, ok := strings.Cut(field, "=")
			if !ok {
				return Node{}, fmt.Errorf("--node %q: %q is not KEY=VALUE", s, field)
			}
			switch key {
			case "cpus":
				n.CPUs = value
			case "memory":
				n.Memory = value
			case "arch":
				n.Arch = value
			case "label":
				lk, lv, ok := strings.Cut(value, "=")
				if !ok {
					return Node{}, fmt.Errorf("--node %q: label %q is not KEY=VALUE", s, value)
				}
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels[lk] = lv
			default:
				return Node{}, fmt.Errorf("--node %q: unknown key %q (want cpus, memory, arch or label)", s, key)
			}
		}
	}
	return n, nil
}

// ValidateNodes checks names, sizes and labels before anything starts.
func ValidateNodes(nodes []Node) error {
	if len(nodes) == 0 {
		return fmt.Errorf("no nodes: the cluster needs at least one")
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
			return fmt.Errorf("node name %q: %s", n.Name, strings.Join(errs, "; "))
		}
		if seen[n.Name] {
			return fmt.Errorf("node name %q given twice", n.Name)
		}
		seen[n.Name] = true
		for what, q := range map[string]string{"cpus": n.CPUs, "memory": n.Memory} {
			v, err := resource.ParseQuantity(q)
			if err != nil || v.Sign() <= 0 {
				return fmt.Errorf("node %s: %s %q is not a positive quantity (e.g. 2, 1500m, 4Gi)", n.Name, what, q)
			}
		}
		if n.Arch == "" {
			return fmt.Errorf("node %s: no architecture", n.Name)
		}
		for k, v := range n.Labels {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return fmt.Errorf("node %s: label key %q: %s", n.Name, k, strings.Join(errs, "; "))
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return fmt.Errorf("node %s: label %s value %q: %s", n.Name, k, v, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

// SameNodes says whether two node lists describe the same cluster shape.
func SameNodes(a, b []Node) bool {
	return slices.EqualFunc(a, b, func(x, y Node) bool {
		return x.Name == y.Name && x.CPUs == y.CPUs && x.Memory == y.Memory && x.Arch == y.Arch &&
			maps.Equal(x.Labels, y.Labels)
	})
}

// labels are the node's labels as minikube sets them: the first node is the control plane and
// the profile's primary; extra labels win.
func (n Node) labels(primary bool) map[string]string {
	l := map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": n.Arch,
		"minikube.k8s.io/primary": fmt.Sprint(primary), "type": "kwok",
	}
	if primary {
		l["node-role.kubernetes.io/control-plane"] = ""
	}
	maps.Copy(l, n.Labels)
	return l
}

// Flag is the node as a --node value, which ParseNode reads back.
func (n Node) Flag() string {
	fields := []string{"cpus=" + n.CPUs, "memory=" + n.Memory, "arch=" + n.Arch}
	for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
		fields = append(fields, "label="+k+"="+n.Labels[k])
	}
	return n.Name + ":" + strings.Join(fields, ",")
}
