package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStyledOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra = []string{"MINIKUBE_IN_STYLE=true"}
	r := e.must(0, "start", "-p", "svcgraph")
	if !strings.HasPrefix(r.stdout, "😄  [svcgraph] minikube v1.38.1 on Debian 13.1\n✨  Automatically selected the docker driver\n") ||
		!strings.HasSuffix(r.stdout, "🏄  Done! kubectl is now configured to use \"svcgraph\" cluster and \"default\" namespace by default\n") {
		t.Errorf("styled start: %q", r.stdout)
	}
	r = e.must(0, "stop", "-p", "svcgraph")
	if !strings.HasPrefix(r.stdout, "✋  Stopping node \"svcgraph\"  ...\n") || !strings.HasSuffix(r.stdout, "🛑  1 node stopped.\n") {
		t.Errorf("styled stop: %q", r.stdout)
	}
	e.extra = append(e.extra, "FAKE_DOCKER_DAEMON=stopped")
	r = e.must(63, "start", "-p", "svcgraph")
	if !strings.Contains(r.stderr, "💣  Exiting due to PROVIDER_DOCKER_NOT_RUNNING: ") || !strings.Contains(r.stderr, "💡  Suggestion: Start the Docker service\n📘  Documentation: ") {
		t.Errorf("styled failure: %q", r.stderr)
	}
}

func TestVersionUsageAndLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logFile := filepath.Join(t.TempDir(), "calls.log")
	e.extra = []string{"MINIKUBE_DOUBLE_LOG=" + logFile}
	r := e.must(0, "version", "-o", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["minikubeVersion"] != "v1.38.1" || len(v["commit"]) != 40 || !strings.HasSuffix(r.stdout, "}\n") {
		t.Errorf("version json: %q %v", r.stdout, err)
	}
	if r := e.must(0, "version", "--short"); r.stdout != "v1.38.1\n" {
		t.Errorf("version --short: %q", r.stdout)
	}
	r = e.must(14, "frobnicate")
	if r.stderr != "Error: unknown command \"frobnicate\" for \"minikube\"\nRun 'minikube --help' for usage.\n" {
		t.Errorf("unknown command: %q", r.stderr)
	}
	r = e.must(14, "start", "-p", "svcgraph", "--bogus")
	if !strings.HasPrefix(r.stderr, "Error: unknown flag: --bogus\n") {
		t.Errorf("unknown flag: %q", r.stderr)
	}
	e.must(14, "status", "-p", "svcgraph", "-o", "yaml")
	e.must(0, "start", "-p", "svcgraph", "--memory", "8 G")

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "version -o json\nversion --short\nfrobnicate\nstart -p svcgraph --bogus\nstatus -p svcgraph -o yaml\nstart -p svcgraph --memory \"8 G\"\n"
	if string(b) != want {
		t.Errorf("log:\n%s\nwant:\n%s", b, want)
	}

	// Without a state directory the double says so instead of guessing.
	cmd := exec.Command(bin, "status")
	cmd.Env = append(os.Environ(), "MINIKUBE_DOUBLE_STATE=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "MINIKUBE_DOUBLE_STATE is not set") {
		t.Errorf("missing state dir: %v %s", err, out)
	}
}

func TestStopMissingAndFlagPositions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(85, "stop", "-p", "ghost")
	if r.stdout != "* Profile \"ghost\" not found. Run \"minikube profile list\" to view all profiles.\n  To start a cluster, run: \"minikube start -p ghost\"\n" {
		t.Errorf("stop of a missing profile: %q", r.stdout)
	}
	// Flags may come before the command, and -p may be -pNAME or -p=NAME, as with cobra.
	e.must(0, "-p", "early", "start", "--memory=3g")
	if out, code := e.status("early"); code != 0 || !strings.Contains(out, `"Name":"early"`) {
		t.Errorf("status: %d %s", code, out)
	}
	e.must(0, "status", "-pearly")
	e.must(0, "status", "-p=early", "--output=json")
	// The default profile is "minikube", which the usage hints then leave out.
	r = e.must(85, "status")
	if !strings.Contains(r.stdout, `To start a cluster, run: "minikube start"`) {
		t.Errorf("default profile hint: %q", r.stdout)
	}
	r = e.must(14, "status", "-x")
	if !strings.HasPrefix(r.stderr, "Error: unknown shorthand flag: 'x' in -x\nUsage:\n  minikube status") {
		t.Errorf("unknown shorthand: %q", r.stderr)
	}
}

func TestPauseUnpause(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(85, "pause", "-p", "pp")
	e.must(0, "start", "-p", "pp")
	r := e.must(0, "pause", "-p", "pp")
	if r.stdout != "* Pausing node pp ... \n* Paused 14 containers in: kube-system, kubernetes-dashboard, istio-operator\n" {
		t.Errorf("pause: %q", r.stdout)
	}
	if out, code := e.status("pp"); code != 2 || out != statusJSONFor("pp", "Running", "Stopped", "Paused", "Configured") {
		t.Errorf("paused status: %d %s", code, out)
	}
	r = e.must(0, "unpause", "-p", "pp", "-A")
	if r.stdout != "* Unpausing node pp ... \n* Unpaused 14 containers\n" {
		t.Errorf("unpause: %q", r.stdout)
	}
	if _, code := e.status("pp"); code != 0 {
		t.Errorf("after unpause: exit %d", code)
	}
	e.must(0, "stop", "-p", "pp")
	r = e.must(83, "unpause", "-p", "pp")
	if !strings.Contains(r.stdout, "host is not running: state=Stopped") {
		t.Errorf("unpause of a stopped profile: %q", r.stdout)
	}
}
