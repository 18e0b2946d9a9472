package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/svcgraph/svcgraph/internal/english"
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
	if reason.Of(err).Kind == reason.MinikubeBroken && s.Config.PurgeCluster {
		// A profile minikube cannot even load is what --purge is for: delete it below.
		st, err = minikube.Status{State: minikube.Broken}, nil
	}
	if err != nil {
		return reason.Ensure(reason.MinikubeFailed, err, "", "could not read the state of minikube profile %q", s.Config.Profile)
	}
	s.clusterState = st.State
	if st.State != minikube.Running {
		s.clusterAway = fmt.Sprintf("minikube profile %s is %s", s.Config.Profile, map[minikube.State]string{
			minikube.Absent: "absent", minikube.Stopped: "stopped", minikube.Paused: "paused", minikube.Broken: "not healthy",
			minikube.Unknown: "in a state minikube cannot read"}[st.State])
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
	rel, err := k.Release(ctx, s.Config.Release)
	if err != nil {
		return err
	}
	if rel == nil {
		s.Result("release " + s.Config.Release + " was not installed")
		return nil
	}
	if err := k.Uninstall(ctx, s.Config.Release, s.Config.Timeout); err != nil {
		return s.uninstallForbidden(ctx, k, err)
	}
	s.Result(fmt.Sprintf("uninstalled release %s (revision %d)", s.Config.Release, rel.Revision))
	return nil
}

// uninstallForbidden explains a failed uninstall by what this user may not delete: a user limited
// to the namespace removes the release's objects there, and the ClusterRoles and bindings an
// admin's install made are left, named, with Helm's record of the release (status uninstalling),
// so an admin's `svcgraph down` or `helm uninstall` finishes the job. That is all this user may
// do, so down goes on. Any other failure stays one.
func (s *Session) uninstallForbidden(ctx context.Context, k *kube.Client, failed error) error {
	if ctx.Err() != nil || reason.Of(failed).Kind != reason.Uninstall {
		return failed
	}
	left, err := k.Undeletable(ctx, s.Config.Release)
	if err != nil || len(left) == 0 {
		return failed
	}
	const listed = 5
	shown := strings.Join(left[:min(listed, len(left))], ", ")
	if len(left) > listed {
		shown += fmt.Sprintf(", … and %d more", len(left)-listed)
	}
	s.Warn(fmt.Sprintf("the user of %s may not delete %s of release %s: %s. They are left, with Helm's record of the release, "+
		"for someone who may: the cluster's admin removes them with `svcgraph down --namespace %s --release %s --context <the admin's context>` (or `helm uninstall %s -n %s`)",
		s.target(), english.Count(len(left), "object"), s.Config.Release, shown, s.Config.Namespace, s.Config.Release, s.Config.Release, s.Config.Namespace))
	s.Result(fmt.Sprintf("removed what this user may of release %s; left %s it may not delete", s.Config.Release, english.Count(len(left), "object")))
	s.releaseLeft = true
	return nil
}

// DeleteNamespace deletes the namespace if svcgraph created it, and waits until it is gone, so a
// following `up` does not trip over a namespace that is still terminating. A namespace svcgraph
// did not create (the user's, or one from before svcgraph labelled its own) is left alone.
type DeleteNamespace struct{}

func (DeleteNamespace) ID() string    { return "namespace" }
func (DeleteNamespace) Title() string { return "Deleting the namespace" }

func (DeleteNamespace) Run(ctx context.Context, s *Session) error {
	k, err := s.clusterForDown()
	if k == nil || err != nil {
		return err
	}
	ns := s.Config.Namespace
	if s.releaseLeft {
		s.Result(fmt.Sprintf("left namespace %s: it holds Helm's record of release %s, which whoever removes the rest needs", ns, s.Config.Release))
		return nil
	}
	s.Progress("waiting for namespace " + ns + " to be gone")
	done, err := k.DeleteNamespace(ctx, ns, s.Config.Timeout)
	if err != nil {
		return err
	}
	switch done {
	case kube.NamespaceLeft:
		s.Result(fmt.Sprintf("left namespace %s: svcgraph did not create it (`kubectl delete namespace %s` removes it)", ns, ns))
	case kube.NamespaceDeleting:
		s.Result(fmt.Sprintf("namespace %s is being deleted (this user may not watch namespaces, so down does not wait until it is gone)", ns))
	case kube.NamespaceHidden:
		s.Result(fmt.Sprintf("left namespace %s: this user may not read it, so whether svcgraph created it cannot be told (the cluster's admin's `svcgraph down` deletes it if so)", ns))
	default:
		s.Result("namespace " + ns + " is gone")
	}
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
	} else if s.clusterState == minikube.Unknown {
		// minikube cannot reach the machine (none was made, or its driver is down), so there is
		// nothing to stop: `minikube stop` would only retry for a while and fail.
		s.Result(fmt.Sprintf("skipped: %s; `svcgraph down --purge --profile %s` deletes it", s.clusterAway, s.Config.Profile))
		return nil
	}
	if err := act(ctx, s.Config.Profile); err != nil {
		return err
	}
	s.Result("profile " + s.Config.Profile + " " + done)
	return nil
}
