package chartmod

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The second render of an unchanged chart comes from the cache (a marker planted in the cached
// manifest shows up), is parsed and checked like a fresh one, and anything a render depends on
// (values, namespace, Kubernetes version) renders afresh.
func TestRenderCache(t *testing.T) {
	o, _ := fixtureOptions(t, "0.30.2", "1.9.4", "my-otel-demo")
	p, fresh := prepare(t, o)
	entries, err := filepath.Glob(filepath.Join(renderCacheDir(o.CacheDir), "*.yaml"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("after one render the cache holds %v (%v), want one manifest", entries, err)
	}
	again, err := Render(p, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Manifest != fresh.Manifest || !reflect.DeepEqual(again.Objects, fresh.Objects) ||
		again.condition != fresh.condition || again.switchSet != fresh.switchSet {
		t.Fatal("a cached render differs from the fresh one")
	}
	if err := Check(again).Err(); err != nil {
		t.Fatalf("checks on the cached render: %v", err)
	}

	const marker = "svcgraph-test-marker"
	planted := fresh.Manifest + "\n---\n# Source: test/marker.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + marker + "\n"
	if err := writeChecked(entries[0], []byte(planted)); err != nil {
		t.Fatal(err)
	}
	hit, err := Render(p, o)
	if err != nil {
		t.Fatal(err)
	}
	if hit.Find("ConfigMap", marker) == nil {
		t.Fatal("an unchanged chart was rendered again instead of read from the cache")
	}

	for name, change := range map[string]func(*Options){
		"values":             func(o *Options) { o.SetValues = []string{"grafana.adminPassword=other"} },
		"namespace":          func(o *Options) { o.Namespace = "elsewhere" },
		"Kubernetes version": func(o *Options) { o.KubeVersion = "v1.33.0" },
	} {
		other := o
		change(&other)
		q := p
		if name == "values" {
			var err error
			if q, err = Patch(t.Context(), mustPull(t, other), other); err != nil {
				t.Fatal(err)
			}
		}
		r, err := Render(q, other)
		if err != nil {
			t.Fatalf("%s changed: %v", name, err)
		}
		if r.Find("ConfigMap", marker) != nil {
			t.Errorf("%s changed, but the render came from the cache", name)
		}
	}

	// Entries that do not hold are rendered afresh and rewritten, not trusted: one truncated to
	// zero bytes (which would parse as no objects at all and fail every check), one cut short,
	// one edited, and an intact entry whose manifest does not parse.
	for name, damage := range map[string]func([]byte) []byte{
		"truncated to zero bytes": func([]byte) []byte { return nil },
		"cut short":               func(b []byte) []byte { return b[:len(b)/2] },
		"edited": func(b []byte) []byte {
			return bytes.Replace(b, []byte("kind: Deployment"), []byte("kind: Deployed"), 1)
		},
		"checked but unparsable": func([]byte) []byte {
			return mustChecked(t, "kind: [unclosed\n")
		},
	} {
		good, err := os.ReadFile(entries[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(entries[0], damage(good), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Render(p, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Manifest != fresh.Manifest {
			t.Fatalf("%s: the entry was trusted instead of rendering afresh", name)
		}
		if err := Check(r).Err(); err != nil {
			t.Errorf("%s: checks failed: %v", name, err)
		}
		if data, ok := readChecked(entries[0]); !ok || string(data) != fresh.Manifest {
			t.Errorf("%s: the damaged entry was not rewritten", name)
		}
	}
}

// mustChecked is what writeChecked stores for data.
func mustChecked(t *testing.T, data string) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "entry")
	if err := writeChecked(file, []byte(data)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRenderCacheKeepsTheRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	// File times are coarse (a few ms): entries written in a row get explicit, distinct ones.
	base := time.Now().Add(-time.Hour)
	for i := range renderCacheKeep + 3 {
		key := strings.Repeat(string(rune('a'+i)), 4)
		keepRender(dir, key, "kind: ConfigMap\n")
		used := base.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(filepath.Join(renderCacheDir(dir), key+".yaml"), used, used); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := cachedRender(dir, "aaaa"); ok {
		t.Error("the oldest entry survived beyond the limit")
	}
	last := strings.Repeat(string(rune('a'+renderCacheKeep+2)), 4)
	if _, ok := cachedRender(dir, last); !ok {
		t.Error("the newest entry is gone")
	}
	entries, _ := os.ReadDir(renderCacheDir(dir))
	if len(entries) != renderCacheKeep {
		t.Errorf("%d entries kept, want %d", len(entries), renderCacheKeep)
	}
}

func mustPull(t *testing.T, o Options) *Pulled {
	t.Helper()
	p, err := Pull(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
