// Package steps holds the runner and the steps of `svcgraph up` and `svcgraph down`. A step does
// one thing, reports through the Session, and never prints on its own; the runner decides how
// progress and failures look (spinner, plain lines or JSON events) and which exit code follows.
package steps

import (
	"context"
)

// Step is one unit of a plan.
type Step interface {
	// ID is a short stable name used in JSON events ("preflight", "minikube", …).
	ID() string
	// Title is what the user reads while the step runs ("Starting minikube").
	Title() string
	Run(ctx context.Context, s *Session) error
}

// Plan is the ordered list of steps of one command.
type Plan []Step
