package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// StartMinikube makes sure the profile runs with at least the requested size: reuse a running
// one, start a stopped one, create an absent one.
type StartMinikube struct{}

func (StartMinikube) ID() string    { return "minikube" }
func (StartMinikube) Title() string { return "Starting minikube" }

func (StartMinikube) Run(ctx context.Context, s *Session) error {
	c := s.Config
	mk := s.Minikube
	st, err := mk.Status(ctx, c.Profile)
	if err != nil {
		return reason.Ensure(reason.MinikubeFailed, err, "", "could not read the state of minikube profile %q", c.Profile)
	}
	size := fmt.Sprintf("%d CPUs, %s", c.CPUs, minikube.FormatMemory(c.MemoryMB))
	start := minikube.StartOptions{Profile: c.Profile, CPUs: c.CPUs, MemoryMB: c.MemoryMB, Driver: c.Driver}
	if st.State == minikube.Absent {
		s.Progress("creating profile " + c.Profile + " (" + size + "); the first start downloads images and takes minutes")
		if err := mk.Start(ctx, start); err != nil {
			return err
		}
		s.profileSize = &profileSize{CPUs: c.CPUs, MemoryMB: c.MemoryMB}
		s.Result(fmt.Sprintf("created profile %s (%s)", c.Profile, size))
		return nil
	}
	// minikube keeps an existing profile's size and only warns when asked for another, so a
	// profile that is too small must be caught here or the demo runs out of room later.
	if err := checkProfileFits(ctx, s); err != nil {
		return err
	}
	switch st.State {
	case minikube.Running:
		s.Result("reused running profile " + c.Profile)
		return nil
	case minikube.Paused:
		s.Progress("unpausing profile " + c.Profile)
		if err := mk.Unpause(ctx, c.Profile); err != nil {
			return err
		}
		s.Result("unpaused profile " + c.Profile)
		return nil
	}
	s.Progress(fmt.Sprintf("starting %s profile %s", lower(st.State), c.Profile))
	if err := mk.Start(ctx, start); err != nil {
		return err
	}
	s.Result(fmt.Sprintf("started %s profile %s", lower(st.State), c.Profile))
	return nil
}

func lower(st minikube.State) string {
	if st == minikube.Broken {
		return "unhealthy"
	}
	return map[minikube.State]string{minikube.Stopped: "stopped", minikube.Paused: "paused"}[st]
}

func checkProfileFits(ctx context.Context, s *Session) error {
	c := s.Config
	p, err := s.Minikube.Profile(ctx, c.Profile)
	if err != nil {
		return reason.Ensure(reason.MinikubeFailed, err, "", "could not read minikube profile %q", c.Profile)
	}
	if p == nil {
		return nil // status knows it but the list does not: let `minikube start` sort it out
	}
	s.profileSize = &profileSize{CPUs: p.Config.CPUs, MemoryMB: p.Config.Memory}
	if c.Driver != "" && p.Config.Driver != "" && p.Config.Driver != c.Driver {
		return reason.New(reason.MinikubeDriverMis,
			fmt.Sprintf("Run `svcgraph down --purge --profile %s` to delete it, or pass --driver %s.", c.Profile, p.Config.Driver),
			"minikube profile %q uses driver %s, not %s", c.Profile, p.Config.Driver, c.Driver)
	}
	if p.Config.CPUs < c.CPUs || p.Config.Memory < c.MemoryMB {
		return reason.New(reason.MinikubeTooSmall,
			fmt.Sprintf("Run `svcgraph down --purge --profile %s` so the next `svcgraph up` recreates it with %d CPUs and %s, or ask for at most --cpus %d --memory %s.",
				c.Profile, c.CPUs, minikube.FormatMemory(c.MemoryMB), p.Config.CPUs, minikube.FormatMemory(p.Config.Memory)),
			"minikube profile %q has %d CPUs and %s, less than the %d CPUs and %s asked for (minikube cannot resize a profile)",
			c.Profile, p.Config.CPUs, minikube.FormatMemory(p.Config.Memory), c.CPUs, minikube.FormatMemory(c.MemoryMB))
	}
	return nil
}
