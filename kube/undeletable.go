package kube

import (
	"context"
	"sort"

	"helm.sh/helm/v3/pkg/releaseutil"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Undeletable lists the objects of the release's newest revision ("ClusterRole/name") that the
// context's user may not delete, as the API server answers access reviews: a user who may act
// only inside the release's namespace cannot delete the ClusterRoles and bindings an admin's
// install made, and Helm's uninstall stops on them. Empty when the user may delete everything
// (or there is no release).
func (c *Client) Undeletable(ctx context.Context, name string) ([]string, error) {
	rel, err := c.lastRelease(ctx, name)
	if err != nil || rel == nil {
		return nil, err
	}
	_, files, err := releaseutil.SortManifests(releaseutil.SplitManifests(rel.Manifest), nil, releaseutil.UninstallOrder)
	if err != nil {
		return nil, reason.Wrap(reason.Uninstall, err, "", "the record of Helm release %q does not parse", name)
	}
	mapper, err := c.flags.ToRESTMapper()
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, "", "cannot read which APIs the cluster at %s serves", c.config.Host)
	}
	byAccess := map[Access][]string{}
	var needs []Access
	for _, f := range files {
		if f.Head == nil || f.Head.Metadata == nil {
			continue
		}
		a, served, err := accessTo(mapper, ObjectKind{APIVersion: f.Head.Version, Kind: f.Head.Kind}, c.opts.Namespace)
		if err != nil || !served {
			continue // a kind the cluster no longer serves: nothing of it to delete
		}
		a.Verb = "delete"
		if _, ok := byAccess[a]; !ok {
			needs = append(needs, a)
		}
		byAccess[a] = append(byAccess[a], f.Head.Kind+"/"+f.Head.Metadata.Name)
	}
	missing, err := c.Missing(ctx, needs)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range missing {
		out = append(out, byAccess[a]...)
	}
	sort.Strings(out)
	return out, nil
}
