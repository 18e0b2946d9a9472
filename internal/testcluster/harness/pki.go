package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// certSpec describes one leaf certificate signed by the cluster CA.
type certSpec struct {
	file  string // base name; writes <file>.crt and <file>.key
	cn    string
	orgs  []string
	dns   []string
	ips   []net.IP
	usage []x509.ExtKeyUsage
}

// NodeName is the fake node's name: minikube's, so that what svcgraph prints looks the same.
const NodeName = "minikube"

// writePKI creates a fresh CA, the serving and client certificates every component needs, and
// the service-account key pair. ECDSA P-256 keeps generation instant; every component accepts it.
func writePKI(l Layout) error {
	if err := os.MkdirAll(l.PKIDir(), 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "svcgraph-testcluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCertAndKey(l, "ca", caDER, caKey); err != nil {
		return err
	}

	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	specs := []certSpec{
		{file: "apiserver", cn: "kube-apiserver", usage: server,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: append(loopback, net.ParseIP(serviceClusterIP))},
		// One system:masters client for kubectl, helm, the controllers, kwok and the apiserver's
		// calls to the kubelet: this cluster has a single trusted user.
		{file: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}, usage: client},
		// The kubelet API that kwok serves; the apiserver checks it with --kubelet-certificate-authority.
		{file: "kubelet", cn: NodeName, dns: []string{NodeName, "localhost"}, ips: loopback, usage: server},
	}
	for i, s := range specs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  s.usage,
			DNSNames:     s.dns,
			IPAddresses:  s.ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
		if err != nil {
			return fmt.Errorf("sign %s certificate: %w", s.file, err)
		}
		if err := writeCertAndKey(l, s.file, der, key); err != nil {
			return err
		}
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(l.PKI("sa.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	return writePEM(l.PKI("sa.pub"), "PUBLIC KEY", pub)
}

func writeCertAndKey(l Layout, name string, der []byte, key crypto.Signer) error {
	if err := writePEM(l.PKI(name+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return writeKey(l.PKI(name+".key"), key)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
