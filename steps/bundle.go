package steps

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// WriteBundle writes the pulled charts and images into one file for a room of laptops.
type WriteBundle struct{}

func (WriteBundle) ID() string    { return "bundle" }
func (WriteBundle) Title() string { return "Writing the bundle" }

func (WriteBundle) Run(ctx context.Context, s *Session) error {
	charts, err := chartmod.CachedCharts(s.Config.ChartOptions())
	if err != nil {
		return err
	}
	cache := s.imageCache()
	var total int64
	for _, e := range s.Cached {
		total += cache.Size(e)
	}
	var done atomic.Int64
	stop := s.showTransfer(func() Transfer { return Transfer{BytesDone: done.Load(), BytesTotal: total} })
	m, err := cache.WriteBundleFile(ctx, s.Config.Bundle, s.Config.Version, s.Patched.Pair, charts, s.Cached, func(n int64) { done.Add(n) })
	stop()
	if err != nil {
		return err
	}
	s.Result(fmt.Sprintf("%s: %d charts and %d images for %s (%s); import it with `svcgraph prepare --from-bundle %s`",
		s.Config.Bundle, len(m.Charts), len(m.Images), m.Platform, Bytes(m.Bytes()), s.Config.Bundle))
	return nil
}

// ImportBundle reads a bundle into the cache, checking every digest; nothing is imported from a
// bundle that does not check out.
type ImportBundle struct{}

func (ImportBundle) ID() string    { return "import-bundle" }
func (ImportBundle) Title() string { return "Importing the bundle" }

func (ImportBundle) Run(ctx context.Context, s *Session) error {
	p, _, err := s.Config.workshop()
	if err != nil {
		return err
	}
	file := s.Config.FromBundle
	f, err := os.Open(file)
	if err != nil {
		return reason.Wrap(reason.Usage, err, "Check the path given to --from-bundle.", "cannot read the bundle")
	}
	defer f.Close()
	var total int64
	if fi, err := f.Stat(); err == nil {
		total = fi.Size()
	}
	var done atomic.Int64
	stop := s.showTransfer(func() Transfer { return Transfer{BytesDone: done.Load(), BytesTotal: total} })
	m, err := s.imageCache().ImportBundle(ctx, f, file, p, func(n int64) { done.Add(n) })
	stop()
	if err != nil {
		return err
	}
	// up --offline finds the charts for the configured versions and repositories only.
	c := s.Config
	want := chartmod.Pair{Demo: or(c.DemoVersion, chartmod.DefaultDemoVersion), Tempo: or(c.TempoVersion, chartmod.DefaultTempoVersion)}
	if m.Pair != want {
		s.Warn(fmt.Sprintf("the bundle holds %s; run up --offline with --demo-version %s --tempo-version %s", m.Pair, m.Pair.Demo, m.Pair.Tempo))
	}
	repos := map[string]string{chartmod.DemoChart: or(c.DemoRepo, chartmod.DefaultDemoRepoURL), chartmod.TempoChart: or(c.TempoRepo, chartmod.DefaultTempoRepoURL)}
	for _, ch := range m.Charts {
		if want, flag := repos[ch.Name], map[string]string{chartmod.DemoChart: "--demo-repo", chartmod.TempoChart: "--tempo-repo"}[ch.Name]; want != "" && strings.TrimSuffix(want, "/") != strings.TrimSuffix(ch.RepoURL, "/") {
			s.Warn(fmt.Sprintf("the bundle's %s comes from %s; run up --offline with %s %s", ch.Name, ch.RepoURL, flag, ch.RepoURL))
		}
	}
	s.Result(fmt.Sprintf("%d charts and %d images for %s (%s) from svcgraph %s's bundle of %s",
		len(m.Charts), len(m.Images), m.Platform, Bytes(m.Bytes()), m.SvcgraphVersion, m.Pair))
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
