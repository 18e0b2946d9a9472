package steps

import (
	"context"
	"fmt"
	"strings"

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
		if st.State == minikube.Unknown {
			// A profile whose machine minikube cannot read may be what an earlier failed start
			// left: deleting it is the way out when fixing what minikube names is not enough.
			return withAdvice(err, fmt.Sprintf("If profile %s keeps failing, `svcgraph down --purge --profile %s` deletes it.", c.Profile, c.Profile))
		}
		return err
	}
	s.Result(fmt.Sprintf("started %s profile %s", lower(st.State), c.Profile))
	return nil
}

func lower(st minikube.State) string {
	return map[minikube.State]string{minikube.Stopped: "stopped", minikube.Paused: "paused",
		minikube.Broken: "unhealthy", minikube.Unknown: "unreadable"}[st]
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

// withAdvice adds a sentence to the advice of a kinded error.
func withAdvice(err error, more string) error {
	e := reason.Of(err)
	if strings.Contains(e.Advise(), more) {
		return err
	}
	return &reason.Error{Kind: e.Kind, Msg: e.Msg, Err: e.Err, Advice: strings.TrimSpace(e.Advise() + "\n" + more)}
}
