//go:build bench

package e2e

import (
	"testing"
	"time"
)

// benchFit (issue 15): the "cluster fits" step's own time in a warm `up` of the default pair, with
// the registries out of reach (the architecture check skipped after one failed request per
// registry) and with every image's index served by a registry on loopback through
// --registry-mirror (26 manifests read), and its share of the whole run.
func (w *world) benchFit(t *testing.T, rep *benchReport, n int, up []string) {
	list := w.releaseImages(t)
	_, mirrors := serveForPlatforms(t, list, "")
	for _, c := range []struct {
		name  string
		extra []string
	}{
		{"registries unreachable", nil},
		{"26 indexes through a loopback mirror", mirrors},
	} {
		step := &series{name: "fit step in a warm up, " + c.name + " (step_finished elapsed)"}
		whole := &series{name: "warm: svcgraph up --no-forward -o json, " + c.name + " (same runs)"}
		for range n {
			steps, took := w.stepTimes(t, 15*time.Minute, append(append([]string(nil), up...), c.extra...)...)
			step.add(benchRun{took: steps["fit"]})
			whole.add(benchRun{took: took})
		}
		rep.rows = append(rep.rows, step.row(), whole.row())
		rep.ratios = append(rep.ratios, "fit step / warm up, "+c.name+": "+ratio(step, whole))
	}
}
