//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Options configure Up. The command's main fills them from its flags and environment.
type Options struct {
	Dir       string  // state directory
	CacheDir  string  // binary cache; binaries go to CacheDir/bin
	RepoRoot  string  // where scripts/testcluster-tools is
	Self      string  // this program's binary, started again as the volume provisioner
	ForwardTo *Target // where every pod port-forward goes, unless a Forward names the port
	Forwards  []Forward
	Nodes     []Node    // the fake nodes; empty means DefaultNodes
	Progress  io.Writer // progress and build output; stdout is kept for the shell lines
}

// State is what a running cluster's state.json records.
type State struct {
	APIServer   string            `json:"apiServer"`
	EtcdPort    int               `json:"etcdPort"`
	KubeletPort int               `json:"kubeletPort"`
	ForwardTo   *Target           `json:"forwardTo,omitempty"`
	Forwards    []Forward         `json:"forwards,omitempty"`
	Nodes       []Node            `json:"nodes,omitempty"` // absent in older states: DefaultNodes
	Bin         map[string]string `json:"bin"`
}

// Env is what a shell needs to use the cluster.
type Env struct{ Layout }

// ShellLines are the lines `eval "$(scripts/testcluster up)"` runs. The MINIKUBE_DOUBLE_*
// variables let the minikube double on PATH hand this cluster to `svcgraph up`; like minikube it
// refuses root, so it plays a regular user here.
func (e Env) ShellLines() string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"KUBECONFIG", e.Kubeconfig()},
		{"SVCGRAPH_TEST_KUBECONFIG", e.AdminKubeconfig()},
		{"SVCGRAPH_TESTCLUSTER_DIR", e.Dir},
		{"MINIKUBE_DOUBLE_STATE", e.MinikubeDoubleState()},
		{"MINIKUBE_DOUBLE_SOURCE_KUBECONFIG", e.AdminKubeconfig()},
		{"MINIKUBE_DOUBLE_ROOT", "false"},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(e.BinDir()))
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Up starts the cluster and waits until it is ready. When a healthy cluster with the same nodes
// is already running in the state directory it only applies the forward rules; anything else
// found there (other nodes, a half-started or crashed cluster) is stopped and replaced.
func Up(ctx context.Context, o Options) (Env, error) {
	l := Layout{Dir: o.Dir}
	if len(o.Nodes) == 0 {
		o.Nodes = DefaultNodes()
	}
	if err := ValidateNodes(o.Nodes); err != nil {
		return Env{}, err
	}
	if st, err := readState(l); err == nil && SameNodes(st.nodes(), o.Nodes) && allRunning(l) && readyz(ctx, l) == nil {
		fmt.Fprintf(o.Progress, "testcluster: already running at %s; updating forward rules\n", st.APIServer)
		if err := applyForwards(ctx, l, o); err != nil {
			return Env{}, err
		}
		st.ForwardTo, st.Forwards = o.ForwardTo, o.Forwards
		return Env{l}, writeState(l, st)
	}
	if err := Down(l, o.Progress); err != nil {
		return Env{}, err
	}
	start := time.Now()
	tools, err := EnsureTools(ctx, o.RepoRoot, o.CacheDir, o.Progress)
	if err != nil {
		return Env{}, err
	}
	started := time.Now()
	u := &upRun{l: l, o: o, tools: tools}
	if err := u.run(ctx); err != nil {
		fmt.Fprintf(o.Progress, "testcluster: up failed: %v\n", err)
		u.dumpLogs(o.Progress)
		if derr := Down(l, o.Progress); derr != nil {
			fmt.Fprintf(o.Progress, "testcluster: cleaning up after the failure: %v\n", derr)
		}
		return Env{}, err
	}
	fmt.Fprintf(o.Progress, "testcluster: ready in %s (%s including builds); logs in %s\n",
		time.Since(started).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), l.LogDir())
	return Env{l}, nil
}

type upRun struct {
	l     Layout
	o     Options
	tools Tools
	procs []*proc
}

func (u *upRun) run(ctx context.Context) error {
	l, o := u.l, u.o
	for _, d := range []string{l.LogDir(), l.EtcdDataDir(), l.PKIDir(), l.RunDir(), l.VolumesDir(), l.BinDir(), l.MinikubeDoubleState()} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	for _, d := range []string{l.LogDir(), l.RunDir(), l.VolumesDir(), l.BinDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writePKI(l); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdPort, etcdPeerPort, apiPort, kubeletPort := ports[0], ports[1], ports[2], ports[3]
	st := State{APIServer: "https://127.0.0.1:" + strconv.Itoa(apiPort), EtcdPort: etcdPort, KubeletPort: kubeletPort,
		ForwardTo: o.ForwardTo, Forwards: o.Forwards, Nodes: o.Nodes, Bin: u.tools.Bin}
	if err := writeAdminKubeconfig(l, st.APIServer); err != nil {
		return err
	}
	if err := writeKwokConfig(l, u.tools.KwokDir); err != nil {
		return err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	if err := u.start("etcd",
		"--name=default", "--data-dir="+l.EtcdDataDir(),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true", // a throwaway cluster: durability buys nothing, fsync costs seconds
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := u.waitFor(ctx, "etcd to be healthy", 30*time.Second, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, etcdURL+"/health"), nil
	}); err != nil {
		return err
	}

	pki := l.PKI
	if err := u.start("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		// The default reconciler would publish the advertise address in the kubernetes Service's
		// endpoints and insists on a non-loopback one.
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--client-ca-file="+pki("ca.crt"),
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-cluster-ip-range="+serviceClusterRange,
		"--kubelet-certificate-authority="+pki("ca.crt"),
		"--kubelet-client-certificate="+pki("admin.crt"), "--kubelet-client-key="+pki("admin.key"),
		// The fake node's hostname does not resolve; its InternalIP is 127.0.0.1 where kwok listens.
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
	); err != nil {
		return err
	}
	if err := u.waitFor(ctx, "kube-apiserver /readyz", 90*time.Second, func(ctx context.Context) (bool, error) {
		return readyz(ctx, l) == nil, nil
	}); err != nil {
		return err
	}
	cfg, err := RESTConfig(l.AdminKubeconfig())
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}

	kubeconfig := "--kubeconfig=" + l.AdminKubeconfig()
	if err := u.start("kube-controller-manager", kubeconfig,
		"--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1",
		"--service-account-private-key-file="+pki("sa.key"), "--root-ca-file="+pki("ca.crt"),
		"--cluster-signing-cert-file="+pki("ca.crt"), "--cluster-signing-key-file="+pki("ca.key"),
		"--service-cluster-ip-range="+serviceClusterRange,
	); err != nil {
		return err
	}
	if err := u.start("kube-scheduler", kubeconfig, "--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1"); err != nil {
		return err
	}

	// Objects kwok needs before it starts: its CRDs, and the nodes with their sizes.
	if err := installKwokCRDs(ctx, dyn, u.tools.KwokDir, u.waitFor); err != nil {
		return err
	}
	if err := createNodes(ctx, cs, o.Nodes); err != nil {
		return err
	}
	if err := createStorageClass(ctx, cs); err != nil {
		return err
	}
	if err := applyForwardsWith(ctx, dyn, o); err != nil {
		return err
	}
	if err := u.start("kwok", kubeconfig,
		"--config="+l.KwokConfig(),
		"--tls-cert-file="+pki("kubelet.crt"), "--tls-private-key-file="+pki("kubelet.key"),
		"--node-ip=127.0.0.1", "--node-name="+NodeName,
		"--node-port="+strconv.Itoa(kubeletPort), "--server-address=127.0.0.1:"+strconv.Itoa(kubeletPort),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--enable-crds="+kwokEnableCRDs(),
		"--cidr="+podCIDR,
		"--node-lease-duration-seconds=40",
	); err != nil {
		return err
	}
	if err := u.startBin("provisioner", o.Self, "provisioner", "--dir="+l.Dir); err != nil {
		return err
	}

	if err := u.waitFor(ctx, fmt.Sprintf("%d node(s) to be Ready", len(o.Nodes)), 60*time.Second, func(ctx context.Context) (bool, error) {
		return nodesReady(ctx, cs, o.Nodes)
	}); err != nil {
		return err
	}
	if err := u.waitFor(ctx, "the default ServiceAccount in namespace default", 60*time.Second, func(ctx context.Context) (bool, error) {
		return serviceAccountExists(ctx, cs, "default", "default")
	}); err != nil {
		return err
	}

	if err := fillBinDir(ctx, l, u.tools.Bin, o.RepoRoot, o.Progress); err != nil {
		return err
	}
	if err := copyFile(l.AdminKubeconfig(), l.Kubeconfig()); err != nil {
		return err
	}
	return writeState(l, st)
}

func (u *upRun) start(name string, args ...string) error {
	return u.startBin(name, u.tools.Bin[name], args...)
}

func (u *upRun) startBin(name, bin string, args ...string) error {
	p, err := startProcess(u.l, name, bin, args...)
	if err != nil {
		return err
	}
	u.procs = append(u.procs, p)
	return nil
}

// waitFor checks cond every 100ms until it holds, the timeout passes, or a component started
// by this run exits (then there is no point waiting: its log says why).
func (u *upRun) waitFor(ctx context.Context, what string, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range u.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("waiting for %s: %s %w (%v); see %s", what, p.name, errExited, p.err, u.l.Log(p.name))
			default:
			}
		}
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := cond(callCtx)
		callCancel()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: not done after %s", what, timeout)
		case <-tick.C:
		}
	}
}

// dumpLogs prints the tail of every component log, for a failed up.
func (u *upRun) dumpLogs(w io.Writer) {
	for _, p := range u.procs {
		fmt.Fprintf(w, "----- %s (last lines of %s) -----\n%s\n", p.name, u.l.Log(p.name), TailFile(u.l.Log(p.name), 30))
	}
}

// freePorts asks the kernel for n distinct free loopback ports. They are released before the
// components bind them; on a loopback test machine the window for a clash is negligible.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// nodes are the running cluster's nodes; a state written before nodes were recorded had the
// default one.
func (st State) nodes() []Node {
	if len(st.Nodes) == 0 {
		return DefaultNodes()
	}
	return st.Nodes
}

func readState(l Layout) (State, error) {
	var st State
	raw, err := os.ReadFile(l.StateFile())
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

func writeState(l Layout, st State) error {
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(l.StateFile(), append(raw, '\n'), 0o644)
}

func copyFile(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, raw, 0o600)
}

// MinikubeDoublePackage is the e2e helper's minikube stand-in; when present in the repository,
// up builds it into the PATH directory so that a plain `svcgraph up` runs against this cluster.
// FakeDockerPackage is the docker it asks, as minikube does, whether its driver works.
const (
	MinikubeDoublePackage = "./e2e/minikube-double"
	FakeDockerPackage     = "./internal/minikubetest/fakedocker"
)

// fillBinDir fills the PATH directory: kubectl and helm from the cache, and the minikube double
// and its fake docker built from the repository (a failed build only costs the double, with a
// warning).
func fillBinDir(ctx context.Context, l Layout, bin map[string]string, repoRoot string, progress io.Writer) error {
	for _, name := range []string{"kubectl", "helm"} {
		if err := os.Symlink(bin[name], filepath.Join(l.BinDir(), name)); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, MinikubeDoublePackage)); err != nil {
		return nil
	}
	for name, pkg := range map[string]string{"minikube": MinikubeDoublePackage, "docker": FakeDockerPackage} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(l.BinDir(), name), pkg)
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = progress, progress
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(progress, "testcluster: WARNING: no minikube double on PATH: go build %s: %v\n", pkg, err)
		}
	}
	return os.MkdirAll(l.MinikubeDoubleState(), 0o755)
}
