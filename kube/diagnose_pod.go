package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Why one pod is not Ready, from its status, its containers' states and its claims.

// diagnosePod names the first thing that keeps a pod from being Ready, in the order a pod
// progresses: deletion, scheduling (and its volumes), init containers, containers.
func diagnosePod(p *corev1.Pod, pvcs map[string]*corev1.PersistentVolumeClaim) PodProblem {
	pr := PodProblem{Pod: p.Name}
	if p.DeletionTimestamp != nil {
		pr.Reason = ReasonTerminating
		return pr
	}
	if p.Status.Phase == corev1.PodFailed {
		pr.Reason, pr.Message = ReasonFailed, strings.TrimSpace(p.Status.Reason+" "+p.Status.Message)
		return pr
	}
	if claim, msg := pendingClaim(p, pvcs); claim != "" {
		pr.Reason, pr.Message = ReasonPVCPending, msg
		return pr
	}
	if c := podCondition(p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		if c != nil && c.Reason == corev1.PodReasonUnschedulable {
			pr.Reason, pr.Message = ReasonUnschedulable, c.Message
		} else {
			pr.Reason, pr.Message = ReasonPending, "not scheduled yet"
		}
		return pr
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			continue
		}
		if cs.Started != nil && *cs.Started && cs.Ready && isSidecar(p, cs.Name) {
			continue // a restartable init container (sidecar) that runs and is ready is done
		}
		pr.Container = cs.Name
		if cs.State.Running != nil {
			pr.Reason = ReasonInitWaiting
			pr.Message = fmt.Sprintf("init container %s is still running; it usually waits for another service to answer", cs.Name)
			return pr
		}
		containerProblem(p, cs, true, &pr)
		return pr
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			continue
		}
		pr.Container = cs.Name
		containerProblem(p, cs, false, &pr)
		return pr
	}
	// Scheduled but the kubelet has not reported container statuses yet.
	pr.Reason = ReasonStarting
	return pr
}

func isSidecar(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func containerProblem(p *corev1.Pod, cs corev1.ContainerStatus, init bool, pr *PodProblem) {
	last := ""
	if t := cs.LastTerminationState.Terminated; t != nil {
		last = describeTermination(p, cs.Name, t, init)
	}
	switch {
	case cs.State.Waiting != nil:
		w := cs.State.Waiting
		pr.Reason = w.Reason
		if pr.Reason == "" {
			pr.Reason = ReasonStarting
		}
		switch w.Reason {
		case ReasonCrashLoop:
			pr.Message = fmt.Sprintf("restarted %s; last exit: %s", times(cs.RestartCount), last)
			if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == ReasonOOMKilled {
				pr.Reason = ReasonOOMKilled
				pr.Message = fmt.Sprintf("%s (restarted %s, now in CrashLoopBackOff)", last, times(cs.RestartCount))
			}
		case ReasonImagePullBack, ReasonErrImagePull, ReasonInvalidImage:
			pr.Message = strings.TrimSpace(fmt.Sprintf("image %s: %s", containerImage(p, cs.Name, init), w.Message))
		default:
			pr.Message = w.Message
		}
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		pr.Reason, pr.Message = ReasonContainerExited, describeTermination(p, cs.Name, t, init)
		if t.Reason == ReasonOOMKilled {
			pr.Reason = ReasonOOMKilled
		}
	case cs.State.Running != nil:
		pr.Reason = ReasonNotReady
		pr.Message = "running but not ready (readiness probe)"
		if last != "" {
			pr.Message += fmt.Sprintf("; restarted %s, last exit: %s", times(cs.RestartCount), last)
		}
	default:
		pr.Reason = ReasonStarting
	}
}

func times(n int32) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
}

func describeTermination(p *corev1.Pod, container string, t *corev1.ContainerStateTerminated, init bool) string {
	s := fmt.Sprintf("%s (exit code %d)", orDefault(t.Reason, "Error"), t.ExitCode)
	if t.Reason == ReasonOOMKilled {
		if limit := memoryLimit(p, container, init); limit != "" {
			s += ", memory limit " + limit
		} else {
			s += ", no memory limit set (the node ran out of memory)"
		}
	}
	if t.Message != "" {
		s += ": " + strings.TrimSpace(t.Message)
	}
	return s
}

func containerSpec(p *corev1.Pod, name string, init bool) *corev1.Container {
	list := p.Spec.Containers
	if init {
		list = p.Spec.InitContainers
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func memoryLimit(p *corev1.Pod, container string, init bool) string {
	if c := containerSpec(p, container, init); c != nil {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			return q.String()
		}
	}
	return ""
}

func containerImage(p *corev1.Pod, container string, init bool) string {
	if c := containerSpec(p, container, init); c != nil {
		return c.Image
	}
	return "?"
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// pendingClaim finds a PersistentVolumeClaim of the pod that is not bound yet and says why that
// matters: without a (default) StorageClass nothing will ever provision it.
func pendingClaim(p *corev1.Pod, pvcs map[string]*corev1.PersistentVolumeClaim) (string, string) {
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		pvc, ok := pvcs[name]
		if !ok {
			if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status != corev1.ConditionTrue && strings.Contains(c.Message, "not found") {
				return name, fmt.Sprintf("PersistentVolumeClaim %s does not exist", name)
			}
			continue
		}
		if pvc.Status.Phase != corev1.ClaimPending {
			continue
		}
		class := "no StorageClass named and no default StorageClass in the cluster"
		if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
			class = fmt.Sprintf("StorageClass %q has not provisioned a volume", *pvc.Spec.StorageClassName)
		}
		return name, fmt.Sprintf("PersistentVolumeClaim %s is Pending: %s", name, class)
	}
	return "", ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
