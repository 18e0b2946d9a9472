package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/chartrepo"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// isolatedHome points HOME, the XDG directories and Helm's at a fresh temporary directory, so a
// command run in-process reads and writes none of the user's (or another test's) files.
func isolatedHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
		"HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, filepath.Join(home, strings.ToLower(v)))
	}
	for _, v := range []string{"HELM_REPOSITORY_CONFIG", "HELM_REPOSITORY_CACHE", "KUBECONFIG"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return home
}

// Helm's --set syntax has commas ({a,b} lists, \, escapes) and a values file may have one in
// its name: each reaches Helm as typed, and the rendered manifest shows it arrived whole.
func TestFlagValuesKeepTheirCommas(t *testing.T) {
	repo := chartrepo.ServeFixtures(t)
	home := isolatedHome(t)
	values := filepath.Join(home, "my,values.yaml")
	if err := os.WriteFile(values, []byte("default:\n  envOverrides:\n    - name: SVCGRAPH_FROM_FILE\n      value: from-the-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		flags []string
		want  *regexp.Regexp
	}{
		{"--set with a {a,b} list",
			[]string{"--set", `opentelemetry-collector.config.receivers.otlp.protocols.http.cors.allowed_origins={http://a.example,http://b.example}`},
			regexp.MustCompile(`(?m)allowed_origins:\n\s*- http://a\.example\n\s*- http://b\.example`)},
		{`--set with an escaped \,`,
			[]string{"--set", `default.envOverrides[0].name=SVCGRAPH_ESCAPED`, "--set", `default.envOverrides[0].value=x\,y`},
			regexp.MustCompile(`(?m)- name: SVCGRAPH_ESCAPED\n\s*value: "?x,y"?$`)},
		{"-f with a comma in the file name",
			[]string{"-f", values},
			regexp.MustCompile(`(?m)- name: SVCGRAPH_FROM_FILE\n\s*value: "?from-the-file"?$`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := runSplit(t, append([]string{"render",
				"--demo-repo", repo.RepoURL("open-telemetry"), "--tempo-repo", repo.RepoURL("grafana-community")}, c.flags...)...)
			if code != 0 {
				t.Fatalf("render %v exited %d\n%s", c.flags, code, out.stderr)
			}
			if !c.want.MatchString(out.stdout) {
				t.Errorf("the rendered manifest lacks %s", c.want)
			}
		})
	}
}

// A command whose output cannot be written (here /dev/full: every write fails with ENOSPC) has
// not done its job and must not exit 0, however well the rest went.
func TestUnwritableOutputIsAnError(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("SKIPPED: no /dev/full on this system (%v)", err)
	}
	defer full.Close()
	repo := chartrepo.ServeFixtures(t)
	isolatedHome(t)
	for _, args := range [][]string{
		{"version"},
		{"render", "--demo-repo", repo.RepoURL("open-telemetry"), "--tempo-repo", repo.RepoURL("grafana-community")},
		{"render", "--check-only", "--demo-repo", repo.RepoURL("open-telemetry"), "--tempo-repo", repo.RepoURL("grafana-community")},
	} {
		var stderr strings.Builder
		code := runCLI(context.Background(), append([]string{"svcgraph"}, args...), full, &stderr)
		if code != reason.Output.ExitCode || !strings.Contains(stderr.String(), "cannot write to standard output") {
			t.Errorf("svcgraph %s > /dev/full: exit %d, want %d (%s) saying so\n%s", strings.Join(args, " "), code, reason.Output.ExitCode, reason.Output.ID, stderr.String())
		}
	}
}
