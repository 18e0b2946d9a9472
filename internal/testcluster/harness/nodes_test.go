package harness

import (
	"reflect"
	"strings"
	"testing"
)

func TestNodeFlagRoundTrip(t *testing.T) {
	for _, n := range []Node{
		DefaultNodes()[0],
		{Name: "small-1", CPUs: "1500m", Memory: "2Gi", Arch: "arm64", Labels: map[string]string{"pool": "small", "example.com/zone": "a"}},
	} {
		got, err := ParseNode(n.Flag())
		if err != nil {
			t.Fatalf("ParseNode(%q): %v", n.Flag(), err)
		}
		if !reflect.DeepEqual(got, n) {
			t.Errorf("ParseNode(%q) = %+v, want %+v", n.Flag(), got, n)
		}
	}
	if got, _ := ParseNode("worker"); got.CPUs != DefaultNodeCPUs || got.Memory != DefaultNodeMemory || got.Arch != DefaultNodeArch {
		t.Errorf("ParseNode(worker) = %+v, want the default size", got)
	}
	for _, bad := range []string{"w:cpus", "w:disk=1Gi", "w:label=novalue"} {
		if _, err := ParseNode(bad); err == nil {
			t.Errorf("ParseNode(%q) accepted", bad)
		}
	}
}

func TestUniformNodesAreNamedAsMinikubeNamesThem(t *testing.T) {
	var names []string
	for _, n := range UniformNodes(3, "2", "2Gi", "amd64") {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, " "); got != "minikube minikube-m02 minikube-m03" {
		t.Errorf("names = %s", got)
	}
}

func TestValidateNodes(t *testing.T) {
	ok := UniformNodes(2, "2", "4Gi", "amd64")
	if err := ValidateNodes(ok); err != nil {
		t.Fatalf("ValidateNodes(%v): %v", ok, err)
	}
	for what, nodes := range map[string][]Node{
		"none":      nil,
		"twice":     {ok[0], ok[0]},
		"bad name":  {{Name: "Not_A_Name", CPUs: "1", Memory: "1Gi", Arch: "amd64"}},
		"bad cpus":  {{Name: "a", CPUs: "two", Memory: "1Gi", Arch: "amd64"}},
		"no memory": {{Name: "a", CPUs: "1", Memory: "0", Arch: "amd64"}},
		"bad label": {{Name: "a", CPUs: "1", Memory: "1Gi", Arch: "amd64", Labels: map[string]string{"a b": "c"}}},
	} {
		if err := ValidateNodes(nodes); err == nil {
			t.Errorf("%s: ValidateNodes(%+v) accepted", what, nodes)
		}
	}
}
