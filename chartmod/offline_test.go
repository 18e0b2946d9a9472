package chartmod

import (
	"context"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Every supported pair: an online render leaves some containers pulling Always (the demo's
// busybox:latest init containers), an offline render of the same chart sets every one of them
// to IfNotPresent, passes the pull-policy check, and is another release (hash) than the online one.
func TestOfflineRenderPullsIfNotPresent(t *testing.T) {
	for _, pair := range TestedPairs() {
		t.Run(pair.Demo+"_"+pair.Tempo, func(t *testing.T) {
			o, _ := fixtureOptions(t, pair.Demo, pair.Tempo, "my-otel-demo")
			online, onlineRendered := prepare(t, o)
			before, err := onlineRendered.Containers()
			if err != nil {
				t.Fatal(err)
			}
			always := 0
			for _, c := range before {
				if c.EffectivePullPolicy() == PullAlways {
					always++
				}
			}
			if pair.Demo == "0.30.2" && always == 0 {
				t.Errorf("the online render of %s has no container pulling Always; the busybox init containers should", pair)
			}
			onlineChecks := Check(onlineRendered).Results
			for _, res := range onlineChecks {
				if res.Check == "pull policy" {
					t.Errorf("the online render runs the pull-policy check")
				}
			}

			o.Offline = true
			ctx := context.Background()
			pulled, err := Pull(ctx, o) // from the cache the online pull left
			if err != nil {
				t.Fatalf("offline Pull after an online one: %v", err)
			}
			p, err := Patch(ctx, pulled, o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Hash == online.Hash {
				t.Errorf("the offline release has the online hash %s: switching would not upgrade it", p.Hash)
			}
			r, err := Render(p, o)
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(r)
			if err := rep.Err(); err != nil {
				t.Fatalf("offline render checks failed:\n%s", rep)
			}
			if len(rep.Results) != len(onlineChecks)+1 {
				t.Errorf("the offline render runs %d checks, the online one %d: want one more", len(rep.Results), len(onlineChecks))
			}
			last := rep.Results[len(rep.Results)-1]
			if last.Check != "pull policy" || !last.OK {
				t.Fatalf("the last check is %+v, want the passing pull-policy check", last)
			}
			after, err := r.Containers()
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("offline render has %d containers, online %d", len(after), len(before))
			}
			for i, c := range after {
				if c.PullPolicy != PullIfNotPresent || c.Image != before[i].Image {
					t.Errorf("%s container %s: policy %q image %s, want IfNotPresent and %s", c.Workload, c.Name, c.PullPolicy, c.Image, before[i].Image)
				}
			}
			// The post-renderer keeps Helm's "# Source:" lines, which the other checks read.
			if n := strings.Count(r.Manifest, "# Source: "); n != strings.Count(onlineRendered.Manifest, "# Source: ") {
				t.Errorf("offline manifest has %d Source lines, online %d", n, strings.Count(onlineRendered.Manifest, "# Source: "))
			}
		})
	}
}

// The check fails, naming the container, when a hook (which Helm does not post-render) pulls
// Always.
func TestPullPolicyCheckNamesTheContainer(t *testing.T) {
	r := &Rendered{offline: true, Names: Names{Release: "demo"}, Objects: []Object{
		{Kind: "Job", Name: "migrate", Fields: map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{"helm.sh/hook": "pre-install"}},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "m", "image": "busybox"}}}}}}},
		{Kind: "Pod", Name: "test", Fields: map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{"helm.sh/hook": "test"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "t", "image": "bats/bats:latest"}}}}},
	}}
	res := checkPullPolicy(r)
	if res.OK || !strings.Contains(res.Detail, "Job/migrate container m (busybox): Always") {
		t.Fatalf("check = %+v, want a failure naming Job/migrate's container", res)
	}
	if strings.Contains(res.Detail, "bats") {
		t.Errorf("the test hook's container counts: %s", res.Detail)
	}
}

func TestEffectivePullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"busybox":                       PullAlways,
		"busybox:latest":                PullAlways,
		"docker.io/library/busybox:1.3": PullIfNotPresent,
		"127.0.0.1:5000/busybox":        PullAlways,
		"127.0.0.1:5000/busybox:1":      PullIfNotPresent,
		"busybox@sha256:abc":            PullIfNotPresent,
		"busybox:latest@sha256:abc":     PullAlways,
	} {
		if got := (Container{Image: image}).EffectivePullPolicy(); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
}

// Offline, a chart that is not in the cache is an OFFLINE_NOT_PREPARED error, and no request
// reaches the repository.
func TestOfflinePullNeedsTheCache(t *testing.T) {
	o, srv := fixtureOptions(t, DefaultDemoVersion, DefaultTempoVersion, "my-otel-demo")
	o.Offline = true
	_, err := Pull(context.Background(), o)
	if reason.Of(err).Kind != reason.OfflineNotPrepared || !strings.Contains(err.Error(), DemoChart+" "+DefaultDemoVersion) {
		t.Fatalf("offline Pull with an empty cache: %v, want OFFLINE_NOT_PREPARED naming the demo chart", err)
	}
	if reqs := srv.Requests(); len(reqs) > 0 {
		t.Errorf("offline Pull asked the repository: %v", reqs)
	}
	if _, err := CachedCharts(o); reason.Of(err).Kind != reason.OfflineNotPrepared {
		t.Errorf("CachedCharts of an empty cache: %v", err)
	}
}
