package steps

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/svcgraph/svcgraph/internal/minikube"
)

// StatusReport is what `svcgraph status` shows.
type StatusReport struct {
	Profile       string `json:"profile"`
	ProfileState  string `json:"profileState"`
	Namespace     string `json:"namespace"`
	Release       string `json:"release"`
	ReleaseStatus string `json:"releaseStatus"` // "" when not installed
	Revision      int    `json:"revision,omitempty"`
	PodsReady     int    `json:"podsReady"`
	PodsTotal     int    `json:"podsTotal"`
	Forward       string `json:"forward,omitempty"` // URL of a background forwarder
}

// Status gathers the state of profile, release, pods and background forwarder. Each part that
// cannot be reached is reported as such rather than failing the whole report.
func Status(ctx context.Context, s *Session) (StatusReport, error) {
	c := s.Config
	r := StatusReport{Profile: c.Profile, Namespace: c.Namespace, Release: c.Release}
	st, err := s.Minikube.Status(ctx, c.Profile)
	if err != nil {
		return r, err
	}
	r.ProfileState = string(st.State)
	if rec, ok := s.liveForwarder(); ok {
		r.Forward = rec.URL
	}
	if st.State != minikube.Running {
		return r, nil
	}
	k, err := s.Kube()
	if err != nil {
		return r, err
	}
	rel, err := k.Release(ctx, c.Release)
	if err != nil {
		return r, err
	}
	if rel != nil {
		r.ReleaseStatus, r.Revision = rel.Status, rel.Revision
	}
	pods, err := k.Pods(ctx, c.Namespace)
	if err != nil {
		return r, err
	}
	r.PodsReady, r.PodsTotal = pods.Ready, pods.Total
	return r, nil
}

// WriteText prints the report for people.
func (r StatusReport) WriteText(w io.Writer) {
	release := "not installed"
	if r.ReleaseStatus != "" {
		release = fmt.Sprintf("%s, revision %d", r.ReleaseStatus, r.Revision)
	}
	forward := "none in the background"
	if r.Forward != "" {
		forward = r.Forward
	}
	lines := []string{
		fmt.Sprintf("minikube profile %s: %s", r.Profile, strings.ToLower(r.ProfileState)),
		fmt.Sprintf("release %s in %s: %s", r.Release, r.Namespace, release),
		fmt.Sprintf("pods: %d/%d ready", r.PodsReady, r.PodsTotal),
		"forward: " + forward,
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}
