package chartmod

import (
	"context"
	"testing"
)

// BenchmarkPrepareRender measures what `up` and `render` do before installing when the packages
// are cached: pull (digest check only) + patch + client-only render + checks, for the default
// pair 0.30.2/1.9.4. Goal: under 1.5 s on the 2-core build machines.
// Measured 2026-11-25 on 2 cores shared with other builds: 0.84 s/op at load average 13 and
// 0.91 s/op at load 3-4 (after the values splice and its check), 162 MB and 3.5 M allocs per op;
// the Helm render is most of it.
func BenchmarkPrepareRender(b *testing.B) {
	o, srv := fixtureOptions(b, "0.30.2", "1.9.4", "my-otel-demo")
	ctx := context.Background()
	if _, err := Pull(ctx, o); err != nil { // warm the cache
		b.Fatal(err)
	}
	warm := len(srv.Requests())
	for b.Loop() {
		pulled, err := Pull(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Patch(pulled, o)
		if err != nil {
			b.Fatal(err)
		}
		r, err := Render(p, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := Check(r).Err(); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(srv.Requests()) - warm; n != 0 {
		b.Fatalf("cached runs made %d requests", n)
	}
}
