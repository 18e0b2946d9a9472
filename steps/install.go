package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/kube"
)

// Install installs the patched chart the first time and upgrades it only when the chart or the
// values changed, so a second `up` touches nothing.
type Install struct{}

func (Install) ID() string    { return "install" }
func (Install) Title() string { return "Installing the demo" }

func (Install) Run(ctx context.Context, s *Session) error {
	k, err := s.Kube()
	if err != nil {
		return err
	}
	if err := k.Ping(ctx); err != nil {
		return err
	}
	s.Progress(fmt.Sprintf("release %s in namespace %s", s.Config.Release, s.Config.Namespace))
	res, err := k.Apply(ctx, kube.ReleaseSpec{
		Name: s.Config.Release, Chart: s.Patched.ChartCopy(), Values: s.Patched.Values,
		Hash: s.Patched.Hash, Timeout: s.Config.Timeout, PostRenderer: s.Patched.PostRenderer,
	})
	if err != nil {
		return err
	}
	s.Result(fmt.Sprintf("%s, revision %d", res.Action, res.Revision))
	return nil
}
