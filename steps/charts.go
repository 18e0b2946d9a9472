package steps

import (
	"context"
	"fmt"
	"slices"

	"github.com/svcgraph/svcgraph/chartmod"
)

// ChartOptions is the chartmod view of the configuration.
func (c Config) ChartOptions() chartmod.Options {
	return chartmod.Options{
		DemoVersion: c.DemoVersion, TempoVersion: c.TempoVersion,
		DemoRepoURL: c.DemoRepo, TempoRepoURL: c.TempoRepo,
		Release: c.Release, Namespace: c.Namespace,
		ValuesFiles: c.ValuesFiles, SetValues: c.SetValues,
		CacheDir: c.CacheDir, Helm: c.Helm, KubeVersion: c.KubeVersion, Preset: c.Preset,
		Storage: chartmod.Storage{Class: c.StorageClass},
		Offline: c.Offline,
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
	s.pulled = pulled
	if err := s.patch(ctx, o); err != nil {
		return err
	}
	res := ChartsResult{Demo: s.Patched.Pair.Demo, Tempo: s.Patched.Pair.Tempo, Tested: s.Patched.Pair.Tested(), Checks: len(s.Checks.Results)}
	if s.Config.DemoVersion == chartmod.Latest {
		res.Latest = append(res.Latest, chartmod.DemoChart)
	}
	if s.Config.TempoVersion == chartmod.Latest {
		res.Latest = append(res.Latest, chartmod.TempoChart)
	}
	s.Result(res.String())
	s.ResultDetails(res)
	return nil
}

// patch patches the pulled charts with o, renders them and proves the patch with the render
// checks; the results replace the session's (the fit step patches again for the cluster).
func (s *Session) patch(ctx context.Context, o chartmod.Options) error {
	patched, err := chartmod.Patch(ctx, s.pulled, o)
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
	return nil
}

// ChartsResult is what PrepareCharts settled on: the versions (and which of them "latest"
// picked), whether svcgraph's tests cover the pair, and how many render checks passed.
type ChartsResult struct {
	Demo   string   `json:"demo_version"`
	Tempo  string   `json:"tempo_version"`
	Tested bool     `json:"tested_pair"`
	Latest []string `json:"latest,omitempty"` // the charts whose version "latest" picked
	Checks int      `json:"checks_passed"`
}

// String is the step's summary: "opentelemetry-demo 0.41.0 (latest) + tempo-distributed
// 2.26.3, untested pair, 10 checks passed".
func (r ChartsResult) String() string {
	version := func(chart, v string) string {
		if slices.Contains(r.Latest, chart) {
			return v + " (latest)"
		}
		return v
	}
	s := fmt.Sprintf("%s %s + %s %s", chartmod.DemoChart, version(chartmod.DemoChart, r.Demo), chartmod.TempoChart, version(chartmod.TempoChart, r.Tempo))
	if !r.Tested {
		s += ", untested pair"
	}
	return fmt.Sprintf("%s, %d checks passed", s, r.Checks)
}
