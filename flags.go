package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/kube"
	"github.com/svcgraph/svcgraph/steps"
)

// The minikube size `up --preset lite` asks for unless --cpus/--memory are given.
const (
	liteCPUs   = 2
	liteMemory = "4G"
)

// env names the environment variable that backs a flag: --demo-repo reads SVCGRAPH_DEMO_REPO.
func env(flag string) []string {
	return []string{"SVCGRAPH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// The flag lists are functions: urfave/cli writes defaults from the environment into a flag's
// struct, so each app gets fresh ones (tests run many apps in one process).

// globalFlags are the flags every command takes after its name, as kubectl and helm users type them.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)", EnvVars: env("kubeconfig")},
		&cli.StringFlag{Name: "profile", Value: "svcgraph", Usage: "minikube profile, and the kubeconfig context it writes (your own minikube profile is left alone)", EnvVars: env("profile")},
		&cli.StringFlag{Name: "context", Usage: "use this existing kubeconfig context (kind, k3d, Docker Desktop, a cloud cluster) instead of the minikube profile; svcgraph never starts, stops or deletes it", EnvVars: env("context")},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "otel-demo", Usage: "namespace to install into", EnvVars: env("namespace")},
		&cli.StringFlag{Name: "release", Value: "my-otel-demo", Usage: "Helm release name", EnvVars: env("release")},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the commands svcgraph runs and more detail", EnvVars: env("verbose")},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json (one event per line)", EnvVars: env("output")},
		&cli.DurationFlag{Name: "request-timeout", Value: kube.DefaultRequestTimeout, Usage: "how long the Kubernetes API server may take to answer one request (0: no limit); watches and port-forwards only have to start within it", EnvVars: env("request-timeout")},
	}
}

// chartFlags choose and change the charts: `up` and `render` take them.
func chartFlags() []cli.Flag {
	return concat([]cli.Flag{
		&cli.StringFlag{Name: "demo-version", Usage: "opentelemetry-demo chart version, or latest (default " + chartmod.DefaultDemoVersion + "; `svcgraph versions` lists them)", EnvVars: env("demo-version")},
		&cli.StringFlag{Name: "tempo-version", Usage: "tempo-distributed chart version, or latest (default " + chartmod.DefaultTempoVersion + ")", EnvVars: env("tempo-version")},
	}, repoFlags(), []cli.Flag{
		&cli.StringSliceFlag{Name: "values", Aliases: []string{"f"}, Usage: "values file applied on top of the patched chart, as with helm (repeatable)", EnvVars: env("values")},
		&cli.StringSliceFlag{Name: "set", Usage: "set a value on top of the patched chart, key=value as with helm (repeatable)", EnvVars: env("set")},
		&cli.StringFlag{Name: "preset", Value: chartmod.PresetFull, Usage: "full (the charts' own services) or lite (a smaller demo that still draws the service graph; minikube 2 CPUs and 4G unless --cpus/--memory say otherwise)", EnvVars: env("preset")},
	})
}

// repoFlags name the chart repositories: `up`, `render` and `versions` take them.
func repoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "demo-repo", Usage: "Helm repository URL of opentelemetry-demo (default: the OpenTelemetry repository)", EnvVars: env("demo-repo")},
		&cli.StringFlag{Name: "tempo-repo", Usage: "Helm repository URL of tempo-distributed (default: the grafana-community repository)", EnvVars: env("tempo-repo")},
	}
}

// sizeFlags size the minikube profile: `up` creates it with them, `render --check-only` checks
// the release against a profile of that size.
func sizeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "cpus", Value: 4, Usage: "CPUs for the minikube profile (--preset lite: 2)", EnvVars: env("cpus")},
		&cli.StringFlag{Name: "memory", Value: "8G", Usage: "memory for the minikube profile, as minikube takes it (8G, 8192mb, 8192; --preset lite: 4G)", EnvVars: env("memory")},
	}
}

// offlineFlag makes a command use only svcgraph's cache: `up` and `images` take it.
func offlineFlag() cli.Flag {
	return &cli.BoolFlag{Name: "offline", Usage: "no network: charts and images only from svcgraph's cache (fill it with `svcgraph prepare`), every image pulled IfNotPresent", EnvVars: env("offline")}
}

// mirrorFlag sends registry requests through mirrors: prepare pulls through them, up asks them
// which platforms the images are built for.
func mirrorFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "registry-mirror", Usage: "reach REGISTRY's images through a mirror, REGISTRY=URL (repeatable), e.g. docker.io=https://mirror.gcr.io", EnvVars: env("registry-mirror")}
}

// prepareFlags are `svcgraph prepare`'s own.
func prepareFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "platform of the minikube nodes the images are for: linux/amd64 or linux/arm64 (default: this machine's)", EnvVars: env("platform")},
		mirrorFlag(),
		&cli.IntFlag{Name: "workers", Value: images.DefaultWorkers, Usage: "image blobs downloaded at once", EnvVars: env("workers")},
		&cli.StringFlag{Name: "bundle", Usage: "also write the charts and images into this one file, for laptops without a network", EnvVars: env("bundle")},
		&cli.StringFlag{Name: "from-bundle", Usage: "import a bundle written by `svcgraph prepare --bundle` instead of pulling (no network)", EnvVars: env("from-bundle")},
	}
}

func forwardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "port", Value: 8080, Usage: "local port for the frontend proxy (webstore, Grafana, Jaeger)", EnvVars: env("port")},
		&cli.StringFlag{Name: "address", Value: "127.0.0.1", Usage: "local address to listen on; anything but loopback exposes the demo to your network", EnvVars: env("address")},
	}
}

func upFlags() []cli.Flag {
	return concat(chartFlags(), forwardFlags(), sizeFlags(), []cli.Flag{
		&cli.StringFlag{Name: "driver", Usage: "minikube driver (default: minikube's choice)", EnvVars: env("driver")},
		&cli.StringFlag{Name: "storage-class", Usage: "StorageClass for the volume claims of Tempo's components (default: the cluster's default class; without one, Tempo keeps its data in emptyDirs)", EnvVars: env("storage-class")},
		&cli.DurationFlag{Name: "timeout", Value: 15 * time.Minute, Usage: "how long to wait for the install and for every pod to be ready", EnvVars: env("timeout")},
		&cli.BoolFlag{Name: "detach", Usage: "forward in the background and return; svcgraph down stops the forwarder", EnvVars: env("detach")},
		&cli.BoolFlag{Name: "no-forward", Usage: "do not port-forward the frontend proxy", EnvVars: env("no-forward")},
		&cli.BoolFlag{Name: "no-verify", Usage: "skip the last step, which waits until Tempo's service graph has edges and shows the busiest", EnvVars: env("no-verify")},
		&cli.DurationFlag{Name: "graph-timeout", Value: steps.DefaultGraphTimeout, Usage: "how long up waits for the service graph before it runs the doctor", EnvVars: env("graph-timeout")},
		// --verify was the opt-in before the check became the default; kept so old scripts still run.
		&cli.BoolFlag{Name: "verify", Hidden: true, Usage: "no effect: up verifies the service graph unless --no-verify"},
		offlineFlag(),
		mirrorFlag(),
	})
}

func concat(lists ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
