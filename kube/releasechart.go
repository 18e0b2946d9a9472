package kube

import "context"

// ReleaseCharts returns the version of the release's chart and of the dependencies it declares,
// so commands that did not install the release (forward, status) can tell which names it uses.
// ok is false when there is no such release.
func (c *Client) ReleaseCharts(ctx context.Context, name string) (version string, deps map[string]string, ok bool, err error) {
	rel, err := c.lastRelease(ctx, name)
	if err != nil || rel == nil || rel.Chart == nil || rel.Chart.Metadata == nil {
		return "", nil, false, err
	}
	deps = map[string]string{}
	for _, d := range rel.Chart.Metadata.Dependencies {
		deps[d.Name] = d.Version
	}
	return rel.Chart.Metadata.Version, deps, true, nil
}
