package kube

import "testing"

// The node facts and context names below are what each product writes (node labels and
// providerIDs as `kubectl get nodes -o yaml` shows them on a fresh cluster of each).
func TestFactsKind(t *testing.T) {
	node := func(name, providerID string, labels map[string]string) []NodeFacts {
		return []NodeFacts{{Name: name, ProviderID: providerID, Labels: labels}}
	}
	for _, c := range []struct {
		name string
		f    Facts
		want string
	}{
		{"minikube node label", Facts{Context: "dev", Nodes: node("minikube", "", map[string]string{"minikube.k8s.io/name": "minikube"})}, KindMinikube},
		{"kind providerID", Facts{Context: "dev", Nodes: node("demo-control-plane", "kind://docker/demo/demo-control-plane", nil)}, KindKind},
		{"k3d node", Facts{Context: "dev", Nodes: node("k3d-demo-server-0", "k3s://k3d-demo-server-0", nil)}, KindK3d},
		{"k3s node", Facts{Context: "dev", Nodes: node("pi", "k3s://pi", nil)}, KindK3s},
		{"Docker Desktop node", Facts{Context: "dev", Nodes: node("docker-desktop", "", nil)}, KindDockerDesktop},
		{"EKS providerID", Facts{Context: "dev", Nodes: node("ip-10-0-0-1.ec2.internal", "aws:///eu-west-1a/i-0abc", nil)}, KindEKS},
		{"GKE node pool", Facts{Context: "dev", Nodes: node("gke-a-default-pool-1", "", map[string]string{"cloud.google.com/gke-nodepool": "default-pool"})}, KindGKE},
		{"AKS providerID", Facts{Context: "dev", Nodes: node("aks-nodepool1-0", "azure:///subscriptions/x/vm/0", nil)}, KindAKS},
		// Nodes hidden from the user: the names the tools give contexts and servers.
		{"kind context", Facts{Context: "kind-demo", Server: "https://127.0.0.1:40123"}, KindKind},
		{"k3d context", Facts{Context: "k3d-demo", Server: "https://0.0.0.0:6550"}, KindK3d},
		{"Docker Desktop server", Facts{Context: "dd", Server: "https://kubernetes.docker.internal:6443"}, KindDockerDesktop},
		{"EKS server", Facts{Context: "arn:aws:eks:eu-west-1:1:cluster/a", Server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com"}, KindEKS},
		{"GKE context", Facts{Context: "gke_proj_europe-west1_a", Server: "https://34.1.2.3"}, KindGKE},
		{"AKS server", Facts{Context: "a", Server: "https://a-dns-1.hcp.westeurope.azmk8s.io:443"}, KindAKS},
		{"anything else", Facts{Context: "lab", Server: "https://10.0.0.1:6443", Nodes: node("n1", "", nil)}, KindOther},
	} {
		if got := c.f.Kind(); got != c.want {
			t.Errorf("%s: Kind() = %q, want %q", c.name, got, c.want)
		}
	}
}
