package steps

import (
	"fmt"
	"net"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Config is every setting of one svcgraph command, filled from flags and environment by main.go.
// Nothing below main reads flags or the environment.
type Config struct {
	Kubeconfig string // "" = client-go's default rules (KUBECONFIG, then ~/.kube/config)
	Profile    string // minikube profile; also the kubeconfig context
	Context    string // an existing kubeconfig context to use instead of the minikube profile
	Namespace  string
	Release    string
	Verbose    bool
	Output     string // text or json
	// RequestTimeout bounds each request to the API server; 0 means no bound.
	RequestTimeout time.Duration

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

	// install, wait and forward; down: delete hooks and the namespace's deletion
	StorageClass string // for the claims of Tempo's components; "" = the cluster's default

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

// ValidateAddress refuses a listen address that is not an IP address or localhost, as kubectl
// port-forward --address does; an empty one would listen on every interface (commands that forward).
func (c Config) ValidateAddress() error {
	if c.Address == "" {
		return reason.New(reason.Usage, "Leave --address at its default 127.0.0.1, or give 0.0.0.0 to share the demo with your network on purpose.",
			"--address must not be empty: an empty address listens on every network interface")
	}
	if c.Address != "localhost" && net.ParseIP(c.Address) == nil {
		return reason.New(reason.Usage, "Give an IP address of this machine (or localhost), e.g. --address 127.0.0.1.",
			"--address %q is not an IP address", c.Address)
	}
	return nil
}

// exposedAddress says whether --address reaches beyond this machine (anything but loopback).
func (c Config) exposedAddress() bool {
	ip := net.ParseIP(c.Address)
	return c.Address != "localhost" && (ip == nil || !ip.IsLoopback())
}

// Validate refuses bad input every command shares before anything runs, so a typo never leaves
// a half-done change.
func (c Config) Validate() error {
	if c.Profile == "" || c.Namespace == "" || c.Release == "" {
		return reason.New(reason.Usage, "Leave --profile, --namespace and --release at their defaults or give them a name.", "--profile, --namespace and --release must not be empty")
	}
	if err := minikube.ValidateProfileName(c.Profile); err != nil {
		return reason.Wrap(reason.Usage, err, "Pick a profile name such as --profile svcgraph or --profile demo-2.", "--profile %q is not a valid minikube profile name", c.Profile)
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return reason.New(reason.Usage, "Use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters, e.g. --namespace otel-demo.",
			"--namespace %q is not a valid Kubernetes namespace name: %s", c.Namespace, strings.Join(errs, "; "))
	}
	if err := chartutil.ValidateReleaseName(c.Release); err != nil {
		return reason.New(reason.Usage, "Use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 53 characters, e.g. --release my-otel-demo.",
			"--release %q is not a valid Helm release name", c.Release)
	}
	if errs := validation.IsDNS1123Subdomain(c.StorageClass); c.StorageClass != "" && len(errs) > 0 {
		return reason.New(reason.Usage, "Name a StorageClass as `kubectl get storageclass` lists it.", "--storage-class %q is not a StorageClass name: %s", c.StorageClass, strings.Join(errs, "; "))
	}
	// Chart versions, the preset and repository URLs are checked without the network: a bad one
	// stops here, before minikube starts or a chart repository is contacted.
	if err := c.ChartOptions().ValidateCharts(); err != nil {
		return err
	}
	return c.Target().validate(c)
}
