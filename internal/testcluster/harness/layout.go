// Package harness builds, starts and stops the loopback test cluster: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok on 127.0.0.1, plus a tiny hostPath volume
// provisioner. All of its state lives in one directory so that `down`, tests and people can
// find the kubeconfig, the logs and the PIDs without asking the process that started them.
package harness

import (
	"os"
	"path/filepath"
	"strings"
)

// Layout names every file in the cluster's state directory. It is shared by the harness (which
// writes the files) and by internal/testcluster (which reads the kubeconfig and the logs).
type Layout struct{ Dir string }

// Components in start order; Down stops them in reverse.
var Components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "provisioner"}

// AdminKubeconfig is the harness's own kubeconfig. Nobody else writes it; copy it before changing it.
func (l Layout) AdminKubeconfig() string { return filepath.Join(l.Dir, "admin.kubeconfig") }

// Kubeconfig is the working kubeconfig exported as KUBECONFIG: a copy of the admin one that tools
// such as the minikube double are free to add contexts to.
func (l Layout) Kubeconfig() string { return filepath.Join(l.Dir, "kubeconfig") }

// BinDir holds links to kubectl and helm (and the minikube double when built), for PATH.
func (l Layout) BinDir() string { return filepath.Join(l.Dir, "bin") }

// MinikubeDoubleState is the minikube double's profile directory.
func (l Layout) MinikubeDoubleState() string { return filepath.Join(l.Dir, "minikube") }

func (l Layout) PKIDir() string              { return filepath.Join(l.Dir, "pki") }
func (l Layout) PKI(name string) string      { return filepath.Join(l.Dir, "pki", name) }
func (l Layout) LogDir() string              { return filepath.Join(l.Dir, "logs") }
func (l Layout) Log(component string) string { return filepath.Join(l.Dir, "logs", component+".log") }
func (l Layout) RunDir() string              { return filepath.Join(l.Dir, "run") }
func (l Layout) PIDFile(component string) string {
	return filepath.Join(l.Dir, "run", component+".pid")
}
func (l Layout) ArgsFile(component string) string {
	return filepath.Join(l.Dir, "run", component+".args")
}
func (l Layout) LockFile() string    { return filepath.Join(l.Dir, "lock") }
func (l Layout) EtcdDataDir() string { return filepath.Join(l.Dir, "etcd") }
func (l Layout) VolumesDir() string  { return filepath.Join(l.Dir, "volumes") }
func (l Layout) KwokConfig() string  { return filepath.Join(l.Dir, "kwok.yaml") }
func (l Layout) StateFile() string   { return filepath.Join(l.Dir, "state.json") }

const (
	serviceClusterIP    = "10.96.0.1" // first address of minikube's service range
	serviceClusterRange = "10.96.0.0/12"
	podCIDR             = "10.244.0.0/16"
)

// TailFile returns the last n lines of a file, or a note saying why there are none.
func TailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StorageClassName and the provisioner name are minikube's, so charts see what they would there.
const (
	StorageClassName = "standard"
	ProvisionerName  = "k8s.io/minikube-hostpath"
)
