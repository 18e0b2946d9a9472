//go:build bench

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/chartmod"
)

// stepTimes runs svcgraph with -o json and returns each step's own time (step_finished
// elapsed_ms) and the whole process's wall time.
func (w *world) stepTimes(t *testing.T, limit time.Duration, args ...string) (map[string]time.Duration, time.Duration) {
	t.Helper()
	r := w.run(t, limit, append(args, "--output", "json")...)
	if r.code != 0 {
		t.Fatalf("svcgraph %s exited %d\n%s", strings.Join(args, " "), r.code, r)
	}
	steps := map[string]time.Duration{}
	for _, line := range strings.Split(r.stdout, "\n") {
		var ev struct {
			Event     string `json:"event"`
			Step      string `json:"step"`
			ElapsedMS *int64 `json:"elapsed_ms"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "step_finished" && ev.ElapsedMS != nil {
			steps[ev.Step] = time.Duration(*ev.ElapsedMS) * time.Millisecond
		}
	}
	if _, ok := steps["budget"]; !ok {
		t.Fatalf("no budget step in svcgraph %s:\n%s", strings.Join(args, " "), r.stdout)
	}
	return steps, r.took
}

// benchBudget (issue 14): the budget check's own time in a warm `up` of the default pair, and
// its share of the whole run.
func (w *world) benchBudget(t *testing.T, rep *benchReport, n int, up []string) {
	step := &series{name: "budget check step in a warm up (step_finished elapsed)"}
	whole := &series{name: "warm: svcgraph up --no-forward -o json (same runs)"}
	for range n {
		steps, took := w.stepTimes(t, 15*time.Minute, up...)
		step.add(benchRun{took: steps["budget"]})
		whole.add(benchRun{took: took})
	}
	rep.rows = append(rep.rows, step.row(), whole.row())
	rep.ratios = append(rep.ratios, "budget step / warm up: "+ratio(step, whole))
}

// benchPresets (issue 14): a cold `up --preset lite` against a cold `up` (full) on the loopback
// cluster: wall time, pods and API objects of the release. down (not timed) between rounds.
func (w *world) benchPresets(t *testing.T, rep *benchReport, n int, down func()) {
	var b strings.Builder
	b.WriteString("| preset | n | median s (cold up) | pods | API objects in the release |\n|---|---|---|---|---|\n")
	for _, preset := range chartmod.Presets {
		s := &series{name: "cold: svcgraph up --no-forward --preset " + preset}
		pods, objects := 0, 0
		for range n {
			down()
			// --memory 8G for both: lite's own default (4G) is smaller than the profile the
			// benchmark's world already has, which is fine, but equal flags keep the runs alike.
			r := w.timed(t, 15*time.Minute, "svcgraph", w.benchUp("--preset", preset, "--memory", "8G", "--cpus", "4")...)
			s.add(r)
			pods = w.podsReady(t)
			rel := w.release(t)
			if rel == nil {
				t.Fatalf("no release after up --preset %s", preset)
			}
			objects = manifestObjects(rel.Manifest)
		}
		rep.rows = append(rep.rows, s.row())
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d |\n", preset, n, secs(median(s.sorted())), pods, objects)
	}
	rep.sections = append(rep.sections, "Cold up by preset (default pair):\n\n"+b.String())
}

// manifestObjects counts the objects of a Helm release manifest.
func manifestObjects(manifest string) int {
	n := 0
	for _, doc := range strings.Split(manifest, "\n---") {
		if strings.Contains(doc, "\nkind:") || strings.HasPrefix(strings.TrimSpace(doc), "kind:") {
			n++
		}
	}
	return n
}
