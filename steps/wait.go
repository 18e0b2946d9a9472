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
	var last kube.PodStatus
	warned := map[string]bool{} // pod + reason, so each stuck pod is named once, not on every change
	err = k.WaitPods(ctx, s.Config.Namespace, kube.WaitOptions{
		Timeout: s.Config.Timeout,
		Progress: func(st kube.PodStatus) {
			last = st
			msg := fmt.Sprintf("%d/%d pods ready", st.Ready, st.Total)
			if p := st.Problems(); len(p) > 0 {
				msg += fmt.Sprintf(" (%s: %s)", p[0].Pod, p[0].Reason)
			}
			s.Progress(msg)
			// The live detail is only seen on a terminal; a line names a stuck pod in a log or
			// pipe too, long before the timeout's table.
			for _, p := range st.Problems() {
				if key := p.Pod + "\x00" + p.Reason; !warned[key] {
					warned[key] = true
					s.Warn(problemLine(p))
				}
			}
		},
	})
	if err != nil {
		return err
	}
	// WaitPods reports every change of status, the last one included: no second list is needed.
	s.Result(fmt.Sprintf("%d/%d pods ready", last.Ready, last.Total))
	return nil
}

// problemLine is one stuck pod as the warning names it: pod, container, reason and detail.
func problemLine(p kube.PodProblem) string {
	msg := "pod " + p.Pod
	if p.Container != "" {
		msg += " (container " + p.Container + ")"
	}
	msg += ": " + p.Reason
	if p.Message != "" {
		msg += ": " + p.Message
	}
	return msg
}
