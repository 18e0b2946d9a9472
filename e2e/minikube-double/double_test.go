package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcgraph/svcgraph/internal/minikubetest"
)

// bin is the double, built once and run as a real process, as the e2e suite runs it.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minikube-double-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "minikube")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	minikubetest.Cleanup()
	os.Exit(code)
}

// env is one test's world: a state dir, a user kubeconfig and the source kubeconfig.
type env struct {
	t                      *testing.T
	state, kubeconfig, src string
	bin                    string // PATH: the fake docker, unless noDocker
	noDocker               bool
	extra                  []string
}

const srcServer = "https://127.0.0.1:6443"

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	e := &env{t: t, state: filepath.Join(dir, "state"), kubeconfig: filepath.Join(dir, "kube", "config"), src: filepath.Join(dir, "admin.kubeconfig"),
		bin: filepath.Join(dir, "bin")}
	if err := os.MkdirAll(e.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(minikubetest.FakeDocker(t), filepath.Join(e.bin, "docker")); err != nil {
		t.Fatal(err)
	}
	src := `apiVersion: v1
kind: Config
clusters:
- name: loopback
  cluster:
    server: ` + srcServer + `
    certificate-authority-data: Q0E=
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
contexts:
- name: loopback
  context: {cluster: loopback, user: admin}
current-context: loopback
`
	if err := os.WriteFile(e.src, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	path := e.bin
	if e.noDocker {
		path = e.t.TempDir()
	}
	// A user with a 16 GB Docker engine (the fake docker), whoever runs the tests.
	cmd.Env = append(os.Environ(),
		"PATH="+path,
		"MINIKUBE_DOUBLE_STATE="+e.state,
		"KUBECONFIG="+e.kubeconfig,
		"MINIKUBE_DOUBLE_SOURCE_KUBECONFIG="+e.src,
		"MINIKUBE_IN_STYLE=", "MINIKUBE_DOUBLE_FAIL=", "MINIKUBE_DOUBLE_LOG=", "MINIKUBE_DOUBLE_SYSTEM_MEMORY=", "MINIKUBE_DOUBLE_VERSION=",
		"MINIKUBE_DOUBLE_SIZE_NODES=", "MINIKUBE_DOUBLE_ROOT=false", "FAKE_DOCKER_CPUS=4", "FAKE_DOCKER_MEMORY_MB=16384", "FAKE_DOCKER_DAEMON=",
	)
	cmd.Env = append(cmd.Env, e.extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// must runs and insists on the exit code.
func (e *env) must(code int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code {
		e.t.Fatalf("minikube %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func (e *env) status(p string) (string, int) {
	e.t.Helper()
	r := e.run("status", "-p", p, "-o", "json")
	return r.stdout, r.code
}

// snapshot is everything a command may change: the state files and the kubeconfig.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	s := map[string]string{}
	for _, dir := range []string{e.state, filepath.Dir(e.kubeconfig)} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				s[p] = string(b)
			}
			return nil
		})
	}
	return s
}

func statusJSONFor(name, host, kubelet, apiserver, kubeconfig string) string {
	return fmt.Sprintf(`{"Name":"%s","Host":"%s","Kubelet":"%s","APIServer":"%s","Kubeconfig":"%s","Worker":false}`, name, host, kubelet, apiserver, kubeconfig)
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Absent.
	out, code := e.status("svcgraph")
	if code != 85 {
		t.Fatalf("status of a missing profile: exit %d, want 85", code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("missing profile -o json: want 2 cloud events, got %q", out)
	}
	var ev struct {
		Specversion, ID, Source, Type, Datacontenttype string
		Data                                           map[string]string
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "io.k8s.sigs.minikube.info" || ev.Data["message"] != "Profile \"svcgraph\" not found. Run \"minikube profile list\" to view all profiles." {
		t.Errorf("first event: %+v", ev)
	}
	if !strings.HasPrefix(lines[0], `{"specversion":"1.0","id":"`) {
		t.Errorf("event field order: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"message":"To start a cluster, run: \"minikube start -p svcgraph\""`) {
		t.Errorf("second event: %s", lines[1])
	}
	r := e.must(85, "status", "-p", "svcgraph")
	if r.stdout != "* Profile \"svcgraph\" not found. Run \"minikube profile list\" to view all profiles.\n  To start a cluster, run: \"minikube start -p svcgraph\"\n" {
		t.Errorf("missing profile text: %q", r.stdout)
	}

	// Absent → Running.
	r = e.must(0, "start", "-p", "svcgraph", "--cpus", "4", "--memory", "8G", "--driver", "docker")
	wantOut := `* [svcgraph] minikube v1.38.1 on Debian 13.1
* Using the docker driver based on user configuration
* Starting "svcgraph" primary control-plane node in "svcgraph" cluster
* Pulling base image v0.0.50 ...
* Configuring bridge CNI (Container Networking Interface) ...
* Verifying Kubernetes components...
  - Using image gcr.io/k8s-minikube/storage-provisioner:v5
* Enabled addons: storage-provisioner, default-storageclass
* Done! kubectl is now configured to use "svcgraph" cluster and "default" namespace by default
`
	if r.stdout != wantOut || r.stderr != "" {
		t.Errorf("start output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if out, code := e.status("svcgraph"); code != 0 || out != `{"Name":"svcgraph","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}` {
		t.Errorf("running status: %d %q", code, out)
	}
	e.checkContext(t, "svcgraph", true)
	r = e.must(0, "profile", "list", "-o", "json")
	if r.stdout != `{"invalid":[],"valid":[{"Name":"svcgraph","Status":"OK","Config":{"CPUs":4,"Memory":8192,"Driver":"docker","KubernetesConfig":{"KubernetesVersion":"v1.35.1"}},"Active":false,"ActiveKubeContext":true}]}` {
		t.Errorf("profile list: %s", r.stdout)
	}
	r = e.must(0, "status", "-p", "svcgraph")
	if r.stdout != "svcgraph\ntype: Control Plane\nhost: Running\nkubelet: Running\napiserver: Running\nkubeconfig: Configured\n\n" {
		t.Errorf("status text: %q", r.stdout)
	}

	// Running → start again: no change, same size, "existing profile".
	before := e.snapshot()
	r = e.must(0, "start", "-p", "svcgraph", "--cpus=4", "--memory=8192mb")
	if !strings.Contains(r.stdout, "* Using the docker driver based on existing profile\n") || r.stderr != "" {
		t.Errorf("second start: %q / %q", r.stdout, r.stderr)
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("start of a running profile changed state:\n%v\n%v", before, after)
	}

	// Running → Stopped: the profile's context, cluster and user leave the kubeconfig.
	r = e.must(0, "stop", "-p", "svcgraph")
	if r.stdout != "* Stopping node \"svcgraph\"  ...\n* Powering off \"svcgraph\" via SSH ...\n* 1 node stopped.\n" {
		t.Errorf("stop output: %q", r.stdout)
	}
	if out, code := e.status("svcgraph"); code != 7 || out != statusJSONFor("svcgraph", "Stopped", "Stopped", "Stopped", "Stopped") {
		t.Errorf("stopped status: %d %q", code, out)
	}
	e.checkContext(t, "svcgraph", false)
	r = e.must(0, "profile", "list", "-o", "json")
	if !strings.Contains(r.stdout, `"Status":"Stopped"`) || !strings.Contains(r.stdout, `"ActiveKubeContext":false`) {
		t.Errorf("profile list after stop: %s", r.stdout)
	}
	// Stopping twice is fine, as with minikube.
	e.must(0, "stop", "-p", "svcgraph")

	// Stopped → Running with another size asked (that Docker has): warnings, old size kept.
	r = e.must(0, "start", "--profile", "svcgraph", "--cpus", "3", "--memory", "12g")
	if r.stderr != "! You cannot change the memory size for an existing minikube cluster. Please first delete the cluster.\n! You cannot change the CPUs for an existing minikube cluster. Please first delete the cluster.\n" {
		t.Errorf("resize warnings: %q", r.stderr)
	}
	e.checkContext(t, "svcgraph", true)
	r = e.must(0, "profile", "list", "-o", "json")
	if !strings.Contains(r.stdout, `"Status":"OK","Config":{"CPUs":4,"Memory":8192,`) {
		t.Errorf("restart changed the size: %s", r.stdout)
	}

	// Delete: profile and kubeconfig entries gone; delete again succeeds, as minikube's does.
	r = e.must(0, "delete", "-p", "svcgraph")
	if !strings.HasSuffix(r.stdout, "* Removed all traces of the \"svcgraph\" cluster.\n") {
		t.Errorf("delete output: %q", r.stdout)
	}
	e.checkContext(t, "svcgraph", false)
	if _, code := e.status("svcgraph"); code != 85 {
		t.Errorf("status after delete: exit %d", code)
	}
	r = e.must(0, "delete", "-p", "svcgraph")
	if r.stderr != "! \"svcgraph\" profile does not exist, trying anyways.\n" || r.stdout != "* Removed all traces of the \"svcgraph\" cluster.\n" {
		t.Errorf("delete of a missing profile: %q / %q", r.stdout, r.stderr)
	}
	r = e.must(0, "profile", "list", "-o", "json")
	if r.stdout != `{"invalid":[],"valid":[]}` {
		t.Errorf("empty profile list: %q", r.stdout)
	}
	r = e.must(14, "profile", "list")
	if !strings.Contains(r.stderr, "* Exiting due to MK_USAGE_NO_PROFILE: No minikube profile was found.\n") {
		t.Errorf("empty table: %q", r.stderr)
	}
}

// checkContext reads the kubeconfig with client-go, as kubectl and svcgraph do.
func (e *env) checkContext(t *testing.T, name string, want bool) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, hasCtx := cfg.Contexts[name]
	_, hasCluster := cfg.Clusters[name]
	_, hasUser := cfg.AuthInfos[name]
	if !want {
		if hasCtx || hasCluster || hasUser || cfg.CurrentContext == name {
			t.Errorf("kubeconfig still has %s: ctx=%v cluster=%v user=%v current=%q", name, hasCtx, hasCluster, hasUser, cfg.CurrentContext)
		}
		return
	}
	if !hasCtx || ctx.Cluster != name || ctx.AuthInfo != name || ctx.Namespace != "default" || cfg.CurrentContext != name {
		t.Fatalf("kubeconfig context %s: %+v current=%q", name, ctx, cfg.CurrentContext)
	}
	cl, u := cfg.Clusters[name], cfg.AuthInfos[name]
	if cl.Server != srcServer || string(cl.CertificateAuthorityData) != "CA" || string(u.ClientCertificateData) != "CERT" || string(u.ClientKeyData) != "KEY" {
		t.Errorf("kubeconfig entries not copied from the source: %+v %+v", cl, u)
	}
}

func TestStartKeepsOtherKubeconfigEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := `apiVersion: v1
kind: Config
clusters:
- name: work
  cluster: {server: "https://work.example:443"}
users:
- name: me
  user: {token: secret}
contexts:
- name: work
  context: {cluster: work, user: me, namespace: prod}
current-context: work
`
	os.MkdirAll(filepath.Dir(e.kubeconfig), 0o755)
	if err := os.WriteFile(e.kubeconfig, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	// A KUBECONFIG list: minikube writes to the first entry.
	e.extra = []string{"KUBECONFIG=" + e.kubeconfig + string(os.PathListSeparator) + filepath.Join(t.TempDir(), "second")}
	e.must(0, "start", "-p", "demo")
	e.checkContext(t, "demo", true)
	cfg, _ := clientcmd.LoadFromFile(e.kubeconfig)
	if cfg.Contexts["work"] == nil || cfg.Contexts["work"].Namespace != "prod" || cfg.AuthInfos["me"].Token != "secret" {
		t.Fatalf("start lost the user's own entries: %+v", cfg)
	}
	e.must(0, "stop", "-p", "demo")
	cfg, _ = clientcmd.LoadFromFile(e.kubeconfig)
	if cfg.Contexts["work"] == nil || cfg.CurrentContext != "" || cfg.Contexts["demo"] != nil {
		t.Fatalf("after stop: current=%q contexts=%v", cfg.CurrentContext, cfg.Contexts)
	}
}

func TestPausedAndMisconfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(0, "start", "-p", "pz")
	// No pause command: the state file is the documented way to set the scene.
	st := store{e.state}
	p, _ := st.load("pz")
	p.Status = "Paused"
	if err := st.save(p); err != nil {
		t.Fatal(err)
	}
	if out, code := e.status("pz"); code != 2 || out != statusJSONFor("pz", "Running", "Stopped", "Paused", "Configured") {
		t.Errorf("paused: %d %s", code, out)
	}
	if r := e.must(0, "profile", "list", "-o", "json"); !strings.Contains(r.stdout, `"Status":"Paused"`) {
		t.Errorf("paused profile list: %s", r.stdout)
	}
	// Running, but someone removed the context: Kubeconfig Misconfigured, bit 4.
	e.must(0, "start", "-p", "pz")
	os.Remove(e.kubeconfig)
	if out, code := e.status("pz"); code != 4 || out != statusJSONFor("pz", "Running", "Running", "Running", "Misconfigured") {
		t.Errorf("misconfigured: %d %s", code, out)
	}
}
