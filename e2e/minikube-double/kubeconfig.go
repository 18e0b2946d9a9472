package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigPath is minikube's kubeconfig.PathFromEnv: the first non-empty KUBECONFIG entry,
// else ~/.kube/config.
func kubeconfigPath() string {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "config")
}

// readKubeconfig reads without resolving relative paths, as minikube's readOrNew does, so
// entries that belong to others are written back exactly as they were.
func readKubeconfig(path string) (*api.Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return api.NewConfig(), nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// sourceCluster reads the cluster and credentials the double hands out: the current context of
// MINIKUBE_DOUBLE_SOURCE_KUBECONFIG (the loopback test cluster's admin kubeconfig).
func sourceCluster() (*api.Cluster, *api.AuthInfo, error) {
	path := os.Getenv("MINIKUBE_DOUBLE_SOURCE_KUBECONFIG")
	if path == "" {
		return nil, nil, errors.New("MINIKUBE_DOUBLE_SOURCE_KUBECONFIG is not set: it must name the kubeconfig of the cluster that `start` hands out")
	}
	// LoadFromFile makes relative certificate paths absolute, so they still resolve from the
	// kubeconfig the double writes elsewhere.
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("source kubeconfig: %w", err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, nil, fmt.Errorf("source kubeconfig %s has no current context", path)
	}
	cl, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return nil, nil, fmt.Errorf("source kubeconfig %s: context %q names a missing cluster", path, cfg.CurrentContext)
	}
	user, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return nil, nil, fmt.Errorf("source kubeconfig %s: context %q names a missing user", path, cfg.CurrentContext)
	}
	return cl, user, nil
}

// writeContext does what minikube's kubeconfig.Update does after start: a cluster, a user and a
// context all named after the profile (namespace "default"), merged into the file, and current.
func writeContext(name string) error {
	cl, user, err := sourceCluster()
	if err != nil {
		return err
	}
	path := kubeconfigPath()
	cfg, err := readKubeconfig(path)
	if err != nil {
		return err
	}
	c := api.NewCluster()
	c.Server = cl.Server
	c.CertificateAuthority = cl.CertificateAuthority
	c.CertificateAuthorityData = cl.CertificateAuthorityData
	c.TLSServerName = cl.TLSServerName
	u := api.NewAuthInfo()
	u.ClientCertificate, u.ClientCertificateData = user.ClientCertificate, user.ClientCertificateData
	u.ClientKey, u.ClientKeyData = user.ClientKey, user.ClientKeyData
	u.Token = user.Token
	x := api.NewContext()
	x.Cluster, x.AuthInfo, x.Namespace = name, name, "default"
	cfg.Clusters[name], cfg.AuthInfos[name], cfg.Contexts[name] = c, u, x
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// deleteContext is minikube's kubeconfig.DeleteContext, used by both stop and delete: the
// profile's cluster, user and context go, and current-context is cleared if it was the profile.
// An absent or empty kubeconfig is left alone.
func deleteContext(name string) error {
	path := kubeconfigPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cfg, err := readKubeconfig(path)
	if err != nil {
		return err
	}
	if api.IsConfigEmpty(cfg) {
		return nil
	}
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, name)
	delete(cfg.Contexts, name)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// kubeconfigState answers minikube status's Kubeconfig field for a running profile: Configured
// when the profile's context points at the server the double hands out, Misconfigured otherwise
// (minikube's kubeconfig.VerifyEndpoint).
func kubeconfigState(name string) string {
	cfg, err := readKubeconfig(kubeconfigPath())
	if err != nil {
		return "Misconfigured"
	}
	cl, ok := cfg.Clusters[name]
	if !ok {
		return "Misconfigured"
	}
	src, _, err := sourceCluster()
	if err == nil && src.Server != cl.Server {
		return "Misconfigured"
	}
	return "Configured"
}

func currentContext() string {
	cfg, err := readKubeconfig(kubeconfigPath())
	if err != nil {
		return ""
	}
	return cfg.CurrentContext
}
