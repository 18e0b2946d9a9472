package chartmod

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// Values that leave a hop of the service graph's path with nothing behind it fail the render,
// on every tested pair: each hop's Service must select a workload with replicas > 0 that exposes
// the port, and the remote write must reach the Prometheus Service's real port.
func TestPathChecksCatchAMissingHop(t *testing.T) {
	type breakage struct {
		name    string
		set     func(p Pair) []string // nil: not applicable to the pair
		failing string                // a check that must fail
		mention string                // in its detail
	}
	daemonSetCollector := func(p Pair) bool { return p.Demo == "0.41.0" }
	cases := []breakage{
		{"distributor scaled to 0", func(Pair) []string { return []string{"tempo-distributed.distributor.replicas=0"} },
			"trace path", "0 replicas"},
		{"metrics-generator scaled to 0", func(Pair) []string { return []string{"tempo-distributed.metricsGenerator.replicas=0"} },
			"trace path", "metrics-generator"},
		{"ingesters scaled to 0", func(p Pair) []string {
			if strings.HasPrefix(p.Tempo, "3.") { // Tempo 3 has no ingesters: Kafka carries the writes
				return nil
			}
			return []string{"tempo-distributed.ingester.replicas=0"}
		}, "trace path", "ingester"},
		{"collector scaled to 0", func(p Pair) []string {
			if daemonSetCollector(p) { // a DaemonSet has no replica count to set to 0
				return nil
			}
			return []string{"opentelemetry-collector.replicaCount=0"}
		}, "trace path", "0 replicas"},
		{"collector Service off", func(Pair) []string { return []string{"opentelemetry-collector.service.enabled=false"} },
			"trace path", "no Service"},
		{"Prometheus Service on another port", func(Pair) []string { return []string{"prometheus.server.service.servicePort=9091"} },
			"trace path", "no port 9090"},
	}
	for _, pair := range TestedPairs() {
		t.Run(pair.Demo+"_"+pair.Tempo, func(t *testing.T) {
			o, _ := fixtureOptions(t, pair.Demo, pair.Tempo, "demo")
			ctx := context.Background()
			pulled, err := Pull(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				set := c.set(pair)
				if set == nil {
					continue
				}
				oc := o
				oc.SetValues = set
				p, err := Patch(ctx, pulled, oc)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				r, err := Render(p, oc)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				rep := Check(r)
				if rep.Err() == nil {
					t.Errorf("%s (--set %s): every check passed:\n%s", c.name, strings.Join(set, " --set "), rep)
					continue
				}
				i := slices.IndexFunc(rep.Results, func(x Result) bool { return x.Check == c.failing })
				if i < 0 || rep.Results[i].OK || !strings.Contains(rep.Results[i].Detail, c.mention) {
					t.Errorf("%s: want %s to fail mentioning %q:\n%s", c.name, c.failing, c.mention, rep)
				} else {
					t.Logf("%s: ✗ %s (%s): %s", c.name, c.failing, rep.Results[i].Object, rep.Results[i].Detail)
				}
			}
		})
	}
}
