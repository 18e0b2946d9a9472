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
	os.Exit(code)
}

// env is one test's world: a state dir, a user kubeconfig and the source kubeconfig.
type env struct {
	t                      *testing.T
	state, kubeconfig, src string
	extra                  []string
}

const srcServer = "https://127.0.0.1:6443"

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	e := &env{t: t, state: filepath.Join(dir, "state"), kubeconfig: filepath.Join(dir, "kube", "config"), src: filepath.Join(dir, "admin.kubeconfig")}
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
	cmd.Env = append(os.Environ(),
		"MINIKUBE_DOUBLE_STATE="+e.state,
		"KUBECONFIG="+e.kubeconfig,
		"MINIKUBE_DOUBLE_SOURCE_KUBECONFIG="+e.src,
		"MINIKUBE_IN_STYLE=", "MINIKUBE_DOUBLE_FAIL=", "MINIKUBE_DOUBLE_LOG=", "MINIKUBE_DOUBLE_SYSTEM_MEMORY=",
		"MINIKUBE_DOUBLE_SIZE_NODES=",
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
	if ev.Type != "io.k8s.sigs.minikube.info" || ev.Data["message"] != "Profile \"svcgraph\" not found. Run \"minikube profile list\" to view all profiles.\n" {
		t.Errorf("first event: %+v", ev)
	}
	if !strings.HasPrefix(lines[0], `{"specversion":"1.0","id":"`) {
		t.Errorf("event field order: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"message":"To start a cluster, run: \"minikube start -p svcgraph\"\n"`) {
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

	// Stopped → Running with another size asked: warnings, old size kept.
	r = e.must(0, "start", "--profile", "svcgraph", "--cpus", "6", "--memory", "16g")
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

func TestDefaultsAndSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		profile, memory string
		want            int
	}{
		{"m1", "", 4000}, // minikube's suggestion for 16 GB: 25%, rounded to 100 MB
		{"m2", "8192", 8192},
		{"m3", "8g", 8192},
		{"m4", "8GB", 8192},
		{"m5", "8192mb", 8192},
		{"m6", "2.5G", 2560},
		{"m7", "4gib", 4096},
	} {
		args := []string{"start", "-p", c.profile}
		if c.memory != "" {
			args = append(args, "--memory", c.memory)
		}
		e.must(0, args...)
		p, err := store{e.state}.load(c.profile)
		if err != nil || p == nil {
			t.Fatalf("%s: %v", c.profile, err)
		}
		if p.Memory != c.want || p.CPUs != 2 || p.Driver != "docker" || p.KubernetesVersion != "v1.35.1" {
			t.Errorf("--memory %q: %+v, want %d MB, 2 CPUs, docker, v1.35.1", c.memory, p, c.want)
		}
	}
	e.must(0, "start", "-p", "kv", "--kubernetes-version", "1.34.0")
	if p, _ := (store{e.state}).load("kv"); p.KubernetesVersion != "v1.34.0" {
		t.Errorf("kubernetes version: %+v", p)
	}

	before := e.snapshot()
	r := e.must(14, "start", "-p", "bad", "--memory", "lots")
	if !strings.Contains(r.stderr, "X Exiting due to MK_USAGE: Generate unable to parse memory 'lots': FromHumanSize: invalid size: 'lots'\n") {
		t.Errorf("bad memory: %q", r.stderr)
	}
	r = e.must(23, "start", "-p", "bad", "--memory", "1000")
	if !strings.Contains(r.stderr, "X Exiting due to RSRC_INSUFFICIENT_REQ_MEMORY: Requested memory allocation 1000MiB is less than the usable minimum of 1800MB\n") {
		t.Errorf("small memory: %q", r.stderr)
	}
	r = e.must(29, "start", "-p", "bad", "--cpus", "1")
	if !strings.Contains(r.stderr, "Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 1 is less than the minimum allowed of 2") {
		t.Errorf("one cpu: %q", r.stderr)
	}
	r = e.must(14, "start", "-p", "bad", "--memory", "32g")
	if !strings.Contains(r.stderr, "Exiting due to MK_USAGE: Docker has only 16384MB memory but you specified 32768MB") {
		t.Errorf("too much memory: %q", r.stderr)
	}
	r = e.must(14, "start", "-p", "x")
	if !strings.Contains(r.stderr, "! Profile name 'x' is not valid\n") {
		t.Errorf("short profile name: %q", r.stderr)
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("failed starts changed state")
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

func TestFaultsChangeNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code    string
		want    []string
		profile bool // an existing stopped profile is present
		args    []string
	}{
		{"23", []string{"X Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY: docker only has 1024MiB available, less than the required 1800MiB for Kubernetes\n"}, false, nil},
		{"23", []string{"Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY"}, true, nil},
		{"63", []string{
			"X Exiting due to PROVIDER_DOCKER_NOT_RUNNING: \"docker version --format {{.Server.Os}}-{{.Server.Version}}:{{.Server.Platform.Name}}\" exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
			"* Suggestion: Start the Docker service\n* Documentation: https://minikube.sigs.k8s.io/docs/drivers/docker/\n"}, false, []string{"--driver", "docker"}},
		{"55", []string{"X Exiting due to DRV_DOCKER_NOT_RUNNING: Found docker, but the docker service isn't running. Try restarting the docker service.\n"}, false, nil},
		{"55", []string{"X Exiting due to DRV_NOT_HEALTHY:"}, false, []string{"--driver=docker"}},
		{"65", []string{"* Exiting due to PROVIDER_DOCKER_NOT_FOUND: The 'docker' provider was not found: exec: \"docker\": executable file not found in $PATH\n", "* Suggestion: Install Docker\n"}, false, nil},
		{"81", []string{"! Exiting due to GUEST_DRIVER_MISMATCH: The existing \"svcgraph\" cluster was created using the \"docker\" driver, which is incompatible with requested \"qemu2\" driver.\n",
			"* Suggestion: Delete the existing 'svcgraph' cluster using: 'minikube delete -p svcgraph', or start the existing 'svcgraph' cluster using: 'minikube start -p svcgraph --driver=docker'\n"}, true, nil},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			e := newEnv(t)
			if c.profile {
				e.must(0, "start", "-p", "svcgraph")
				e.must(0, "stop", "-p", "svcgraph")
			}
			before := e.snapshot()
			e.extra = []string{"MINIKUBE_DOUBLE_FAIL=" + c.code}
			r := e.run(append([]string{"start", "-p", "svcgraph", "--cpus", "4", "--memory", "8G"}, c.args...)...)
			if fmt.Sprint(r.code) != c.code {
				t.Fatalf("exit %d, want %s\n%s\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "Done!") {
				t.Errorf("a failed start said Done")
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("fault %s changed state or kubeconfig:\nbefore %v\nafter  %v", c.code, before, after)
			}
		})
	}
}

func TestRealDriverMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(0, "start", "-p", "dm", "--driver", "docker")
	before := e.snapshot()
	r := e.must(81, "start", "-p", "dm", "--driver", "kvm2")
	if !strings.Contains(r.stderr, `requested "kvm2" driver.`) {
		t.Errorf("mismatch: %q", r.stderr)
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Errorf("mismatch changed state")
	}
}

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
	e.extra = append(e.extra, "MINIKUBE_DOUBLE_FAIL=63")
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
