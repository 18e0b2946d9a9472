package steps

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/svcgraph/svcgraph/chartmod"
)

// VersionsReport is what `svcgraph versions` shows: the version ranges svcgraph accepts, the
// pairs its tests cover, and what the two repositories offer inside the ranges.
type VersionsReport struct {
	Covered      map[string]chartmod.Range `json:"covered"` // by chart name
	Default      chartmod.Pair             `json:"default"`
	TestedPairs  []chartmod.Pair           `json:"testedPairs"`
	Repositories []chartmod.Offer          `json:"repositories"`
}

// Versions reads the repositories' indexes (svcgraph's cached copy when one does not answer).
// A repository that cannot be read is reported, not an error.
func Versions(ctx context.Context, s *Session) (*VersionsReport, error) {
	demo, tempo := chartmod.Covered()
	rep := &VersionsReport{
		Covered:     map[string]chartmod.Range{chartmod.DemoChart: demo, chartmod.TempoChart: tempo},
		Default:     chartmod.Pair{Demo: chartmod.DefaultDemoVersion, Tempo: chartmod.DefaultTempoVersion},
		TestedPairs: chartmod.TestedPairs(),
	}
	offers, err := chartmod.Offers(ctx, s.Config.ChartOptions())
	if err != nil {
		return nil, err
	}
	rep.Repositories = offers
	return rep, nil
}

// WriteText prints the report for people.
func (r *VersionsReport) WriteText(w io.Writer) {
	fmt.Fprintln(w, "Chart versions svcgraph installs (every version in these ranges; the render checks prove each pair):")
	for _, chart := range []string{chartmod.DemoChart, chartmod.TempoChart} {
		fmt.Fprintf(w, "  %-20s %s\n", chart, r.Covered[chart])
	}
	fmt.Fprintln(w, "Tested pairs (svcgraph's tests install them):")
	for _, p := range r.TestedPairs {
		mark := ""
		if p == r.Default {
			mark = " (default)"
		}
		fmt.Fprintf(w, "  %s%s\n", p, mark)
	}
	for _, o := range r.Repositories {
		switch {
		case o.Err != "":
			fmt.Fprintf(w, "%s in %s: could not be read: %s\n", o.Chart, o.Repo, o.Err)
			continue
		case !o.CachedAt.IsZero():
			fmt.Fprintf(w, "%s in %s (did not answer; its index as cached %s), newest first:\n", o.Chart, o.Repo, o.CachedAt.Format(time.DateTime))
		default:
			fmt.Fprintf(w, "%s in %s, newest first:\n", o.Chart, o.Repo)
		}
		if len(o.Versions) == 0 {
			fmt.Fprintln(w, "  none inside the range")
			continue
		}
		vs := make([]string, len(o.Versions))
		for i, v := range o.Versions {
			vs[i] = v
			if r.tested(o.Chart, v) {
				vs[i] += " (tested)"
			}
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(vs, ", "))
	}
}

func (r *VersionsReport) tested(chart, v string) bool {
	return slices.ContainsFunc(r.TestedPairs, func(p chartmod.Pair) bool {
		return chart == chartmod.DemoChart && p.Demo == v || chart == chartmod.TempoChart && p.Tempo == v
	})
}
