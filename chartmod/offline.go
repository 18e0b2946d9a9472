package chartmod

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// `up --offline` runs the release from images loaded onto the node beforehand. A container whose
// pull policy is Always (the demo's busybox:latest init containers) would still ask a registry
// on every start, and fail without a network. So an offline release gets every pull policy set
// to IfNotPresent by a Helm post-renderer, and a render check proves it.

// pullIfNotPresent is the post-renderer of an offline release.
type pullIfNotPresent struct{}

var _ postrender.PostRenderer = pullIfNotPresent{}

// Run sets imagePullPolicy: IfNotPresent on every container of every workload in the manifests.
// Other documents pass through untouched, comments and all. (Helm does not post-render hooks;
// the render check looks at those too.)
func (pullIfNotPresent) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	var out bytes.Buffer
	for i, doc := range docSeparator.Split(in.String(), -1) {
		if i > 0 {
			out.WriteString("---")
		}
		patched, err := setPullPolicy(doc)
		if err != nil {
			return nil, err
		}
		out.WriteString(patched)
	}
	return &out, nil
}

// setPullPolicy rewrites one document when it is a workload, keeping its leading comment lines
// (Helm's "# Source:", which the render checks read).
func setPullPolicy(doc string) (string, error) {
	var fields map[string]any
	if err := yaml.Unmarshal([]byte(doc), &fields); err != nil || fields == nil {
		return doc, nil // not ours to judge: Helm reports what it cannot parse
	}
	kind, _ := fields["kind"].(string)
	spec := podSpec(kind, fields)
	if spec == nil {
		return doc, nil
	}
	for _, list := range containerLists {
		items, _ := spec[list].([]any)
		for _, item := range items {
			if c, ok := item.(map[string]any); ok {
				c["imagePullPolicy"] = PullIfNotPresent
			}
		}
	}
	y, err := yaml.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("re-encoding %s: %w", kind, err)
	}
	var head strings.Builder
	head.WriteString("\n")
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			break
		}
		head.WriteString(line + "\n")
	}
	return head.String() + string(y), nil
}

// offline marks a patched chart as an offline release: another hash (so switching between
// online and offline upgrades the release) and the post-renderer.
func (p *Patched) offline() {
	sum := sha256.Sum256([]byte("offline\x00" + p.Hash))
	p.Hash = hex.EncodeToString(sum[:])
	p.PostRenderer = pullIfNotPresent{}
}

// checkPullPolicy is the offline render check: every container the release runs, hooks
// included, pulls only when the image is not on the node.
func checkPullPolicy(r *Rendered) Result {
	const check = "pull policy"
	obj := "Release/" + r.Names.Release
	containers, err := r.Containers()
	if err != nil {
		return fail(check, obj, "%v", err)
	}
	var bad []string
	for _, c := range containers {
		if p := c.EffectivePullPolicy(); p != PullIfNotPresent && p != PullNever {
			bad = append(bad, fmt.Sprintf("%s container %s (%s): %s", c.Workload, c.Name, c.Image, p))
		}
	}
	if len(bad) > 0 {
		return fail(check, obj, "%d of %d containers would pull from a registry: %s", len(bad), len(containers), strings.Join(bad, "; "))
	}
	return pass(check, obj, "all %d containers pull %s", len(containers), PullIfNotPresent)
}

// CachedChart is one chart package in svcgraph's cache, as Pull keeps it.
type CachedChart struct {
	Name, Version, RepoURL string
	File                   string // the package in the cache
	Digest                 string // its sha256, as the repository index listed it
}

// CachedCharts returns the cached packages of the configured pair, demo first, or an error
// naming the first that is missing.
func CachedCharts(o Options) ([]CachedChart, error) {
	o = o.withDefaults()
	var out []CachedChart
	for _, c := range []CachedChart{
		{Name: DemoChart, Version: o.DemoVersion, RepoURL: o.DemoRepoURL},
		{Name: TempoChart, Version: o.TempoVersion, RepoURL: o.TempoRepoURL},
	} {
		c.File = packageFile(o.CacheDir, c.RepoURL, c.Name, c.Version)
		_, digest, ok := cached(c.File, c.File+".sha256")
		if !ok {
			return nil, notCached(c.Name, c.Version, c.RepoURL)
		}
		c.Digest = digest
		out = append(out, c)
	}
	return out, nil
}

// StoreChart puts a chart package into the cache where Pull finds it, once its sha256 is the
// digest c names.
func StoreChart(cacheDir string, c CachedChart, data []byte) error {
	if got := sha256hex(data); !strings.EqualFold(got, c.Digest) {
		return reason.New(reason.ChartDigest, "", "%s %s has sha256 %s, not %s", c.Name, c.Version, got, c.Digest)
	}
	file := packageFile(cacheDir, c.RepoURL, c.Name, c.Version)
	if err := keepPackage(filepath.Dir(file), file, file+".sha256", data, strings.ToLower(c.Digest)); err != nil {
		return reason.Wrap(reason.Internal, err, "", "cannot write %s into the chart cache", c.Name)
	}
	return nil
}

// packageFile is where Pull keeps a package: one folder per repository URL, since the same name
// and version from another repository may be another package.
func packageFile(cacheDir, repoURL, name, version string) string {
	return filepath.Join(repoCacheDir(cacheDir, repoURL), fmt.Sprintf("%s-%s.tgz", name, version))
}

func notCached(name, version, repoURL string) error {
	return reason.New(reason.OfflineNotPrepared, "",
		"%s %s from %s is not in svcgraph's cache", name, version, RedactURL(repoURL))
}
