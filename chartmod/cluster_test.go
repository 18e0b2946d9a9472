package chartmod

import (
	"slices"
	"strings"
	"testing"
)

// The kubeVersion constraints come from the charts themselves (tempo-distributed 3.3.0's
// Chart.yaml says ^1.25.0-0, as does the demo's grafana subchart), and a cluster outside them is
// named.
func TestKubeVersionsFromTheCharts(t *testing.T) {
	o, _ := fixtureOptions(t, "0.41.0", "3.3.0", "kv")
	p, r := prepare(t, o)
	needs := p.KubeVersions(r)
	var tempo *KubeVersionNeed
	for i, n := range needs {
		if strings.HasPrefix(n.Chart, TempoChart+" ") {
			tempo = &needs[i]
		}
	}
	if tempo == nil || tempo.Constraint != "^1.25.0-0" || tempo.Chart != TempoChart+" 3.3.0" {
		t.Fatalf("KubeVersions = %+v, want tempo-distributed 3.3.0 with ^1.25.0-0", needs)
	}
	if got := Refuses(needs, "v1.24.17"); !slices.Contains(got, *tempo) {
		t.Errorf("Refuses(v1.24.17) = %+v, want tempo-distributed named", got)
	}
	for _, v := range []string{"v1.25.0", "v1.31.2", "v1.30.4-eks-a737599"} {
		if got := Refuses(needs, v); len(got) > 0 {
			t.Errorf("Refuses(%s) = %+v, want none", v, got)
		}
	}
}

// Tempo's claims: a user's values switch the ingester's persistence on; Storage.Ephemeral
// switches it off again (no claims at all), Storage.Class names their class.
func TestStorageOptionsReachTempoClaims(t *testing.T) {
	o, _ := fixtureOptions(t, DefaultDemoVersion, DefaultTempoVersion, "st")
	o.SetValues = []string{TempoChart + ".ingester.persistence.enabled=true"}
	tempoClaims := func(st Storage) []Claim {
		t.Helper()
		o := o
		o.Storage = st
		_, r := prepare(t, o)
		var out []Claim
		for _, c := range r.Claims() {
			if c.Tempo {
				out = append(out, c)
			}
		}
		return out
	}
	claims := tempoClaims(Storage{})
	if len(claims) == 0 || claims[0].Class != nil || !strings.Contains(claims[0].Owner, "ingester") {
		t.Fatalf("with persistence on: Tempo claims %+v, want the ingester's on the default class", claims)
	}
	if claims := tempoClaims(Storage{Ephemeral: true}); len(claims) > 0 {
		t.Errorf("Storage.Ephemeral: Tempo claims %+v, want none", claims)
	}
	claims = tempoClaims(Storage{Class: "gold"})
	if len(claims) == 0 || claims[0].Class == nil || *claims[0].Class != "gold" {
		t.Errorf("Storage.Class gold: Tempo claims %+v, want class gold", claims)
	}
}
