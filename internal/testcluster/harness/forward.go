package harness

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kwok's port-forward API (kwok.x-k8s.io/v1alpha1). The harness enables these kinds as CRDs so
// that rules can change while the cluster runs; it talks to them through the dynamic client so
// the main module need not depend on kwok.
var (
	PortForwardGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"}
	ClusterPortForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}
)

// ClusterPortForwardName is the harness's cluster-wide rule, built from --forward-to and --forward.
const ClusterPortForwardName = "svcgraph-testcluster"

// Target is a local address a forwarded pod port is sent to.
type Target struct {
	Host string
	Port int32
}

func (t Target) String() string { return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))) }

// ParseTarget parses HOST:PORT.
func ParseTarget(s string) (Target, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: want HOST:PORT: %w", s, err)
	}
	p, err := parsePort(port)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return Target{Host: host, Port: p}, nil
}

// Forward sends one pod port (of any pod the rule covers) to a local target.
type Forward struct {
	PodPort int32
	Target  Target
}

// ParseForward parses PORT=HOST:PORT, e.g. 9090=127.0.0.1:19090.
func ParseForward(s string) (Forward, error) {
	port, target, ok := strings.Cut(s, "=")
	if !ok {
		return Forward{}, fmt.Errorf("forward %q: want PORT=HOST:PORT", s)
	}
	p, err := parsePort(port)
	if err != nil {
		return Forward{}, fmt.Errorf("forward %q: %w", s, err)
	}
	t, err := ParseTarget(target)
	if err != nil {
		return Forward{}, fmt.Errorf("forward %q: %w", s, err)
	}
	return Forward{PodPort: p, Target: t}, nil
}

func parsePort(s string) (int32, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return int32(p), nil
}

// forwardsSpec renders kwok's spec.forwards: one rule per pod port, then the catch-all (a rule
// without ports) when defaultTarget is set. kwok picks the rule listing the port first.
func forwardsSpec(forwards []Forward, defaultTarget *Target) []any {
	var out []any
	for _, f := range forwards {
		out = append(out, map[string]any{
			"ports":  []any{int64(f.PodPort)},
			"target": map[string]any{"address": f.Target.Host, "port": int64(f.Target.Port)},
		})
	}
	if defaultTarget != nil {
		out = append(out, map[string]any{
			"target": map[string]any{"address": defaultTarget.Host, "port": int64(defaultTarget.Port)},
		})
	}
	return out
}

// PortForwardObject is a namespaced kwok PortForward for one pod. Named after the pod, it wins
// over the cluster-wide rule for every port of that pod, so list every port the test uses.
func PortForwardObject(namespace, pod string, forwards []Forward, defaultTarget *Target) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "PortForward",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec":       map[string]any{"forwards": forwardsSpec(forwards, defaultTarget)},
	}}
}

func clusterPortForwardObject(forwards []Forward, defaultTarget *Target) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterPortForward",
		"metadata":   map[string]any{"name": ClusterPortForwardName},
		"spec":       map[string]any{"forwards": forwardsSpec(forwards, defaultTarget)},
	}}
}
