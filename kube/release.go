package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// ReleaseSpec is what a release should be.
type ReleaseSpec struct {
	Name    string
	Chart   *chart.Chart
	Values  map[string]any
	Hash    string        // identifies Chart+Values; an equal hash on the release means "nothing to do"
	Timeout time.Duration // for Helm hooks; Apply itself does not wait for pods
	// PostRenderer rewrites the rendered manifests before they are applied (up --offline's pull
	// policies); nil for none.
	PostRenderer postrender.PostRenderer
}

// What Apply did, in words the user sees.
const (
	ActionInstalled             = "installed"
	ActionUpgraded              = "upgraded"
	ActionUnchanged             = "unchanged"
	ActionReinstalled           = "reinstalled (was pending-install)"
	ActionRolledBackAndUpgraded = "rolled back and upgraded (was pending-upgrade)"
	ActionUpgradedFailed        = "upgraded (was failed)"
)

// ReleaseResult says what Apply did and which revision is now current.
type ReleaseResult struct {
	Action   string // one of the Action… constants
	Revision int
}

// ReleaseInfo is the latest revision of a release, whatever its status.
type ReleaseInfo struct {
	Name, Namespace string
	Status          string // Helm's: deployed, failed, pending-install, pending-upgrade, …
	Revision        int
	Hash            string // the label value Apply stored; compare with HashMatches
	Updated         time.Time
	Description     string
}

// HashMatches says whether the release was applied from a spec with this hash.
func (r *ReleaseInfo) HashMatches(hash string) bool {
	return r != nil && r.Hash != "" && r.Hash == hashLabelValue(hash)
}

// hashLabel is the release label that carries ReleaseSpec.Hash. Helm keeps release labels on the
// storage Secret and carries them through upgrades, so the hash lives with the revision it
// describes and `helm` itself leaves it alone; no extra object can drift from the release.
const hashLabel = "svcgraph.io/spec-hash"

// hashLabelValue fits a hash into a label value (at most 63 characters of [A-Za-z0-9_.-]): a hex
// digest is cut to 63 characters, anything else is digested first.
func hashLabelValue(h string) string {
	if h == "" {
		return ""
	}
	if len(validation.IsValidLabelValue(h)) == 0 {
		return h
	}
	if len(h) > validation.LabelValueMaxLength {
		if cut := h[:validation.LabelValueMaxLength]; len(validation.IsValidLabelValue(cut)) == 0 {
			return cut
		}
	}
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:])[:validation.LabelValueMaxLength]
}

const installAdvice = "Read Helm's error above. Running `svcgraph up` again retries (a failed release is upgraded); `svcgraph down` then `svcgraph up` starts from scratch."

// Release returns the latest revision of the named release, or nil, nil when there is none.
func (c *Client) Release(ctx context.Context, name string) (*ReleaseInfo, error) {
	rel, err := c.lastRelease(ctx, name)
	if err != nil || rel == nil {
		return nil, err
	}
	info := &ReleaseInfo{
		Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version,
		Hash: rel.Labels[hashLabel],
	}
	if rel.Info != nil {
		info.Status = rel.Info.Status.String()
		info.Updated = rel.Info.LastDeployed.Time
		info.Description = rel.Info.Description
	}
	return info, nil
}

func (c *Client) lastRelease(ctx context.Context, name string) (*release.Release, error) {
	rel, err := c.newestRevision(ctx, name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil, interrupted(ctx, "reading Helm release "+name)
	}
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, "", "cannot read the Helm release %q in namespace %s", name, c.opts.Namespace)
	}
	return rel, nil
}

// newestRevision is Helm's Releases.Last without decoding every revision: Last reads the whole
// history, and each stored revision is a compressed copy of the chart (up to 10 with the helm
// CLI's default history), which made an unchanged `up` spend half a second here. The storage
// Secrets carry the revision as a label, so a metadata-only list finds the newest and one Get
// decodes it. Anything unexpected (a missing label, a revision pruned in between, one that does
// not decode) falls back to Helm's own Last, which skips what it cannot read.
func (c *Client) newestRevision(ctx context.Context, name string) (*release.Release, error) {
	sel := labels.Set{"owner": "helm", "name": name}.String()
	list, err := c.meta.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(c.opts.Namespace).
		List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	newest := 0
	for _, s := range list.Items {
		v, err := strconv.Atoi(s.Labels["version"])
		if err != nil || v <= 0 {
			newest = 0
			break
		}
		newest = max(newest, v)
	}
	// Helm's storage takes no context: run it aside so Ctrl-C is answered at once (the request
	// deadline bounds it otherwise).
	var rel *release.Release
	err = runAside(ctx, func() (err error) {
		if newest > 0 {
			if rel, err = c.helm.Releases.Get(name, newest); err == nil && rel != nil && rel.Info != nil {
				return nil
			}
		}
		rel, err = c.helm.Releases.Last(name)
		return err
	})
	return rel, err
}

// Apply brings the release to the spec: install the first time (creating the namespace, marked as
// svcgraph's, when it is not there), upgrade
// when the stored hash differs, touch nothing when it is equal, and recover a release an earlier
// run left half done. It does not wait for pods (WaitPods does). When ctx is cancelled, Helm
// records the release as failed before Apply returns, so the next Apply upgrades it.
func (c *Client) Apply(ctx context.Context, s ReleaseSpec) (ReleaseResult, error) {
	if ctx.Err() != nil {
		return ReleaseResult{}, interrupted(ctx, "preparing the release")
	}
	last, err := c.lastRelease(ctx, s.Name)
	if err != nil {
		return ReleaseResult{}, err
	}
	if last == nil {
		return c.install(ctx, s, ActionInstalled)
	}
	switch last.Info.Status {
	case release.StatusDeployed:
		if last.Labels[hashLabel] != "" && last.Labels[hashLabel] == hashLabelValue(s.Hash) {
			return ReleaseResult{Action: ActionUnchanged, Revision: last.Version}, nil
		}
		return c.upgrade(ctx, s, ActionUpgraded)
	case release.StatusFailed:
		return c.upgrade(ctx, s, ActionUpgradedFailed)
	case release.StatusPendingUpgrade, release.StatusPendingRollback:
		// Helm refuses to upgrade a pending release; going back to the last good revision first
		// also puts the resources back in a known state.
		good, err := c.lastGoodRevision(ctx, s.Name)
		if err != nil {
			return ReleaseResult{}, err
		}
		if good == 0 {
			break // nothing to roll back to: start over like a pending install
		}
		if err := c.rollback(ctx, s, good); err != nil {
			return ReleaseResult{}, err
		}
		return c.upgrade(ctx, s, ActionRolledBackAndUpgraded)
	}
	// pending-install, uninstalling, uninstalled (kept history), unknown: the release never
	// became usable, so remove what is there and install afresh.
	if err := c.Uninstall(ctx, s.Name, s.Timeout); err != nil {
		return ReleaseResult{}, err
	}
	return c.install(ctx, s, ActionReinstalled)
}

func (c *Client) install(ctx context.Context, s ReleaseSpec, act string) (ReleaseResult, error) {
	// The namespace is created here, not by Helm, so that it carries svcgraph's label.
	if err := c.EnsureNamespace(ctx, c.opts.Namespace); err != nil {
		return ReleaseResult{}, err
	}
	in := action.NewInstall(c.helm)
	in.ReleaseName = s.Name
	in.Namespace = c.opts.Namespace
	in.Timeout = s.Timeout
	in.Labels = specLabels(s)
	in.PostRenderer = s.PostRenderer
	rel, err := in.RunWithContext(ctx, s.Chart, s.Values)
	if err != nil {
		return ReleaseResult{}, c.helmError(ctx, err, "installing", s.Name)
	}
	return ReleaseResult{Action: act, Revision: rel.Version}, nil
}

func (c *Client) upgrade(ctx context.Context, s ReleaseSpec, act string) (ReleaseResult, error) {
	up := action.NewUpgrade(c.helm)
	up.Namespace = c.opts.Namespace
	up.Timeout = s.Timeout
	up.Labels = specLabels(s)
	up.PostRenderer = s.PostRenderer
	up.ResetValues = true // the spec's values are the whole truth, not a patch on the last ones
	up.MaxHistory = 10    // as the helm CLI does by default, so Secrets do not pile up
	rel, err := up.RunWithContext(ctx, s.Name, s.Chart, s.Values)
	if err != nil {
		return ReleaseResult{}, c.helmError(ctx, err, "upgrading", s.Name)
	}
	return ReleaseResult{Action: act, Revision: rel.Version}, nil
}

func specLabels(s ReleaseSpec) map[string]string {
	if v := hashLabelValue(s.Hash); v != "" {
		return map[string]string{hashLabel: v}
	}
	// "null" removes a label Helm would otherwise carry over from the last revision.
	return map[string]string{hashLabel: "null"}
}

// lastGoodRevision is the newest revision that was deployed at some point, or 0.
func (c *Client) lastGoodRevision(ctx context.Context, name string) (int, error) {
	var hist []*release.Release
	err := runAside(ctx, func() (err error) {
		hist, err = c.helm.Releases.History(name)
		return err
	})
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return 0, interrupted(ctx, "reading the history of Helm release "+name)
	}
	if err != nil {
		return 0, reason.Wrap(reason.Cluster, err, "", "cannot read the history of Helm release %q", name)
	}
	good := 0
	for _, r := range hist {
		if (r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded) && r.Version > good {
			good = r.Version
		}
	}
	return good, nil
}

func (c *Client) rollback(ctx context.Context, s ReleaseSpec, revision int) error {
	rb := action.NewRollback(c.helm)
	rb.Version = revision
	rb.Timeout = s.Timeout
	rb.MaxHistory = 10
	// Rollback has no context; run it aside so Ctrl-C is not ignored for the whole rollback.
	err := runAside(ctx, func() error { return rb.Run(s.Name) })
	if err != nil {
		return c.helmError(ctx, err, fmt.Sprintf("rolling back (to revision %d)", revision), s.Name)
	}
	return nil
}

// Uninstall removes the release and its resources; a release that is not there is fine. The
// timeout is for the chart's delete hooks.
func (c *Client) Uninstall(ctx context.Context, name string, timeout time.Duration) error {
	un := action.NewUninstall(c.helm)
	un.IgnoreNotFound = true
	un.Timeout = timeout
	err := runAside(ctx, func() error {
		_, err := un.Run(name)
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return nil
		}
		return err
	})
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return interrupted(ctx, "uninstalling release "+name)
	}
	return reason.Wrap(reason.Uninstall, err,
		"Run `svcgraph down` again; if it keeps failing, `helm uninstall "+name+" -n "+c.opts.Namespace+" --no-hooks` removes the release record.",
		"cannot uninstall Helm release %q from namespace %s", name, c.opts.Namespace)
}

// runAside runs f, returning early when ctx is cancelled; f then finishes in the background,
// which for a CLI being interrupted means it ends with the process.
func runAside(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) helmError(ctx context.Context, err error, doing, name string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return reason.Wrap(reason.Interrupted, err, "Run `svcgraph up` again: the interrupted release is recorded as failed and gets upgraded.",
			"interrupted while %s Helm release %q", doing, name)
	}
	if ierr := c.helm.KubeClient.IsReachable(); ierr != nil {
		return reason.Wrap(reason.Cluster, err, "", "lost the Kubernetes API server at %s while %s Helm release %q", c.config.Host, doing, name)
	}
	return reason.Wrap(reason.Install, err, installAdvice, "%s Helm release %q in namespace %s failed", capitalize(doing), name, c.opts.Namespace)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
