package steps

import (
	"context"
	"strings"

	"github.com/svcgraph/svcgraph/internal/budget"
	"github.com/svcgraph/svcgraph/kube"
)

// Target is the cluster a command works on, chosen once from the Config (Config.Target): the
// minikube profile svcgraph starts, stops and deletes, or an existing kubeconfig context that it
// never starts, stops or deletes. Each kind is one small type, so no step asks which kind it
// has; the plans and steps ask the target.
type Target interface {
	// Context is the kubeconfig context that reaches the cluster.
	Context() string
	// String names the target for people: "minikube profile svcgraph", "context kind-demo".
	String() string
	// Start is up's step that makes the cluster answer.
	Start() Step
	// Find is down's step that learns whether there is a cluster to uninstall from.
	Find() Step
	// Stop is down's step for --stop, or --purge with remove.
	Stop(remove bool) Step

	// validate refuses, before anything runs, flags this kind of target cannot honour.
	validate(c Config) error
	// tools are the programs preflight wants on PATH.
	tools() []string
	// checkHost refuses what this host cannot give the cluster (preflight).
	checkHost(s *Session) error
	// status is the cluster part of `svcgraph status`; reachable says whether to read on.
	status(ctx context.Context, s *Session) (c ClusterStatus, reachable bool, err error)
	// capRooms corrects what the nodes report before the budget is judged.
	capRooms(ctx context.Context, s *Session, rooms *kube.NodeRooms)
	// moreRoom is the budget's advice for a bigger cluster, given what the release lacks.
	moreRoom(c Config, short budget.Amount) string
	// flags name the target on another svcgraph command line (the background forwarder).
	flags() []string
	// key names the target in file names (the forwarder's pid file).
	key() string
}

// Target is the cluster this configuration works on: the context --context names, else the
// minikube profile.
func (c Config) Target() Target {
	if c.Context != "" {
		return existingContext{name: c.Context}
	}
	return minikubeProfile{name: c.Profile}
}

// target is the session's target, chosen once.
func (s *Session) target() Target {
	if s.tgt == nil {
		s.tgt = s.Config.Target()
	}
	return s.tgt
}

// ClusterStatus is the cluster part of `svcgraph status`.
type ClusterStatus struct {
	Kind    string `json:"kind"` // kube.Kind… for a context; "minikube profile" for svcgraph's own
	Context string `json:"context"`
	Profile string `json:"profile,omitempty"` // the minikube profile svcgraph drives
	State   string `json:"state"`             // minikube's state of the profile, or reachable / unreachable
	Server  string `json:"server,omitempty"`
	Version string `json:"version,omitempty"` // the API server's Kubernetes version
}

// fileKey makes a context name (an EKS one is an ARN: arn:aws:eks:…:cluster/name) safe in a file
// name.
func fileKey(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
}
