// Command otelcol-manifest writes the OpenTelemetry Collector Builder manifests scripts/otelcol
// builds from: it renders every supported chart pair from the fixture chart repositories (as
// `svcgraph render` does), lists the components each collector config names, and writes one
// manifest per collector version, plus one for the metrics-generator stand-in at the default
// pair's version. Run it through scripts/otelcol.
//
//	otelcol-manifest --charts DIR --cache DIR --out DIR
//
// For each build it prints one tab-separated line on stdout: name, collector version, the
// manifest's path (or "-" when a module cannot be had), the chart pairs it serves, and the
// missing modules. Progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/otelcol"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "otelcol-manifest: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("otelcol-manifest", flag.ContinueOnError)
	charts := fs.String("charts", "", "the fixture chart repositories (a folder per repository)")
	cache := fs.String("cache", "", "a cache directory for pulled and rendered charts")
	out := fs.String("out", "", "where to write the manifests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *charts == "" || *cache == "" || *out == "" {
		return fmt.Errorf("--charts, --cache and --out are required")
	}
	for _, d := range []string{*cache, *out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The chart repositories over HTTP on loopback, as the tests serve them.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(*charts))}
	go srv.Serve(l) //nolint:errcheck // ends with Close below
	defer srv.Close()
	base := "http://" + l.Addr().String() + "/"

	// Helm's repository list names the server's port, new each run: a list of this run's own.
	helmDir, err := os.MkdirTemp("", "otelcol-manifest-helm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(helmDir)
	helm := cli.New()
	helm.RepositoryConfig = filepath.Join(helmDir, "repositories.yaml")
	helm.RepositoryCache = filepath.Join(helmDir, "repository")

	type group struct {
		comps otelcol.Components
		pairs []string
	}
	groups := map[string]*group{}
	var versions []string
	defaultVersion := ""
	ctx := context.Background()
	for _, pair := range chartmod.TestedPairs() {
		col, err := otelcol.Render(ctx, chartmod.Options{
			DemoVersion: pair.Demo, TempoVersion: pair.Tempo,
			DemoRepoURL: base + "open-telemetry", TempoRepoURL: base + "grafana-community",
			Release: "my-otel-demo", Namespace: "otel-demo", CacheDir: *cache, Helm: helm,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", pair, err)
		}
		comps, err := otelcol.ComponentsOf([]byte(col.Config))
		if err != nil {
			return fmt.Errorf("%s: %w", pair, err)
		}
		fmt.Fprintf(os.Stderr, "otelcol-manifest: %s runs collector %s (%s)\n", pair, col.Version, col.Object)
		g := groups[col.Version]
		if g == nil {
			g = &group{comps: otelcol.Components{}}
			groups[col.Version] = g
			versions = append(versions, col.Version)
		}
		g.comps.Add(comps)
		g.pairs = append(g.pairs, pair.Demo+"/"+pair.Tempo)
		if pair.Demo == chartmod.DefaultDemoVersion && pair.Tempo == chartmod.DefaultTempoVersion {
			defaultVersion = col.Version
		}
	}
	if defaultVersion == "" {
		return fmt.Errorf("the default pair %s/%s is not among the supported pairs", chartmod.DefaultDemoVersion, chartmod.DefaultTempoVersion)
	}
	slices.Sort(versions)
	var lines []string
	for _, v := range versions {
		g := groups[v]
		fmt.Fprintf(os.Stderr, "otelcol-manifest: collector %s names\n%s", v, indent(g.comps.String()))
		line, err := write(*out, "otelcol", v, g.comps, strings.Join(g.pairs, ","))
		if err != nil {
			return err
		}
		lines = append(lines, line)
	}
	line, err := write(*out, otelcol.MetricsGenerator, defaultVersion, otelcol.MetricsGeneratorComponents(), "-")
	if err != nil {
		return err
	}
	lines = append(lines, line)
	fmt.Println(strings.Join(lines, "\n"))
	return nil
}

// write writes name-version.yaml (or, when a module cannot be had, nothing) and returns the
// build's line for stdout.
func write(out, name, version string, c otelcol.Components, pairs string) (string, error) {
	b, err := otelcol.NewBuild(name+"-"+version, version, c)
	if err != nil {
		return "", err
	}
	manifest := "-"
	if len(b.Missing) == 0 {
		manifest = filepath.Join(out, b.Name+".yaml")
		// The builder's output directory is the script's to choose; it replaces OUTPUT_PATH.
		if err := os.WriteFile(manifest, []byte(b.Manifest("OUTPUT_PATH")), 0o644); err != nil {
			return "", err
		}
	}
	return strings.Join([]string{name, version, manifest, pairs, strings.Join(b.Missing, ",")}, "\t"), nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
