package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Workshop mode: `svcgraph prepare` fills the cache with the charts and every image of the
// release once, on a good network (or from a bundle); `svcgraph up --offline` then needs no
// network at all. The steps are in imagecache.go, pullimages.go, loadimages.go and bundle.go.

// ValidateWorkshop refuses a bad --platform, --registry-mirror or --workers before anything runs
// (commands that take them).
func (c Config) ValidateWorkshop() error {
	err := c.ValidateMirrors()
	if err == nil && c.Workers < 1 {
		err = reason.New(reason.Usage, fmt.Sprintf("Use --workers 1 or more (the default is %d).", images.DefaultWorkers), "--workers %d is too few", c.Workers)
	}
	if err == nil && c.Bundle != "" && c.FromBundle != "" {
		err = reason.New(reason.Usage, "Write a bundle on the machine that pulls, import it on the others.", "--bundle and --from-bundle do not go together")
	}
	return err
}

// ValidateMirrors refuses a bad --registry-mirror (or --platform) before anything runs: up asks
// the mirrors which platforms the images are built for.
func (c Config) ValidateMirrors() error {
	_, _, err := c.workshop()
	return err
}

// workshop reads the platform and mirrors.
func (c Config) workshop() (images.Platform, []images.Mirror, error) {
	p, err := images.ParsePlatform(c.Platform)
	if err != nil {
		return p, nil, reason.Wrap(reason.Usage, err, "Use --platform linux/amd64 or --platform linux/arm64 (Apple-silicon Macs).", "bad --platform")
	}
	var mirrors []images.Mirror
	seen := map[string]bool{}
	for _, s := range c.RegistryMirrors {
		m, err := images.ParseMirror(s)
		if err != nil {
			return p, nil, reason.Wrap(reason.Usage, err, "Use --registry-mirror REGISTRY=URL, e.g. --registry-mirror docker.io=https://mirror.gcr.io.", "bad --registry-mirror")
		}
		if seen[m.Registry] {
			return p, nil, reason.New(reason.Usage, "Give one --registry-mirror per registry.", "two mirrors for %s", m.Registry)
		}
		seen[m.Registry] = true
		mirrors = append(mirrors, m)
	}
	return p, mirrors, nil
}

func (s *Session) imageCache() *images.Cache { return images.OpenCache(s.Config.CacheDir) }

// releaseImages lists the rendered release's images once (PrepareCharts ran before).
func (s *Session) releaseImages() ([]images.Image, error) {
	if s.Images == nil {
		if s.Rendered == nil {
			return nil, reason.New(reason.Internal, "", "no rendered release to list images from")
		}
		list, err := images.List(s.Rendered)
		if err != nil {
			return nil, err
		}
		s.Images = list
	}
	return s.Images, nil
}

// offline turns up's plan into up --offline's: no Helm repositories (adding one downloads its
// index), the image cache checked right after the charts (before anything changes), and the
// images loaded onto the node and checked there before the install.
func offline(p Plan) Plan {
	var out Plan
	for _, st := range p {
		switch st.(type) {
		case AddRepos:
			continue
		case Install:
			out = append(out, LoadImages{}, ImagesOnNode{})
		}
		out = append(out, st)
		if _, ok := st.(PrepareCharts); ok {
			out = append(out, CheckImageCache{})
		}
	}
	return out
}

// PreparePlan is `svcgraph prepare`: charts and images into the cache, then a bundle if asked;
// or, with --from-bundle, only the import.
func PreparePlan(c Config) Plan {
	if c.FromBundle != "" {
		return Plan{ImportBundle{}}
	}
	p := Plan{PrepareCharts{}, PullImages{}}
	if c.Bundle != "" {
		p = append(p, WriteBundle{})
	}
	return p
}

// ImagesPlan is `svcgraph images`: the charts, rendered and checked, from which the list comes.
func ImagesPlan(Config) Plan { return Plan{PrepareCharts{}} }

// OfflineStatus says whether the cache holds everything `up --offline` needs.
type OfflineStatus struct {
	Ready    bool     `json:"ready"`
	Platform string   `json:"platform"`
	Images   int      `json:"images"`
	Bytes    int64    `json:"bytes"`
	Missing  []string `json:"missing,omitempty"` // images, or the charts when they are what is missing
	Problem  string   `json:"problem,omitempty"`
}

// offlineStatus renders the configured release from the cache alone and looks its images up.
func offlineStatus(ctx context.Context, s *Session) *OfflineStatus {
	st := &OfflineStatus{Platform: s.Config.Platform}
	c := s.Config
	c.Offline = true
	sub := &Session{Config: c}
	if err := (PrepareCharts{}).Run(ctx, sub); err != nil {
		st.Problem = err.Error()
		return st
	}
	list, err := sub.releaseImages()
	if err != nil {
		st.Problem = err.Error()
		return st
	}
	p, _, err := c.workshop()
	if err != nil {
		st.Problem = err.Error()
		return st
	}
	cov, err := sub.imageCache().Cover(images.Refs(list), p)
	if err != nil {
		st.Problem = err.Error()
		return st
	}
	st.Images, st.Bytes, st.Missing = len(list), cov.Bytes, cov.Missing
	st.Ready = len(cov.Missing) == 0
	return st
}

func (o *OfflineStatus) text() string {
	switch {
	case o == nil:
		return ""
	case o.Ready:
		return fmt.Sprintf("offline (%s): ready, the cache holds both charts and all %d images (%s)", o.Platform, o.Images, Bytes(o.Bytes))
	case o.Problem != "":
		return fmt.Sprintf("offline (%s): not ready: %s; run `svcgraph prepare`", o.Platform, o.Problem)
	}
	return fmt.Sprintf("offline (%s): not ready: %d of %d images are not in the cache (%s); run `svcgraph prepare`",
		o.Platform, len(o.Missing), o.Images, strings.Join(o.Missing, ", "))
}
