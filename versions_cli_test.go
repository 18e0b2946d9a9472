package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
)

// isolated points every user directory svcgraph and Helm use into the test's own.
func isolated(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"} {
		t.Setenv(v, home+"/"+strings.ToLower(v))
	}
	for _, v := range []string{"HELM_REPOSITORY_CACHE", "HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, home+"/"+strings.ToLower(v))
	}
	t.Setenv("HELM_REPOSITORY_CONFIG", home+"/helm/repositories.yaml")
}

// extendedRepos serves the fixture repositories plus versions the fixtures lack: demo 0.42.0
// above the covered range, tempo-distributed 2.26.3 inside it (untested) and 3.4.0 above it.
func extendedRepos(t *testing.T) *chartrepo.Server {
	t.Helper()
	dir := chartrepo.WithVersions(t, chartrepo.Dir(t), "open-telemetry", "opentelemetry-demo-0.41.0.tgz", "0.42.0")
	dir = chartrepo.WithVersions(t, dir, "grafana-community", "tempo-distributed-2.26.2.tgz", "2.26.3", "3.4.0")
	return chartrepo.Serve(t, dir)
}

// `--demo-version latest` and an untested pair: the summary line says which version latest
// picked and that the pair is untested, and --output json carries the same as fields.
func TestRenderLatestAndUntestedPair(t *testing.T) {
	isolated(t)
	srv := extendedRepos(t)
	// The newest demo needs more than minikube's default 8G (the budget check says so): 12G.
	args := []string{"render", "--check-only", "--memory", "12G", "--demo-version", "latest", "--tempo-version", "2.26.3",
		"--demo-repo", srv.RepoURL("open-telemetry"), "--tempo-repo", srv.RepoURL("grafana-community")}
	out, code := run(t, args...)
	want := "opentelemetry-demo 0.41.0 (latest) + tempo-distributed 2.26.3, untested pair, 10 checks passed"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 0 and the summary %q:\n%s", code, want, out)
	}

	out, code = run(t, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var found bool
	for _, line := range strings.Split(out, "\n") {
		var ev struct {
			Event, Step string
			Details     struct {
				Demo   string   `json:"demo_version"`
				Tempo  string   `json:"tempo_version"`
				Tested *bool    `json:"tested_pair"`
				Latest []string `json:"latest"`
				Checks int      `json:"checks_passed"`
			}
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Event != "step_finished" || ev.Step != "charts" {
			continue
		}
		found = true
		d := ev.Details
		if d.Demo != "0.41.0" || d.Tempo != "2.26.3" || d.Tested == nil || *d.Tested || strings.Join(d.Latest, ",") != "opentelemetry-demo" || d.Checks != 10 {
			t.Errorf("charts details = %+v", d)
		}
	}
	if !found {
		t.Errorf("no step_finished event for the charts step:\n%s", out)
	}
}

// `svcgraph versions`: the ranges, the tested pairs, and what each repository offers inside
// the ranges, newest first; a repository that does not answer is said, not fatal.
func TestVersionsCommand(t *testing.T) {
	isolated(t)
	srv := extendedRepos(t)
	out, code := run(t, "versions", "--demo-repo", srv.RepoURL("open-telemetry"), "--tempo-repo", srv.RepoURL("grafana-community"))
	for _, w := range []string{
		"opentelemetry-demo   0.30.0 to 0.41.0",
		"tempo-distributed    1.9.4 to 3.3.0",
		"opentelemetry-demo 0.30.2 + tempo-distributed 1.9.4 (default)",
		"opentelemetry-demo 0.41.0 + tempo-distributed 3.3.0\n",
		"opentelemetry-demo in " + srv.RepoURL("open-telemetry") + ", newest first:\n  0.41.0 (tested), 0.30.2 (tested)\n",
		"tempo-distributed in " + srv.RepoURL("grafana-community") + ", newest first:\n  3.3.0 (tested), 2.26.3, 2.26.2 (tested), 1.9.4 (tested)\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("versions output lacks %q", w)
		}
	}
	if code != 0 || strings.Contains(out, "0.42.0") || strings.Contains(out, "3.4.0") {
		t.Errorf("exit %d, or versions outside the ranges listed:\n%s", code, out)
	}

	out, code = run(t, "versions", "-o", "json", "--demo-repo", "http://127.0.0.1:1/charts", "--tempo-repo", srv.RepoURL("grafana-community"))
	var rep struct {
		Covered      map[string]struct{ From, Through string }
		TestedPairs  []struct{ Demo, Tempo string }
		Repositories []struct {
			Chart, Repository, Error string
			Versions                 []string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, out)
	}
	if rep.Covered["opentelemetry-demo"].From != "0.30.0" || len(rep.TestedPairs) != 6 || len(rep.Repositories) != 2 ||
		rep.Repositories[0].Error == "" || len(rep.Repositories[1].Versions) != 4 {
		t.Errorf("versions -o json = %+v", rep)
	}
}

// Bad chart input is refused before anything runs: malformed and pre-release versions are usage
// errors, versions outside the ranges name them, -f /dev/zero is BAD_VALUES.
func TestChartInputErrors(t *testing.T) {
	isolated(t)
	srv := chartrepo.ServeFixtures(t)
	repos := []string{"--demo-repo", srv.RepoURL("open-telemetry"), "--tempo-repo", srv.RepoURL("grafana-community")}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--demo-version", "0.41"}, 2, `"0.41" is not a version`},
		{[]string{"--tempo-version", "3.3.0-rc.1"}, 2, "pre-release"},
		{[]string{"--demo-version", "0.42.0"}, 31, "0.30.0 to 0.41.0"},
		{[]string{"--demo-repo", "oci://registry/charts"}, 2, "not an http(s) URL"},
		{[]string{"-f", "/dev/zero"}, 35, "more than 8 MiB"},
	} {
		out, code := run(t, append(append([]string{"render", "--check-only"}, repos...), tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("render %v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.want, out)
		}
		if tc.code != 35 && len(srv.Requests()) > 0 {
			t.Errorf("render %v asked the repositories %v before refusing", tc.args, srv.Requests())
		}
	}
}

// A password in a repository URL appears in no output, JSON events included.
func TestRepositoryPasswordNeverShown(t *testing.T) {
	isolated(t)
	out, code := run(t, "render", "-o", "json", "--demo-repo", "http://user:s3cret-pw@127.0.0.1:1/charts")
	if code != 30 || strings.Contains(out, "s3cret-pw") || !strings.Contains(out, "user:xxxxx@127.0.0.1:1") {
		t.Errorf("exit %d, want 30 (CHART_REPO) naming the URL without its password:\n%s", code, out)
	}
}
