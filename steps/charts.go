package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/chartmod"
)

// ChartOptions is the chartmod view of the configuration.
func (c Config) ChartOptions() chartmod.Options {
	return chartmod.Options{
		DemoVersion: c.DemoVersion, TempoVersion: c.TempoVersion,
		DemoRepoURL: c.DemoRepo, TempoRepoURL: c.TempoRepo,
		Release: c.Release, Namespace: c.Namespace,
		ValuesFiles: c.ValuesFiles, SetValues: c.SetValues,
		CacheDir: c.CacheDir, Helm: c.Helm, KubeVersion: c.KubeVersion,
	}
}

func (s *Session) chartOptions() chartmod.Options {
	o := s.Config.ChartOptions()
	o.Progress, o.Detail, o.Warn = s.Progress, s.Debug, s.Warn
	return o
}

// AddRepos adds the two chart repositories to the user's Helm configuration, as `helm repo add`.
type AddRepos struct{}

func (AddRepos) ID() string    { return "repos" }
func (AddRepos) Title() string { return "Adding Helm repositories" }

func (AddRepos) Run(ctx context.Context, s *Session) error {
	return chartmod.AddRepos(ctx, s.chartOptions())
}

// PrepareCharts pulls both charts (from the cache when their digests check out), patches the
// demo, renders it without a cluster and proves the patch with the render checks.
type PrepareCharts struct{}

func (PrepareCharts) ID() string    { return "charts" }
func (PrepareCharts) Title() string { return "Pulling and patching the charts" }

func (PrepareCharts) Run(ctx context.Context, s *Session) error {
	o := s.chartOptions()
	pulled, err := chartmod.Pull(ctx, o)
	if err != nil {
		return err
	}
	patched, err := chartmod.Patch(ctx, pulled, o)
	if err != nil {
		return err
	}
	s.Progress("rendering and checking")
	rendered, err := chartmod.Render(patched, o)
	if err != nil {
		return err
	}
	report := chartmod.Check(rendered)
	if err := report.Err(); err != nil {
		return err
	}
	s.Patched, s.Rendered, s.Checks = patched, rendered, report
	s.Result(fmt.Sprintf("%s, %d checks passed", patched.Pair, len(report.Results)))
	return nil
}
