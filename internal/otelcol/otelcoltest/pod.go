package otelcoltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/testenv"
)

// ServiceAccount is what a pod's service account gives its containers: a token, the cluster's
// CA, the namespace, and the API server's address (KUBERNETES_SERVICE_HOST and _PORT).
type ServiceAccount struct {
	Token, CA        []byte
	Namespace        string
	APIHost, APIPort string
}

// InPod wraps argv so the program runs as if in a pod of that service account. Components that
// talk to the API server with auth_type serviceAccount (k8sattributes, the default) read the token
// and CA from /var/run/secrets/kubernetes.io/serviceaccount, a path client-go fixes, and the
// address from two environment variables: the program runs in a mount namespace of its own
// (unshare, Linux), where a tmpfs over /var/run holds those files; the host's /var/run is not
// touched. It returns the command and the environment to add.
func InPod(t testing.TB, sa ServiceAccount, argv []string) (cmd, env []string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("SKIPPED: running a collector as in a pod needs Linux mount namespaces (this is %s)", runtime.GOOS)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testenv.Missing(t, "running a collector as in a pod needs unshare and mount (util-linux): "+err.Error())
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"token": sa.Token, "ca.crt": sa.CA, "namespace": []byte(sa.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// --map-root-user: a user namespace lets a non-root user mount there; for root it changes nothing.
	script := strings.Join([]string{
		"set -e",
		`run=$(readlink -f /var/run)`,
		`mount -t tmpfs tmpfs "$run"`,
		`sa=/var/run/secrets/kubernetes.io/serviceaccount`,
		`mkdir -p "$sa"`,
		`cp "$SVCGRAPH_SA_DIR"/token "$SVCGRAPH_SA_DIR"/ca.crt "$SVCGRAPH_SA_DIR"/namespace "$sa"/`,
		`exec "$@"`,
	}, "\n")
	cmd = append([]string{unshare, "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, argv...)
	env = []string{"SVCGRAPH_SA_DIR=" + dir, "KUBERNETES_SERVICE_HOST=" + sa.APIHost, "KUBERNETES_SERVICE_PORT=" + sa.APIPort}
	return cmd, env
}
