package kube

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// factsTimeout bounds the two reads Facts makes.
const factsTimeout = 30 * time.Second

// Facts are what svcgraph learns about a cluster before it installs: where it is, which
// Kubernetes it runs and what its nodes are.
type Facts struct {
	Context string // the kubeconfig context
	Server  string // the API server's URL
	Version string // the API server's gitVersion, e.g. v1.31.2 or v1.30.4-eks-a737599
	Nodes   []NodeFacts
	// NodesHidden says why the nodes could not be listed (a user limited to namespaces may not
	// list them); nil when Nodes is the whole list.
	NodesHidden error
}

// NodeFacts is what tells one node apart: its architecture and where it comes from.
type NodeFacts struct {
	Name       string
	Arch       string // the kubernetes.io/arch label, else status.nodeInfo.architecture
	ProviderID string // kind://…, k3s://…, aws://…, gce://…, azure://…
	Labels     map[string]string
	// Schedulable: new pods without tolerations may go there (not cordoned or tainted).
	Schedulable bool
}

// Facts asks the API server for its version (it must answer) and lists the nodes (the user may
// not be allowed to: then NodesHidden says so).
func (c *Client) Facts(ctx context.Context) (Facts, error) {
	ctx, cancel := context.WithTimeout(ctx, factsTimeout)
	defer cancel()
	f := Facts{Context: c.opts.Context, Server: c.config.Host}
	raw, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return f, interrupted(ctx, "asking the API server for its version")
		}
		return f, reason.Wrap(reason.Cluster, err, c.unreachableAdvice(), "the Kubernetes API server at %s does not answer", c.config.Host)
	}
	var v version.Info
	if err := json.Unmarshal(raw, &v); err != nil {
		return f, reason.Wrap(reason.Cluster, err, "", "the API server at %s answered /version with something else than a version", c.config.Host)
	}
	f.Version = v.GitVersion
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		f.NodesHidden = err
		return f, nil
	case err != nil:
		return f, c.requestErr(ctx, err, "list", "the cluster's nodes")
	}
	for _, n := range nodes.Items {
		arch := n.Labels["kubernetes.io/arch"]
		if arch == "" {
			arch = n.Status.NodeInfo.Architecture
		}
		f.Nodes = append(f.Nodes, NodeFacts{Name: n.Name, Arch: arch, ProviderID: n.Spec.ProviderID, Labels: n.Labels,
			Schedulable: schedulable(&n)})
	}
	sort.Slice(f.Nodes, func(i, j int) bool { return f.Nodes[i].Name < f.Nodes[j].Name })
	return f, nil
}

// unreachableAdvice is what to check when the context's API server does not answer.
func (c *Client) unreachableAdvice() string {
	return "Check that the cluster of context " + c.opts.Context + " runs (`kubectl --context " + c.opts.Context +
		" get nodes` tries the same) and that your credentials for it are current."
}

// The kinds of cluster Facts.Kind tells apart.
const (
	KindMinikube      = "minikube"
	KindKind          = "kind"
	KindK3d           = "k3d"
	KindK3s           = "k3s"
	KindDockerDesktop = "Docker Desktop"
	KindEKS           = "EKS"
	KindGKE           = "GKE"
	KindAKS           = "AKS"
	KindOther         = "other"
)

// Kind names the product that made the cluster, from what each product leaves on its nodes
// (labels, providerID, names) and, where the nodes are hidden, on the context and server URL.
func (f Facts) Kind() string {
	host := ""
	if u, err := url.Parse(f.Server); err == nil {
		host = u.Hostname()
	}
	for _, n := range f.Nodes {
		switch {
		case n.Labels["minikube.k8s.io/name"] != "":
			return KindMinikube
		case strings.HasPrefix(n.ProviderID, "kind://"):
			return KindKind
		case strings.HasPrefix(n.ProviderID, "k3s://") && strings.HasPrefix(n.Name, "k3d-"):
			return KindK3d
		case strings.HasPrefix(n.ProviderID, "k3s://"):
			return KindK3s
		case n.Name == "docker-desktop":
			return KindDockerDesktop
		case strings.HasPrefix(n.ProviderID, "aws://") || n.Labels["eks.amazonaws.com/nodegroup"] != "":
			return KindEKS
		case strings.HasPrefix(n.ProviderID, "gce://") || n.Labels["cloud.google.com/gke-nodepool"] != "":
			return KindGKE
		case strings.HasPrefix(n.ProviderID, "azure://") || n.Labels["kubernetes.azure.com/cluster"] != "":
			return KindAKS
		}
	}
	// No node says it (or none could be listed): the names the tools give contexts and servers.
	switch {
	case strings.HasPrefix(f.Context, "kind-"):
		return KindKind
	case strings.HasPrefix(f.Context, "k3d-"):
		return KindK3d
	case f.Context == "docker-desktop" || host == "kubernetes.docker.internal":
		return KindDockerDesktop
	case strings.HasSuffix(host, ".eks.amazonaws.com"):
		return KindEKS
	case strings.HasPrefix(f.Context, "gke_"):
		return KindGKE
	case strings.HasSuffix(host, ".azmk8s.io"):
		return KindAKS
	}
	return KindOther
}
