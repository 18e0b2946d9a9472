package kube

import (
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// lastRelease reads one revision instead of the whole history; it must still pick the revision
// Helm's own Last picks, numerically (10 after 9) and whatever order the revisions were stored in.
func TestLastReleaseIsHelmsNewestRevision(t *testing.T) {
	cl := testcluster.Require(t)
	ns := cl.Namespace(t, "kube-last")
	c := newClient(t, cl, ns)
	ctx := testContext(t, time.Minute)
	ch := tinyChart(appTemplate)

	if rel, err := c.lastRelease(ctx, "web"); rel != nil || err != nil {
		t.Fatalf("lastRelease with no revisions = %v, %v; want nil, nil", rel, err)
	}
	for _, v := range []int{2, 11, 9, 1, 10} {
		status := release.StatusSuperseded
		if v == 11 {
			status = release.StatusFailed
		}
		storeRelease(t, c, "web", v, status, ch)
	}
	storeRelease(t, c, "other", 12, release.StatusDeployed, ch) // another release's newer revision
	// Helm's storage logs which of its reads run: the fast path must not be Last in disguise.
	var fellBack bool
	c.helm.Releases.Log = func(format string, _ ...any) {
		if strings.HasPrefix(format, "getting last revision") {
			fellBack = true
		}
	}
	assertNewest := func(want int, wantStatus release.Status, wantFallback bool) {
		t.Helper()
		fellBack = false
		got, err := c.lastRelease(ctx, "web")
		if fellBack != wantFallback {
			t.Errorf("lastRelease fell back to Helm's Last: %v, want %v", fellBack, wantFallback)
		}
		if err != nil {
			t.Fatal(err)
		}
		helms, err := c.helm.Releases.Last("web")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want || helms.Version != want || got.Info.Status != wantStatus || got.Name != "web" {
			t.Fatalf("lastRelease = revision %d (%s), Helm's Last = %d; want %d (%s)", got.Version, got.Info.Status, helms.Version, want, wantStatus)
		}
	}
	assertNewest(11, release.StatusFailed, false)

	// A storage Secret without the revision label (not Helm's doing) is left to Helm's Last.
	key := "sh.helm.release.v1.web.v11"
	s, err := cl.Client.CoreV1().Secrets(ns).Get(testContext(t, time.Minute), key, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(s.Labels, "version")
	if _, err := cl.Client.CoreV1().Secrets(ns).Update(testContext(t, time.Minute), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertNewest(11, release.StatusFailed, true)
}
