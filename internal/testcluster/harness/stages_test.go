package harness

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

type stageDoc struct {
	Metadata struct{ Name string }
	Spec     struct {
		Selector struct {
			MatchExpressions []struct {
				Key, Operator string
				Values        []string
			} `json:"matchExpressions"`
		}
		Delay *struct {
			DurationFrom struct{ JQ struct{ Expression string } } `json:"durationFrom"`
		}
		Next struct{ StatusTemplate string } `json:"next"`
	}
}

// stages.yaml spells out the label, values and annotation the Go constants promise.
func TestOwnStagesUseTheConstants(t *testing.T) {
	byName := map[string]stageDoc{}
	for _, doc := range strings.Split(ownStages, "\n---\n") {
		var s stageDoc
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("stages.yaml: %v", err)
		}
		byName[s.Metadata.Name] = s
	}
	labelKey := `.metadata.labels["` + FaultLabel + `"]`
	expr := func(s stageDoc, key string) (string, []string, bool) {
		for _, e := range s.Spec.Selector.MatchExpressions {
			if e.Key == key {
				return e.Operator, e.Values, true
			}
		}
		return "", nil, false
	}

	ready, ok := byName["svcgraph-pod-ready"]
	if !ok {
		t.Fatal("no svcgraph-pod-ready stage")
	}
	if op, _, _ := expr(ready, labelKey); op != "DoesNotExist" {
		t.Errorf("the ready stage must not match faulty pods: %s operator %q, want DoesNotExist", labelKey, op)
	}
	if ready.Spec.Delay == nil || ready.Spec.Delay.DurationFrom.JQ.Expression != `.metadata.annotations["`+ReadyDelayAnnotation+`"]` {
		t.Errorf("the ready stage's delay must come from the %s annotation: %+v", ReadyDelayAnnotation, ready.Spec.Delay)
	}

	for name, want := range map[string]struct{ value, status string }{
		"svcgraph-fault-image-pull-backoff":  {FaultImagePullBackOff, "reason: ImagePullBackOff"},
		"svcgraph-fault-crashloop-oomkilled": {FaultCrashLoopOOMKilled, "reason: OOMKilled"},
	} {
		s, ok := byName[name]
		if !ok {
			t.Errorf("no stage %s", name)
			continue
		}
		if op, vals, _ := expr(s, labelKey); op != "In" || len(vals) != 1 || vals[0] != want.value {
			t.Errorf("%s selects %s %s %v, want In [%s]", name, labelKey, op, vals, want.value)
		}
		// A fault stage must apply once, or kwok would rewrite the status forever.
		if op, _, _ := expr(s, ".status.containerStatuses"); op != "DoesNotExist" {
			t.Errorf("%s must stop matching once it set containerStatuses", name)
		}
		if !strings.Contains(s.Spec.Next.StatusTemplate, want.status) {
			t.Errorf("%s: status template lacks %q", name, want.status)
		}
	}
}

func TestCRILogAndSetContainerLog(t *testing.T) {
	at := time.Date(2026, 11, 25, 21, 0, 0, 5, time.UTC)
	got := string(CRILog([]byte("one\r\ntwo\n\nthree"), at))
	want := "2026-11-25T21:00:00.000000005Z stdout F one\n" +
		"2026-11-25T21:00:00.000000005Z stdout F two\n" +
		"2026-11-25T21:00:00.000000005Z stdout F \n" +
		"2026-11-25T21:00:00.000000005Z stdout F three\n"
	if got != want {
		t.Errorf("CRILog:\n%s\nwant\n%s", got, want)
	}

	obj := LogsObject("ns", "pod")
	for _, step := range []struct{ container, file string }{{"app", "/a"}, {"", "/all"}, {"app", "/b"}} {
		if err := SetContainerLog(obj, step.container, step.file); err != nil {
			t.Fatal(err)
		}
	}
	entries := obj.Object["spec"].(map[string]any)["logs"].([]any)
	if len(entries) != 2 {
		t.Fatalf("entries %v, want one for app and one default", entries)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.(map[string]any)["logsFile"].(string))
	}
	if strings.Join(files, ",") != "/all,/b" {
		t.Errorf("log files %v, want the default /all and app's latest /b", files)
	}
}
