package steps

import (
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Config is every setting of one svcgraph command, filled from flags and environment by main.go.
// Nothing below main reads flags or the environment.
type Config struct {
	Kubeconfig string // "" = client-go's default rules (KUBECONFIG, then ~/.kube/config)
	Profile    string // minikube profile; also the kubeconfig context
	Namespace  string
	Release    string
	Verbose    bool
	Output     string // text or json

	// minikube
	CPUs     int
	MemoryMB int
	Driver   string

	// charts
	DemoVersion  string
	TempoVersion string
	DemoRepo     string
	TempoRepo    string
	ValuesFiles  []string
	SetValues    []string
	CacheDir     string // svcgraph's cache: pulled chart packages
	StateDir     string // svcgraph's state: forwarder pid files
	Helm         *cli.EnvSettings
	KubeVersion  string // Kubernetes version assumed when rendering without a cluster
	Preset       string // chartmod.PresetFull or PresetLite
	CheckOnly    bool   // render: only the render checks and the budget against CPUs/MemoryMB

	// install, wait and forward
	Timeout   time.Duration
	Address   string
	Port      int
	Detach    bool
	NoForward bool

	// verify-graph
	NoVerify     bool          // skip waiting for the service graph at the end of up
	GraphTimeout time.Duration // how long; 0 means DefaultGraphTimeout

	// down
	StopCluster  bool
	PurgeCluster bool

	// workshop mode: images, prepare, up --offline (workshop.go)
	Offline         bool     // charts and images only from the cache; the release never pulls
	Platform        string   // the minikube node's platform: linux/amd64 or linux/arm64
	RegistryMirrors []string // REGISTRY=URL: pull through URL instead of REGISTRY
	Workers         int      // blobs prepare fetches at once
	Bundle          string   // prepare: write the charts and images into this bundle file
	FromBundle      string   // prepare: import this bundle instead of pulling
	Version         string   // svcgraph's version, recorded in bundles
}

// ValidateSize refuses a minikube size minikube would refuse, before anything runs (`up`).
func (c Config) ValidateSize() error {
	if c.CPUs < minikube.MinCPUs {
		return reason.New(reason.Usage, fmt.Sprintf("Use --cpus %d or more (svcgraph's default is 4).", minikube.MinCPUs),
			"--cpus %d is too few: minikube needs at least %d CPUs", c.CPUs, minikube.MinCPUs)
	}
	if c.MemoryMB < minikube.MinMemoryMB {
		return reason.New(reason.Usage, "Use --memory 8G (the default), or at least --memory "+minikube.FormatMemory(minikube.MinMemoryMB)+".",
			"--memory %s is too little: minikube needs at least %d MB", minikube.FormatMemory(c.MemoryMB), minikube.MinMemoryMB)
	}
	return nil
}

// ValidatePort refuses a local port that cannot exist (commands that forward).
func (c Config) ValidatePort() error {
	if c.Port < 1 || c.Port > 65535 {
		return reason.New(reason.Usage, "Pick a port between 1024 and 65535 with --port, e.g. --port 8080.", "--port %d is not a TCP port", c.Port)
	}
	return nil
}

// Validate refuses bad input every command shares before anything runs, so a typo never leaves
// a half-done change.
func (c Config) Validate() error {
	if c.Profile == "" || c.Namespace == "" || c.Release == "" {
		return reason.New(reason.Usage, "Leave --profile, --namespace and --release at their defaults or give them a name.", "--profile, --namespace and --release must not be empty")
	}
	// Chart versions, the preset and repository URLs are checked without the network: a bad one
	// stops here, before minikube starts or a chart repository is contacted.
	return c.ChartOptions().ValidateCharts()
}
