package steps

import (
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

const gi = 1 << 30

func demandOf(ws ...chartmod.Workload) chartmod.Demand { return chartmod.Demand{Workloads: ws} }

func TestJudgeBudgetRefusesWithTheTable(t *testing.T) {
	d := demandOf(
		chartmod.Workload{Kind: "Deployment", Name: "big", Replicas: 1, Requests: budget.Amount{MilliCPU: 100, Memory: 3 * gi}},
		chartmod.Workload{Kind: "Deployment", Name: "small", Replicas: 2, Requests: budget.Amount{Memory: gi / 2}},
		chartmod.Workload{Kind: "DaemonSet", Name: "agent", PerNode: true, Requests: budget.Amount{Memory: gi / 8}},
	)
	rooms := kube.NodeRooms{Nodes: []budget.Node{
		{Name: "n1", Allocatable: budget.Amount{MilliCPU: 2000, Memory: 2 * gi}},
		{Name: "n2", Allocatable: budget.Amount{MilliCPU: 2000, Memory: 2 * gi}},
	}}
	s := &Session{Config: Config{Profile: "svcgraph", CPUs: 2, MemoryMB: 2048}}
	err := s.judgeBudget(d, rooms)
	e := reason.Of(err)
	if e.Kind != reason.ClusterTooSmall {
		t.Fatalf("judgeBudget = %v, want %s", err, reason.ClusterTooSmall.ID)
	}
	for _, want := range []string{"1 pod fit on no node (2 nodes", "Deployment/big requests 100m CPU, 3Gi memory; node n",
		"Deployment/big", "DaemonSet/agent", "total (3 workloads)", "room left"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	for _, want := range []string{"svcgraph up --memory 4G --cpus 2", "--preset lite", "--set components.NAME.enabled=false"} {
		if !strings.Contains(e.Advise(), want) {
			t.Errorf("advice lacks %q: %s", want, e.Advise())
		}
	}
}

func TestJudgeBudgetFits(t *testing.T) {
	d := demandOf(chartmod.Workload{Kind: "Deployment", Name: "web", Replicas: 2,
		Requests: budget.Amount{MilliCPU: 100, Memory: gi / 2}, Limits: budget.Amount{Memory: 4 * gi}})
	s := &Session{Config: Config{Profile: "svcgraph", CPUs: 2, MemoryMB: 4096}}
	if err := s.judgeBudget(d, freshProfile(s.Config)); err != nil {
		t.Fatal(err)
	}
	free := 4*gi - int64(minikube.SystemPodsMemory)
	if want := "requests 200m CPU, 1Gi memory of 1250m CPU, " + budget.Memory(free) + " memory free on 1 node"; s.Budget != want {
		t.Errorf("budget %q, want %q", s.Budget, want)
	}
}
