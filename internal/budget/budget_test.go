package budget

import (
	"testing"
)

const gi = 1 << 30

func TestPackNamesThePodThatFitsNowhere(t *testing.T) {
	nodes := []Node{
		{Name: "a", Allocatable: Amount{2000, 2 * gi}},
		{Name: "b", Allocatable: Amount{2000, 2 * gi}},
		{Name: "c", Allocatable: Amount{2000, 2 * gi}},
	}
	pods := []Pod{
		{Name: "big", Requests: Amount{100, 2*gi + gi/2}},
		{Name: "s1", Requests: Amount{100, gi}},
		{Name: "s2", Requests: Amount{100, gi}},
	}
	// The sum (4.5Gi) is below the nodes' 6Gi, but big fits on no single node.
	p := Pack(pods, nodes)
	if len(p.Unplaced) != 1 || p.Unplaced[0].Pod.Name != "big" {
		t.Fatalf("unplaced = %+v, want only big", p.Unplaced)
	}
	if u := p.Unplaced[0]; u.Best == "" || u.Missing.Memory != gi/2 {
		t.Errorf("big: best node %q missing %v, want a node short of 512Mi", u.Best, u.Missing)
	}
	if len(p.On) != 2 {
		t.Errorf("placed %v, want s1 and s2", p.On)
	}
}

// The largest pod goes first, and each pod onto the tightest node that holds it, so the other
// pods' requests already on a node count.
func TestPackLargestFirstOntoTheTightestNode(t *testing.T) {
	nodes := []Node{
		{Name: "small", Allocatable: Amount{4000, 1 * gi}},
		{Name: "large", Allocatable: Amount{4000, 3 * gi}, Used: Amount{0, gi / 2}},
	}
	pods := []Pod{{Name: "tiny", Requests: Amount{10, gi / 4}}, {Name: "wide", Requests: Amount{10, 2 * gi}}}
	p := Pack(pods, nodes)
	if len(p.Unplaced) != 0 {
		t.Fatalf("unplaced %+v", p.Unplaced)
	}
	if p.On["wide"] != "large" || p.On["tiny"] != "large" {
		t.Errorf("placement %v, want both on large (wide fits only there, then large is the tighter)", p.On)
	}
	if got := p.Nodes[1].Used.Memory; got != gi/2+2*gi+gi/4 {
		t.Errorf("large node used %s after packing, want 2.8Gi (the other pod's 512Mi counted)", Memory(got))
	}
}

func TestPackHonoursNodesAndSelectors(t *testing.T) {
	nodes := []Node{
		{Name: "amd", Labels: map[string]string{"kubernetes.io/arch": "amd64"}, Allocatable: Amount{1000, gi}},
		{Name: "arm", Labels: map[string]string{"kubernetes.io/arch": "arm64"}, Allocatable: Amount{1000, gi}},
	}
	pods := []Pod{
		{Name: "ds@amd", Node: "amd", Requests: Amount{500, gi / 2}},
		{Name: "ds@arm", Node: "arm", Requests: Amount{500, gi / 2}},
		{Name: "arm-only", NodeSelector: map[string]string{"kubernetes.io/arch": "arm64"}, Requests: Amount{600, gi / 4}},
		{Name: "nowhere", NodeSelector: map[string]string{"pool": "gpu"}, Requests: Amount{1, 1}},
	}
	p := Pack(pods, nodes)
	if p.On["ds@amd"] != "amd" || p.On["ds@arm"] != "arm" {
		t.Errorf("DaemonSet pods on %v", p.On)
	}
	var names []string
	for _, u := range p.Unplaced {
		names = append(names, u.Pod.Name)
	}
	// arm-only needs 600m CPU; the arm node has 500m left after its DaemonSet pod.
	if len(names) != 2 || names[0] != "arm-only" || names[1] != "nowhere" {
		t.Fatalf("unplaced %v, want arm-only and nowhere", names)
	}
	if p.Unplaced[0].Best != "arm" || p.Unplaced[0].Missing.MilliCPU != 100 {
		t.Errorf("arm-only: %+v, want node arm short of 100m CPU", p.Unplaced[0])
	}
	if p.Unplaced[1].Best != "" {
		t.Errorf("nowhere: best %q, want none (no node matches its selector)", p.Unplaced[1].Best)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{CPU(2000), "2"}, {CPU(1500), "1500m"}, {Memory(2*gi + gi/2), "2.5Gi"}, {Memory(3 * gi), "3Gi"},
		{Memory(300 << 20), "300Mi"}, {Memory(-512 << 20), "-512Mi"}, {Amount{250, gi}.String(), "250m CPU, 1Gi memory"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
