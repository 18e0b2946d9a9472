// Package chartmod turns the upstream opentelemetry-demo chart into one that sends traces to
// Tempo and shows the service graph: it adds the chart repositories, pulls exact chart versions
// with a digest check, patches the demo chart as ../shared/charts/PATCHES.md prescribes, renders
// it client-only with the Helm SDK and checks the rendered objects.
package chartmod

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// DefaultKubeVersion is the Kubernetes version a client-only render assumes. Without an explicit
// one an SDK build assumes v1.20, and the newer charts refuse to render (PATCHES.md §1.9).
const DefaultKubeVersion = "v1.34.0"

// Options says which charts to use and how to install them. The zero value of each field means
// its default.
type Options struct {
	DemoVersion, TempoVersion string // "" = DefaultDemoVersion, DefaultTempoVersion
	DemoRepoURL, TempoRepoURL string // "" = DefaultDemoRepoURL, DefaultTempoRepoURL
	Release, Namespace        string
	ValuesFiles               []string         // -f, applied on top of the patch, later wins
	SetValues                 []string         // --set k=v, helm strvals semantics, applied after files
	CacheDir                  string           // svcgraph's cache directory; pulled packages live here
	Helm                      *cli.EnvSettings // required: repositories.yaml and Helm's repository cache
	KubeVersion               string           // for the client-only render; "" = DefaultKubeVersion
	Preset                    string           // PresetFull or PresetLite, laid under the user's values; "" = full
	Storage                   Storage          // where Tempo's claims go, laid over the user's values
	// Offline: charts only from the cache, and a release that never pulls an image the node has
	// (every pull policy IfNotPresent, see offline.go).
	Offline  bool
	Progress func(msg string) // the running step's live detail
	Detail   func(msg string) // a line shown with -v (which repository entry is used)
	Warn     func(msg string) // a line always shown (a cache that cannot be written)
}

func (o Options) withDefaults() Options {
	if o.DemoVersion == "" {
		o.DemoVersion = DefaultDemoVersion
	}
	if o.TempoVersion == "" {
		o.TempoVersion = DefaultTempoVersion
	}
	if o.DemoRepoURL == "" {
		o.DemoRepoURL = DefaultDemoRepoURL
	}
	if o.TempoRepoURL == "" {
		o.TempoRepoURL = DefaultTempoRepoURL
	}
	if o.KubeVersion == "" {
		o.KubeVersion = DefaultKubeVersion
	}
	return o
}

func (o Options) progress(format string, args ...any) { say(o.Progress, format, args...) }
func (o Options) detail(format string, args ...any)   { say(o.Detail, format, args...) }
func (o Options) warn(format string, args ...any)     { say(o.Warn, format, args...) }

func say(to func(string), format string, args ...any) {
	if to != nil {
		to(fmt.Sprintf(format, args...))
	}
}

// ValidateCharts checks the chart versions and repository URLs without the network, so a typo
// fails before anything is changed. "latest" passes here; Pull pins it.
func (o Options) ValidateCharts() error {
	o = o.withDefaults()
	if err := CheckPreset(o.Preset); err != nil {
		return err
	}
	for _, c := range []struct {
		chart, version string
		covered        Range
	}{{DemoChart, o.DemoVersion, demoCovered}, {TempoChart, o.TempoVersion, tempoCovered}} {
		if c.version == Latest {
			continue
		}
		if _, err := parseVersion(c.chart, c.version, c.covered); err != nil {
			return err
		}
	}
	if err := checkRepoURL("--demo-repo", o.DemoRepoURL); err != nil {
		return err
	}
	return checkRepoURL("--tempo-repo", o.TempoRepoURL)
}

// Validate checks release name, versions and repositories without touching the network, so a
// typo fails before any download. With a version pinned (not "latest") it also checks what
// depends on it.
func (o Options) Validate() error {
	o = o.withDefaults()
	if err := o.ValidateCharts(); err != nil {
		return err
	}
	if err := chartutil.ValidateReleaseName(o.Release); err != nil {
		return reason.Wrap(reason.Usage, err,
			"Pick a release name of lowercase letters, digits and '-', at most 53 characters.",
			"invalid release name %q", o.Release)
	}
	if o.Namespace == "" {
		return reason.New(reason.Usage, "Pass a namespace.", "no namespace given")
	}
	if o.CacheDir == "" || o.Helm == nil {
		return reason.New(reason.Internal, "", "chartmod: no cache directory or Helm settings given")
	}
	if _, err := chartutil.ParseKubeVersion(o.KubeVersion); err != nil {
		return reason.Wrap(reason.Usage, err, "Pass a Kubernetes version like v1.34.0.", "invalid Kubernetes version %q", o.KubeVersion)
	}
	if o.DemoVersion == Latest || o.TempoVersion == Latest {
		return nil // the rest is checked again once Pull has pinned the versions
	}
	s, err := resolve(o)
	if err != nil {
		return err
	}
	if strings.Contains(o.Release, "prometheus") && demoPrometheusInReleaseBreaks.at(s.Demo) {
		return reason.New(reason.Usage,
			fmt.Sprintf("Pick a release name without \"prometheus\", or use %s 0.35.0 or later.", DemoChart),
			"release name %q contains \"prometheus\": %s %s then names its Prometheus Service %s-server, "+
				"and the demo's own references to %s-prometheus-server break", o.Release, DemoChart, o.DemoVersion,
			o.Release, o.Release)
	}
	return nil
}

// Names resolves the in-cluster names for o's release and version pair, without any chart.
func (o Options) Names() (Names, error) {
	s, err := resolve(o)
	if err != nil {
		return Names{}, err
	}
	return s.Names, nil
}
