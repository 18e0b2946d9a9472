// Package reason gives every failure svcgraph can report a kind: a stable ID, the exit code the
// process ends with, and advice for the user. Packages below steps/ wrap their errors in a Kind so
// the runner can show what went wrong and what to do without knowing where it came from.
package reason

import (
	"context"
	"errors"
	"fmt"
)

// Kind is a class of failure. The exit codes are documented in README.md; keep them stable.
type Kind struct {
	ID       string // e.g. "PREFLIGHT_MISSING_BINARY"
	ExitCode int
	Advice   string // default advice; an Error may carry more specific advice
}

// Exit codes by area. 1 is an unexpected internal error, 2 is bad usage (urfave/cli's own),
// 130 is an interrupt (128+SIGINT, as shells report it).
var (
	Internal          = Kind{ID: "INTERNAL", ExitCode: 1, Advice: "This is a bug in svcgraph; please report it with the output of the same command run with -v."}
	Usage             = Kind{ID: "USAGE", ExitCode: 2, Advice: "Run the command with --help to see the flags it takes."}
	Output            = Kind{ID: "OUTPUT_FAILED", ExitCode: 3, Advice: "Check where standard output goes: a full disk or a closed pipe loses what svcgraph printed."}
	MissingBinary     = Kind{ID: "PREFLIGHT_MISSING_BINARY", ExitCode: 10}
	OldBinary         = Kind{ID: "PREFLIGHT_OLD_BINARY", ExitCode: 11}
	HostMemory        = Kind{ID: "PREFLIGHT_HOST_MEMORY", ExitCode: 12, Advice: "Ask for less memory with --memory, or close other programs."}
	HostCPUs          = Kind{ID: "PREFLIGHT_HOST_CPUS", ExitCode: 13, Advice: "Ask for fewer CPUs with --cpus."}
	MinikubeMemory    = Kind{ID: "MINIKUBE_INSUFFICIENT_MEMORY", ExitCode: 20, Advice: "Give the container runtime or VM more memory, or ask for less with --memory."}
	MinikubeDriver    = Kind{ID: "MINIKUBE_DRIVER_UNAVAILABLE", ExitCode: 21, Advice: "Start Docker (or your chosen driver) and try again, or pick another one with --driver."}
	MinikubeDriverMis = Kind{ID: "MINIKUBE_DRIVER_MISMATCH", ExitCode: 22, Advice: "The profile was created with another driver: run `svcgraph down --purge` first, or pass the profile's --driver."}
	MinikubeTooSmall  = Kind{ID: "MINIKUBE_PROFILE_TOO_SMALL", ExitCode: 23, Advice: "Delete the profile with `svcgraph down --purge` so it can be recreated larger, or ask for less with --cpus/--memory."}
	MinikubeFailed    = Kind{ID: "MINIKUBE_FAILED", ExitCode: 24, Advice: "Run the command shown above yourself to see minikube's full output; `minikube logs -p <profile>` often says more."}
	MinikubeCPUs      = Kind{ID: "MINIKUBE_INSUFFICIENT_CPUS", ExitCode: 25, Advice: "Give the container runtime or VM more CPUs, or ask for fewer with --cpus."}
	MinikubePerm      = Kind{ID: "MINIKUBE_DRIVER_PERMISSION", ExitCode: 26, Advice: "Run svcgraph as a user the driver accepts (for Docker: a regular user in the docker group), or choose another driver with --driver."}
	MinikubeProvision = Kind{ID: "MINIKUBE_PROVISION_FAILED", ExitCode: 27, Advice: "minikube says why above; `svcgraph down --purge` deletes what the failed start left, and `minikube logs -p <profile>` says more."}
	MinikubeBroken    = Kind{ID: "MINIKUBE_PROFILE_BROKEN", ExitCode: 28, Advice: "Run `svcgraph down --purge` to delete the profile, then `svcgraph up` to create it again."}
	MinikubeRefused   = Kind{ID: "MINIKUBE_REFUSED", ExitCode: 29, Advice: "minikube says why above; change the flag it names."}
	ChartRepo         = Kind{ID: "CHART_REPO", ExitCode: 30, Advice: "Check the repository URL (--demo-repo / --tempo-repo) and your network connection."}
	ChartVersion      = Kind{ID: "CHART_UNSUPPORTED_VERSION", ExitCode: 31}
	ChartDigest       = Kind{ID: "CHART_DIGEST_MISMATCH", ExitCode: 32, Advice: "The downloaded package does not match the repository index; try again, or check the repository you use."}
	ChartLayout       = Kind{ID: "CHART_UNSUPPORTED_LAYOUT", ExitCode: 33, Advice: "This chart does not have the layout svcgraph knows how to patch; use a supported --demo-version / --tempo-version."}
	ChartCheck        = Kind{ID: "CHART_CHECK_FAILED", ExitCode: 34, Advice: "The patched chart would not produce a working service graph; check your -f/--set values."}
	BadValues         = Kind{ID: "BAD_VALUES", ExitCode: 35, Advice: "Fix the -f/--values file or --set expression named above."}
	CacheUnwritable   = Kind{ID: "CACHE_UNWRITABLE", ExitCode: 36, Advice: "Make the directory named above writable, or free space on its disk."}
	Cluster           = Kind{ID: "CLUSTER_UNREACHABLE", ExitCode: 40, Advice: "Check that the cluster is running (`minikube status -p <profile>`) and that --kubeconfig points at it."}
	Install           = Kind{ID: "INSTALL_FAILED", ExitCode: 41}
	PodsNotReady      = Kind{ID: "PODS_NOT_READY", ExitCode: 42}
	Uninstall         = Kind{ID: "UNINSTALL_FAILED", ExitCode: 43}
	NotInstalled      = Kind{ID: "NOT_INSTALLED", ExitCode: 44, Advice: "Run `svcgraph up` first, with the same --namespace and --release."}
	ClusterTooSmall   = Kind{ID: "CLUSTER_TOO_SMALL", ExitCode: 45, Advice: "Give the cluster more memory or CPUs, run the smaller demo with --preset lite, or switch components off with --set components.NAME.enabled=false."}
	ClusterNotOurs    = Kind{ID: "CLUSTER_NOT_OURS", ExitCode: 46, Advice: "svcgraph never stops or deletes a cluster it did not create: stop or delete it with the tool that made it (kind, k3d, Docker Desktop, your cloud's console)."}
	PortInUse         = Kind{ID: "FORWARD_PORT_IN_USE", ExitCode: 50}
	Forward           = Kind{ID: "FORWARD_FAILED", ExitCode: 51}
	GraphEmpty        = Kind{ID: "GRAPH_EMPTY", ExitCode: 60}
	PromUnreachable   = Kind{ID: "PROMETHEUS_UNREACHABLE", ExitCode: 61, Advice: "Check that the Prometheus pod is Ready (`svcgraph status`), then try again; `svcgraph doctor` checks the whole pipeline."}
	// Workshop mode: prepare, bundles and up --offline.
	OfflineNotPrepared = Kind{ID: "OFFLINE_NOT_PREPARED", ExitCode: 70, Advice: "Run `svcgraph prepare` (with the same chart flags) while you have a network, or import a bundle with `svcgraph prepare --from-bundle FILE`."}
	ImagePull          = Kind{ID: "IMAGE_PULL_FAILED", ExitCode: 71, Advice: "Check the image's registry (or the --registry-mirror for it) and your network, then run `svcgraph prepare` again: it keeps what it already has."}
	ImageLoad          = Kind{ID: "IMAGE_LOAD_FAILED", ExitCode: 72, Advice: "Run the `minikube image load` command shown above yourself to see why; `svcgraph up --offline` again loads only what is missing."}
	ImageNotOnNode     = Kind{ID: "IMAGE_NOT_ON_NODE", ExitCode: 73, Advice: "minikube did not load these images (it does not always say so): run `minikube image load` yourself, or `svcgraph prepare` again if the cache is damaged."}
	BundleInvalid      = Kind{ID: "BUNDLE_INVALID", ExitCode: 74, Advice: "Copy the bundle again from its source, or make a new one with `svcgraph prepare --bundle FILE`. Nothing was imported."}
	BundlePlatform     = Kind{ID: "BUNDLE_WRONG_PLATFORM", ExitCode: 75, Advice: "Make a bundle for this machine's platform with `svcgraph prepare --bundle FILE --platform …`, or import this one with the --platform it was made for. Nothing was imported."}
	// The cluster fits check (before install): when it finds several problems it names them all
	// and exits with the code of the first in this order.
	ClusterVersion   = Kind{ID: "CLUSTER_UNSUPPORTED_VERSION", ExitCode: 80, Advice: "Use a cluster whose Kubernetes version the charts accept, or other --demo-version / --tempo-version."}
	ClusterForbidden = Kind{ID: "CLUSTER_FORBIDDEN", ExitCode: 81, Advice: "Ask the cluster's admin for the permissions listed (the demo creates ClusterRoles and ClusterRoleBindings), or use a context whose user has them."}
	StorageClass     = Kind{ID: "CLUSTER_STORAGE", ExitCode: 82, Advice: "Name a StorageClass the cluster has with --storage-class (`kubectl get storageclass` lists them), or leave it out."}
	ClusterArch      = Kind{ID: "CLUSTER_UNSUPPORTED_ARCH", ExitCode: 83, Advice: "Use nodes of an architecture every image is built for, or point the images at builds for your nodes in your -f/--set values."}
	NamespaceNotOurs = Kind{ID: "NAMESPACE_NOT_OURS", ExitCode: 84, Advice: "Install into a namespace of the demo's own with --namespace NAME; svcgraph down deletes the namespace it created."}
	Interrupted      = Kind{ID: "INTERRUPTED", ExitCode: 130, Advice: "Run the same command again: it picks up where this run stopped (`up` where it was, `prepare` with the blobs it has)."}
)

// Kinds lists every kind, for documentation and for tests that keep exit codes unique.
var Kinds = []Kind{Internal, Usage, Output, MissingBinary, OldBinary, HostMemory, HostCPUs, MinikubeMemory,
	MinikubeDriver, MinikubeDriverMis, MinikubeTooSmall, MinikubeFailed, MinikubeCPUs, MinikubePerm,
	MinikubeProvision, MinikubeBroken, MinikubeRefused, ChartRepo, ChartVersion,
	ChartDigest, ChartLayout, ChartCheck, BadValues, CacheUnwritable, Cluster, Install, PodsNotReady,
	Uninstall, NotInstalled, ClusterTooSmall, ClusterNotOurs, PortInUse, Forward, GraphEmpty,
	PromUnreachable, OfflineNotPrepared, ImagePull, ImageLoad, ImageNotOnNode, BundleInvalid,
	BundlePlatform, ClusterVersion, ClusterForbidden, StorageClass, ClusterArch, NamespaceNotOurs,
	Interrupted}

// Error is a failure of a known kind.
type Error struct {
	Kind   Kind
	Msg    string // what went wrong, one sentence, no trailing period needed
	Advice string // what to do; empty means Kind.Advice
	Err    error  // the cause, shown under the message
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Advise returns the advice for the user: the error's own, else its kind's.
func (e *Error) Advise() string {
	if e.Advice != "" {
		return e.Advice
	}
	return e.Kind.Advice
}

// New makes an Error of kind k.
func New(k Kind, advice string, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Advice: advice}
}

// Wrap makes an Error of kind k around err; it returns nil for a nil err.
func Wrap(k Kind, err error, advice string, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Advice: advice, Err: err}
}

// Ensure is Wrap for errors that may already carry a kind: those keep theirs, since the
// inner kind is the more precise (a missing binary, not "minikube failed").
func Ensure(k Kind, err error, advice string, format string, args ...any) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return Wrap(k, err, advice, format, args...)
}

// Of classifies any error: a *Error anywhere in the chain gives its kind; a cancelled context
// means the user interrupted; anything else is Internal.
func Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: Interrupted, Msg: "interrupted", Err: nil}
	}
	return &Error{Kind: Internal, Msg: "unexpected error", Err: err}
}
