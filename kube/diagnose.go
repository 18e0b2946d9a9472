package kube

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PodStatus is how far a namespace's pods are from all being Ready.
type PodStatus struct {
	Ready, Total int          // Total includes pods that workloads still have to create
	NotReady     []PodProblem // one per existing pod that is not Ready, sorted by pod name
}

// Problems are the not-ready pods whose reason counts as a problem (see PodProblem.Problem).
func (s PodStatus) Problems() []PodProblem {
	var out []PodProblem
	for _, p := range s.NotReady {
		if p.Problem {
			out = append(out, p)
		}
	}
	return out
}

// PodProblem says why one pod is not Ready.
type PodProblem struct {
	Pod       string
	Container string // the container to blame, "" when it is about the whole pod
	Reason    string // a Reason… constant or a container state reason Kubernetes reported
	Message   string // details: scheduler message, last termination, image, claim…
	Events    []string
	LogTail   string // last log lines of a crashing or waiting container; filled on timeout only
	// Problem is false while a reason that often clears up by itself (ErrImagePull, a pod not yet
	// scheduled, a container still creating…) has lasted less than WaitOptions.Persist.
	Problem bool
	Since   time.Time // first time this reason was seen during the wait
}

// Reasons svcgraph names itself; others are Kubernetes' container state reasons passed through
// (ErrImagePull, ImagePullBackOff, InvalidImageName, CrashLoopBackOff, CreateContainerConfigError…).
const (
	ReasonUnschedulable   = "Unschedulable"
	ReasonPVCPending      = "PersistentVolumeClaimPending"
	ReasonInitWaiting     = "InitContainerWaiting"
	ReasonNotReady        = "ReadinessProbeFailing"
	ReasonPending         = "Pending"
	ReasonStarting        = "ContainerCreating"
	ReasonTerminating     = "Terminating"
	ReasonFailed          = "PodFailed"
	ReasonOOMKilled       = "OOMKilled"
	ReasonCrashLoop       = "CrashLoopBackOff"
	ReasonImagePullBack   = "ImagePullBackOff"
	ReasonErrImagePull    = "ErrImagePull"
	ReasonInvalidImage    = "InvalidImageName"
	ReasonConfigError     = "CreateContainerConfigError"
	ReasonContainerExited = "ContainerExited"
)

// transientReasons often clear up without help; they only count once they persist.
var transientReasons = map[string]bool{
	ReasonUnschedulable: true, ReasonPVCPending: true, ReasonInitWaiting: true, ReasonNotReady: true,
	ReasonPending: true, ReasonStarting: true, ReasonTerminating: true, ReasonErrImagePull: true,
	ReasonConfigError: true, ReasonContainerExited: true, "PodInitializing": true,
}

// snapshot is everything diagnosis looks at, as informers (or one-off lists) hold it.
type snapshot struct {
	pods         []*corev1.Pod
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	daemonSets   []*appsv1.DaemonSet
	pvcs         map[string]*corev1.PersistentVolumeClaim // by name
	events       map[string][]*corev1.Event               // warning events by "Kind/name"
}

// counts says whether a pod takes part in readiness: finished pods (Succeeded, Failed — an evicted
// pod stays behind Failed while its replacement runs) and Job pods are not services to wait for.
func counts(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			return false
		}
	}
	return true
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// workloadsSettled says whether every workload has created its pods at the current spec and
// reports them ready, so that pods that do not exist yet cannot make a wait end early.
func (s *snapshot) workloadsSettled() bool {
	for _, d := range s.deployments {
		want := replicas(d.Spec.Replicas)
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want || d.Status.ReadyReplicas < want {
			return false
		}
	}
	for _, ss := range s.statefulSets {
		want := replicas(ss.Spec.Replicas)
		if ss.Status.ObservedGeneration < ss.Generation || ss.Status.ReadyReplicas < want {
			return false
		}
	}
	for _, ds := range s.daemonSets {
		if ds.Status.ObservedGeneration < ds.Generation || ds.Status.NumberReady < ds.Status.DesiredNumberScheduled {
			return false
		}
	}
	return true
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// expectedPods is how many pods the workloads want plus the pods no workload owns.
func (s *snapshot) expectedPods() int {
	n := 0
	for _, d := range s.deployments {
		n += int(replicas(d.Spec.Replicas))
	}
	for _, ss := range s.statefulSets {
		n += int(replicas(ss.Spec.Replicas))
	}
	for _, ds := range s.daemonSets {
		n += int(ds.Status.DesiredNumberScheduled)
	}
	for _, p := range s.pods {
		if counts(p) && !ownedByWorkload(p) {
			n++
		}
	}
	return n
}

func ownedByWorkload(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		switch o.Kind {
		case "ReplicaSet", "StatefulSet", "DaemonSet":
			return true
		}
	}
	return false
}

// status diagnoses the snapshot. seen remembers when each pod's reason was first observed (nil
// means no memory: every reason counts at once, as for `svcgraph status`). It also reports whether
// the wait is over.
func (s *snapshot) status(now time.Time, persist time.Duration, seen map[string]time.Time) (PodStatus, bool) {
	var st PodStatus
	counted := 0
	keep := map[string]bool{}
	for _, p := range s.pods {
		if !counts(p) {
			continue
		}
		counted++
		if podReady(p) {
			st.Ready++
			continue
		}
		pr := diagnosePod(p, s.pvcs)
		pr.Events = s.podEvents(p)
		pr.Since, pr.Problem = now, true
		if seen != nil {
			key := string(p.UID) + "/" + pr.Container + "/" + pr.Reason
			keep[key] = true
			if first, ok := seen[key]; ok {
				pr.Since = first
			} else {
				seen[key] = now
			}
			pr.Problem = !transientReasons[pr.Reason] || now.Sub(pr.Since) >= persist
		}
		st.NotReady = append(st.NotReady, pr)
	}
	for k := range seen {
		if !keep[k] {
			delete(seen, k)
		}
	}
	sort.Slice(st.NotReady, func(i, j int) bool { return st.NotReady[i].Pod < st.NotReady[j].Pod })
	st.Total = max(counted, s.expectedPods())
	done := counted > 0 && st.Ready == counted && s.workloadsSettled()
	return st, done
}

// nextThreshold is when the earliest transient reason will have persisted long enough to count,
// so the waiter can re-evaluate then without any event arriving.
func nextThreshold(st PodStatus, persist time.Duration) (time.Time, bool) {
	var next time.Time
	for _, p := range st.NotReady {
		if p.Problem {
			continue
		}
		if t := p.Since.Add(persist); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, !next.IsZero()
}

// maxEvents is how many warning events each not-ready pod shows: the latest ones are the story.
const maxEvents = 3

// podEvents are the latest warning events about the pod and its claims, newest first.
func (s *snapshot) podEvents(p *corev1.Pod) []string {
	evs := append([]*corev1.Event(nil), s.events["Pod/"+p.Name]...)
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			evs = append(evs, s.events["PersistentVolumeClaim/"+v.PersistentVolumeClaim.ClaimName]...)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).After(eventTime(evs[j])) })
	var out []string
	said := map[string]bool{}
	for _, e := range evs {
		if len(out) == maxEvents {
			break
		}
		line := e.Reason + ": " + strings.TrimSpace(e.Message)
		if said[line] { // the scheduler and kubelet repeat themselves in separate Event objects
			continue
		}
		said[line] = true
		if n := eventCount(e); n > 1 {
			line += fmt.Sprintf(" (x%d)", n)
		}
		out = append(out, line)
	}
	return out
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func eventCount(e *corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > e.Count {
		return e.Series.Count
	}
	return e.Count
}

func eventKey(e *corev1.Event) string { return e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name }

// adviceFor says what to do about the problems in a timed-out wait, most fundamental first.
func adviceFor(ns string, problems []PodProblem) string {
	has := map[string]bool{}
	insufficient := false
	for _, p := range problems {
		has[p.Reason] = true
		if p.Reason == ReasonUnschedulable && strings.Contains(p.Message, "Insufficient") {
			insufficient = true
		}
	}
	var tips []string
	if insufficient {
		tips = append(tips, "The node is too small for all pods: recreate the cluster bigger (`svcgraph down --purge`, then `svcgraph up --memory 12G`), or turn components off with -f/--set.")
	} else if has[ReasonUnschedulable] {
		tips = append(tips, "The scheduler cannot place some pods; its message above says why.")
	}
	if has[ReasonPVCPending] {
		tips = append(tips, "A volume claim is not being provisioned: the cluster needs a default StorageClass (on minikube: `minikube addons enable default-storageclass` and `minikube addons enable storage-provisioner`).")
	}
	if has[ReasonImagePullBack] || has[ReasonErrImagePull] || has[ReasonInvalidImage] {
		tips = append(tips, "An image cannot be pulled: check its name and tag, and that the cluster reaches the registry.")
	}
	if has[ReasonOOMKilled] {
		tips = append(tips, "A container is killed for using more memory than its limit: raise that component's resources.limits.memory with --set or -f.")
	}
	if has[ReasonCrashLoop] || has[ReasonContainerExited] {
		tips = append(tips, "A container keeps exiting: its last log lines above usually say why.")
	}
	if has[ReasonConfigError] {
		tips = append(tips, "A container refers to a ConfigMap or Secret that does not exist: check your -f/--set values.")
	}
	if has[ReasonInitWaiting] {
		tips = append(tips, "An init container waits for another service: get that service's pod ready first.")
	}
	tips = append(tips, fmt.Sprintf("`kubectl -n %s describe pod <pod>` shows more; a slow machine may just need a longer --timeout.", ns))
	return strings.Join(tips, " ")
}
