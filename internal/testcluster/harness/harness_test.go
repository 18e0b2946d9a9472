package harness

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"reflect"
	"testing"
)

func TestParseForward(t *testing.T) {
	got, err := ParseForward("9090=127.0.0.1:19090")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Forward{PodPort: 9090, Target: Target{Host: "127.0.0.1", Port: 19090}}); got != want {
		t.Errorf("ParseForward = %+v, want %+v", got, want)
	}
	if got, err := ParseTarget(":8080"); err != nil || got.String() != "127.0.0.1:8080" {
		t.Errorf("ParseTarget(:8080) = %v, %v; want 127.0.0.1:8080", got, err)
	}
	if got, err := ParseTarget("[::1]:8080"); err != nil || got.String() != "[::1]:8080" {
		t.Errorf("ParseTarget([::1]:8080) = %v, %v", got, err)
	}
	for _, bad := range []string{"9090", "x=127.0.0.1:1", "0=127.0.0.1:1", "1=127.0.0.1", "1=127.0.0.1:70000"} {
		if _, err := ParseForward(bad); err == nil {
			t.Errorf("ParseForward(%q) accepted", bad)
		}
	}
}

// kwok uses the first rule that lists the port, else the first rule without ports: the
// per-port rules must come before the catch-all.
func TestForwardsSpecOrder(t *testing.T) {
	spec := forwardsSpec([]Forward{{PodPort: 9090, Target: Target{"127.0.0.1", 1}}}, &Target{"127.0.0.1", 2})
	want := []any{
		map[string]any{"ports": []any{int64(9090)}, "target": map[string]any{"address": "127.0.0.1", "port": int64(1)}},
		map[string]any{"target": map[string]any{"address": "127.0.0.1", "port": int64(2)}},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("forwardsSpec = %#v\nwant %#v", spec, want)
	}
}

func TestGoBuildName(t *testing.T) {
	for pkg, want := range map[string]string{
		"go.etcd.io/etcd/server/v3":            "server",
		"k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
		"helm.sh/helm/v3/cmd/helm":             "helm",
		"example.com/tool/v":                   "v",
	} {
		if got := goBuildName(pkg); got != want {
			t.Errorf("goBuildName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// The certificates must chain to the CA for the uses the components put them to.
func TestPKI(t *testing.T) {
	l := Layout{Dir: t.TempDir()}
	if err := writePKI(l); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, l.PKI("ca.crt")))
	verify := func(name, host string, usage x509.ExtKeyUsage) *x509.Certificate {
		c := readCert(t, l.PKI(name))
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s for %q: %v", name, host, err)
		}
		return c
	}
	verify("apiserver.crt", "127.0.0.1", x509.ExtKeyUsageServerAuth)
	verify("apiserver.crt", "kubernetes.default.svc", x509.ExtKeyUsageServerAuth)
	verify("apiserver.crt", serviceClusterIP, x509.ExtKeyUsageServerAuth)
	verify("kubelet.crt", "127.0.0.1", x509.ExtKeyUsageServerAuth)
	admin := verify("admin.crt", "", x509.ExtKeyUsageClientAuth)
	if !reflect.DeepEqual(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin organisations = %v, want [system:masters]", admin.Subject.Organization)
	}
	for _, f := range []string{"sa.key", "sa.pub", "ca.key", "admin.key"} {
		if _, err := os.Stat(l.PKI(f)); err != nil {
			t.Error(err)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
