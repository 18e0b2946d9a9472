package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/kube"
)

// Session is what the steps of one command share: the configuration, the seams to the outside,
// and what earlier steps produced for later ones.
type Session struct {
	Config   Config
	Exec     execx.Runner
	Spawner  execx.Spawner // starts and stops the background forwarder
	Minikube minikube.Driver
	// HostMemoryMB reports the host's memory, or ok=false where the OS does not tell.
	HostMemoryMB func() (mb int, ok bool)
	// HostCPUs reports how many CPUs the host has, or ok=false when it cannot tell.
	HostCPUs func() (n int, ok bool)
	// GOOS picks install hints; runtime.GOOS unless a test says otherwise.
	GOOS string

	// Filled in by steps for the ones after them.
	pulled        *chartmod.Pulled
	Patched       *chartmod.Patched
	Rendered      *chartmod.Rendered
	Checks        chartmod.Report
	Budget        string          // the budget step's outcome when the release fits
	Forwarder     *kube.Forwarder // set when up forwards in the foreground
	Images        []images.Image  // the release's images (workshop mode), from the render
	Cached        []images.Entry  // their entries in the image cache, in the same order
	detached      bool            // a background forwarder serves the port
	warnedExposed bool            // the warning about a non-loopback --address was given

	kube        *kube.Client
	tgt         Target
	facts       *kube.Facts  // the cluster's version and nodes, once a step has read them
	profileSize *profileSize // the minikube profile's size, once StartMinikube knows it
	clusterAway string       // why `down` cannot reach the cluster; "" when it can
	// releaseLeft: `down`'s user could not delete all of the release, whose record then stays in
	// the namespace for someone who may.
	releaseLeft bool
	runner      *Runner
	result      string
	details     any

	clusterState minikube.State // the profile's state as `down` found it
}

// profileSize is a minikube profile's CPUs and memory.
type profileSize struct{ CPUs, MemoryMB int }

// Progress updates the running step's live detail.
func (s *Session) Progress(msg string) {
	if s.runner != nil {
		s.runner.progress(msg)
	}
}

// Result sets the one-line outcome printed after the step's ✓ ("reused running profile").
func (s *Session) Result(msg string) { s.result = msg }

// ResultDetails sets the outcome as a value for --output json (the step_finished event's
// "details").
func (s *Session) ResultDetails(v any) { s.details = v }

// Warn prints a warning line while the step runs.
func (s *Session) Warn(msg string) {
	if s.runner != nil {
		s.runner.log("warning: "+msg, false)
	}
}

// warnExposedAddress warns, once per command, that a non-loopback --address shares the demo
// with the network: up says it in its first step, forward in its only one.
func (s *Session) warnExposedAddress() {
	if s.warnedExposed || !s.Config.exposedAddress() {
		return
	}
	s.warnedExposed = true
	s.Warn(fmt.Sprintf("--address %s exposes the web store, Grafana and the load generator to every machine that can reach this one", s.Config.Address))
}

// Info prints a line for the user (URLs, what to do next).
func (s *Session) Info(msg string) {
	if s.runner != nil {
		s.runner.log(msg, false)
	}
}

// Debug prints a line only with -v.
func (s *Session) Debug(msg string) {
	if s.runner != nil {
		s.runner.log(msg, true)
	}
}

// Kube returns the cluster client for the target's kubeconfig context, made on first use.
func (s *Session) Kube() (*kube.Client, error) {
	if s.kube == nil {
		c := s.Config
		k, err := kube.New(kube.Options{Kubeconfig: c.Kubeconfig, Context: s.target().Context(), Namespace: c.Namespace, RequestTimeout: c.RequestTimeout})
		if err != nil {
			return nil, err
		}
		s.kube = k
	}
	return s.kube, nil
}

// clusterFacts are the cluster's version and nodes, read from the API server once per session.
func (s *Session) clusterFacts(ctx context.Context) (*kube.Facts, error) {
	if s.facts == nil {
		k, err := s.Kube()
		if err != nil {
			return nil, err
		}
		f, err := k.Facts(ctx)
		if err != nil {
			return nil, err
		}
		s.facts = &f
	}
	return s.facts, nil
}
