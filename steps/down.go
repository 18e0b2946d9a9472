package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// FindCluster learns whether the profile runs. `down` must succeed when there is nothing left
// to take down, so a stopped or absent profile is an answer, not an error.
type FindCluster struct{}

func (FindCluster) ID() string    { return "cluster" }
func (FindCluster) Title() string { return "Finding the cluster" }

func (FindCluster) Run(ctx context.Context, s *Session) error {
	st, err := s.Minikube.Status(ctx, s.Config.Profile)
	if err != nil {
		return reason.Ensure(reason.MinikubeFailed, err, "", "could not read the state of minikube profile %q", s.Config.Profile)
	}
	if st.State != minikube.Running {
		s.clusterAway = fmt.Sprintf("minikube profile %s is %s", s.Config.Profile, map[minikube.State]string{
			minikube.Absent: "absent", minikube.Stopped: "stopped", minikube.Paused: "paused", minikube.Broken: "not healthy"}[st.State])
		s.Result(s.clusterAway + ": nothing to uninstall")
		return nil
	}
	k, err := s.Kube()
	if err != nil {
		return err
	}
	if err := k.Ping(ctx); err != nil {
		return err
	}
	s.Result("minikube profile " + s.Config.Profile + " is running")
	return nil
}

// clusterForDown returns the cluster client, or nil when FindCluster found the profile not
// running; the step then only says it skipped.
func (s *Session) clusterForDown() (*kube.Client, error) {
	if s.clusterAway != "" {
		s.Result("skipped: " + s.clusterAway)
		return nil, nil
	}
	return s.Kube()
}

// Uninstall removes the Helm release; an absent release is fine.
type Uninstall struct{}

func (Uninstall) ID() string    { return "uninstall" }
func (Uninstall) Title() string { return "Uninstalling the demo" }

func (Uninstall) Run(ctx context.Context, s *Session) error {
	k, err := s.clusterForDown()
	if k == nil || err != nil {
		return err
	}
	rel, err := k.Release(s.Config.Release)
	if err != nil {
		return err
	}
	if rel == nil {
		s.Result("release " + s.Config.Release + " was not installed")
		return nil
	}
	if err := k.Uninstall(ctx, s.Config.Release); err != nil {
		return err
	}
	s.Result(fmt.Sprintf("uninstalled release %s (revision %d)", s.Config.Release, rel.Revision))
	return nil
}

// DeleteNamespace deletes the namespace svcgraph created for the release and waits until it is
// gone, so a following `up` does not trip over a namespace that is still terminating. A
// namespace that was there before (up installed into it) stays.
type DeleteNamespace struct{}

func (DeleteNamespace) ID() string    { return "namespace" }
func (DeleteNamespace) Title() string { return "Deleting the namespace" }

func (DeleteNamespace) Run(ctx context.Context, s *Session) error {
	k, err := s.clusterForDown()
	if k == nil || err != nil {
		return err
	}
	s.Progress("waiting for namespace " + s.Config.Namespace + " to be gone")
	deleted, err := k.DeleteNamespace(ctx, s.Config.Namespace, s.Config.Release)
	if err != nil {
		return err
	}
	if !deleted {
		s.Result("namespace " + s.Config.Namespace + " left in place: svcgraph did not create it")
		return nil
	}
	s.Result("namespace " + s.Config.Namespace + " is gone")
	return nil
}

// StopMinikube stops the profile (`down --stop`) or, with Delete, deletes it (`down --purge`).
type StopMinikube struct{ Delete bool }

func (m StopMinikube) ID() string {
	if m.Delete {
		return "minikube-delete"
	}
	return "minikube-stop"
}

func (m StopMinikube) Title() string {
	if m.Delete {
		return "Deleting minikube profile"
	}
	return "Stopping minikube"
}

func (m StopMinikube) Run(ctx context.Context, s *Session) error {
	act, done := s.Minikube.Stop, "stopped"
	if m.Delete {
		act, done = s.Minikube.Delete, "deleted"
	}
	if err := act(ctx, s.Config.Profile); err != nil {
		return err
	}
	s.Result("profile " + s.Config.Profile + " " + done)
	return nil
}
