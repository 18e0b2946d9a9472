//go:build bench

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
)

// TestBenchZarf (issue 17): svcgraph's `prepare --bundle` beside `zarf package create` of the same
// charts (the .tgz files svcgraph's chart cache holds, unpatched: Zarf is given what a user would
// give it) and the same 26 images from the same loopback registry, back to back, the order
// alternating per round. No Kubernetes cluster: neither command talks to one. Zarf is the binary
// SVCGRAPH_BENCH_ZARF names (scripts/zarf prints it); without it the test skips.
//
//	SVCGRAPH_BENCH_ZARF=$(scripts/zarf) go test -tags bench -count=1 -v -run '^TestBenchZarf$' ./e2e
//
// BENCH_ZARF_ROUNDS (default 3), BENCH_ZARF_SBOM=1 for Zarf with its SBOMs (default --skip-sbom),
// BENCH_WORKSHOP_SCALE as for the workshop bench; the table goes to BENCH_OUT; BENCH_ZARF_KEEP=DIR
// (on the same file system) keeps both archives of the last round.
func TestBenchZarf(t *testing.T) {
	zarf := os.Getenv("SVCGRAPH_BENCH_ZARF")
	if zarf == "" {
		t.Skip("SVCGRAPH_BENCH_ZARF is not set (ZARF=$(scripts/zarf) builds and prints it; about 40 minutes the first time)")
	}
	if _, err := os.Stat(zarf); err != nil {
		t.Skipf("SVCGRAPH_BENCH_ZARF: %v", err)
	}
	rounds := benchRounds(t, "BENCH_ZARF_ROUNDS", 3)
	sbom := os.Getenv("BENCH_ZARF_SBOM") == "1"
	b := workshopSettings(t)
	rep := &benchReport{t: t, out: os.Getenv("BENCH_OUT")}
	rep.sampleLoad("start")

	// A world without a cluster: svcgraph and the minikube double on PATH, the fixture chart repo.
	w := newBareWorld(t, "zarf", "", defaultWorldConfig(), map[string]string{})
	w.repo = chartrepo.Serve(t, chartrepo.Dir(t))
	list := w.releaseImages(t)
	reg, mirrors := serveWorkshopImages(t, rep, b, list)
	defer reg.Stop()

	bundle := filepath.Join(w.dir, "workshop.svcgraph")
	// The first prepare fills the chart cache (both sides then start with the charts and without
	// the images).
	expect(t, w.run(t, 30*time.Minute, w.prepareArgs(mirrors)...), 0)
	charts := cachedCharts(t, filepath.Join(w.dir, "cache", "svcgraph"))

	pkgDir := filepath.Join(w.dir, "zarf-package")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	y.WriteString("kind: ZarfPackageConfig\nmetadata:\n  name: svcgraph-workshop\n  version: 0.0.1\ncomponents:\n  - name: demo\n    required: true\n    charts:\n")
	for _, c := range charts {
		name := strings.TrimSuffix(filepath.Base(c), ".tgz")
		cut := strings.LastIndexByte(name, '-')
		fmt.Fprintf(&y, "      - name: %s\n        version: %s\n        namespace: svcgraph\n        localPath: %s\n", name[:cut], name[cut+1:], c)
	}
	y.WriteString("    images:\n")
	for _, img := range list {
		fmt.Fprintf(&y, "      - %s\n", img.Ref)
	}
	if err := os.WriteFile(filepath.Join(pkgDir, "zarf.yaml"), []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("zarf.yaml:\n%s", y.String())
	zarfOut := filepath.Join(w.dir, "zarf-out")
	zarfCache := filepath.Join(w.dir, "zarf-cache")
	zarfTmp := filepath.Join(w.dir, "zarf-tmp")
	args := []string{"package", "create", pkgDir, "--confirm", "--plain-http", "-a", runtime.GOARCH,
		"--output", zarfOut, "--zarf-cache", zarfCache, "--tmpdir", zarfTmp, "--log-format", "json"}
	if !sbom {
		args = append(args, "--skip-sbom")
	}
	for _, m := range mirrors {
		if m == "--registry-mirror" {
			continue
		}
		// docker.io=http://127.0.0.1:PORT/docker.io → docker.io=127.0.0.1:PORT/docker.io
		args = append(args, "--registry-override", strings.Replace(m, "http://", "", 1))
	}
	t.Logf("zarf %s", strings.Join(args, " "))
	nice, err := exec.LookPath("nice")
	if err != nil {
		t.Fatal(err)
	}

	sg := &series{name: "svcgraph prepare --bundle, empty image cache (loopback registry)"}
	zname := "zarf package create --skip-sbom, empty Zarf cache (loopback registry)"
	if sbom {
		zname = "zarf package create (with SBOMs), empty Zarf cache (loopback registry)"
	}
	zs := &series{name: zname}
	var zarfSize, bundleSize int64
	for i := range rounds {
		for _, s := range alternate(i, sg, zs) {
			if s == sg {
				w.clearImageCache(t)
				os.Remove(bundle)
				s.add(w.timed(t, 30*time.Minute, "svcgraph", w.prepareArgs(mirrors, "--bundle", bundle)...))
				bundleSize = fileSize(t, bundle)
				continue
			}
			for _, d := range []string{zarfOut, zarfCache, zarfTmp} {
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s.add(w.timed(t, 30*time.Minute, nice, append([]string{"-n", "10", zarf}, args...)...))
			pkgs, _ := filepath.Glob(filepath.Join(zarfOut, "zarf-package-*"))
			if len(pkgs) != 1 {
				t.Fatalf("zarf package create made %d packages in %s, want 1: %v", len(pkgs), zarfOut, pkgs)
			}
			zarfSize = fileSize(t, pkgs[0])
		}
		rep.sampleLoad(fmt.Sprintf("round %d", i+1))
	}
	rep.rows = append(rep.rows, sg.row(), zs.row())
	rep.ratios = append(rep.ratios, "zarf package create / svcgraph prepare --bundle (time): "+ratio(zs, sg))
	rep.sections = append(rep.sections,
		fmt.Sprintf("svcgraph bundle: %d bytes (%s); Zarf package: %d bytes (%s); bundle / Zarf = %.4f.", bundleSize, mb(bundleSize), zarfSize, mb(zarfSize), float64(bundleSize)/float64(zarfSize)),
		fmt.Sprintf("Zarf's charts: %s (svcgraph's chart cache, unpatched upstream .tgz).", strings.Join(charts, ", ")))
	rep.flush()
	// BENCH_ZARF_KEEP=DIR keeps both archives of the last round, to look inside them.
	if keep := os.Getenv("BENCH_ZARF_KEEP"); keep != "" {
		pkgs, _ := filepath.Glob(filepath.Join(zarfOut, "zarf-package-*"))
		for _, f := range append(pkgs, bundle) {
			if err := os.Rename(f, filepath.Join(keep, filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// cachedCharts lists the chart archives (.tgz) under svcgraph's cache directory.
func cachedCharts(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tgz") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("no chart archive under %s (%v)", dir, err)
	}
	return out
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
