package harness

import _ "embed"

// The names tests put on pods to make kwok treat them differently (see stages.yaml, which spells
// them out; stages_test.go checks it does).
const (
	// FaultLabel on a pod selects a fault stage instead of the ready one; its value is a Fault….
	FaultLabel = "svcgraph.test/fault"
	// FaultImagePullBackOff: the pod stays Pending, its containers waiting in ImagePullBackOff.
	FaultImagePullBackOff = "ImagePullBackOff"
	// FaultCrashLoopOOMKilled: the pod runs, its containers waiting in CrashLoopBackOff after a
	// last run that ended OOMKilled with exit code 137, restarted once.
	FaultCrashLoopOOMKilled = "CrashLoopBackOff-OOMKilled"
	// ReadyDelayAnnotation on a pod (a Go duration such as "3s") delays the ready stage by that
	// much after kwok first sees the pod on its node.
	ReadyDelayAnnotation = "svcgraph.test/ready-delay"
)

// ownStages are svcgraph's own pod stages: a ready stage that honours the fault label and the
// ready-delay annotation, and one stage per fault.
//
//go:embed stages.yaml
var ownStages string
