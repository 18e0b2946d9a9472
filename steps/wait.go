package steps

import (
	"context"
	"fmt"

	"github.com/svcgraph/svcgraph/kube"
)

// WaitPods waits until every pod of the namespace is Ready, naming the ones that are stuck.
type WaitPods struct{}

func (WaitPods) ID() string    { return "wait" }
func (WaitPods) Title() string { return "Waiting for pods" }

func (WaitPods) Run(ctx context.Context, s *Session) error {
	k, err := s.Kube()
	if err != nil {
		return err
	}
	err = k.WaitPods(ctx, s.Config.Namespace, kube.WaitOptions{
		Timeout: s.Config.Timeout,
		Progress: func(st kube.PodStatus) {
			msg := fmt.Sprintf("%d/%d pods ready", st.Ready, st.Total)
			if p := st.Problems(); len(p) > 0 {
				msg += fmt.Sprintf(" (%s: %s)", p[0].Pod, p[0].Reason)
			}
			s.Progress(msg)
		},
	})
	if err != nil {
		return err
	}
	st, err := k.Pods(ctx, s.Config.Namespace)
	if err != nil {
		return err
	}
	s.Result(fmt.Sprintf("%d/%d pods ready", st.Ready, st.Total))
	return nil
}
