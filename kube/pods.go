package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// WaitOptions tune WaitPods.
type WaitOptions struct {
	Timeout  time.Duration   // 0 means no limit beyond ctx
	Progress func(PodStatus) // called whenever the status changes; must not block
	Selector string          // label selector for pods and workloads; "" means all in the namespace
	Persist  time.Duration   // how long a transient reason must last to count; default 20s
	LogLines int             // log lines of a crashing container in the timeout report; default 10
}

const (
	defaultPersist  = 20 * time.Second
	defaultLogLines = 10
	// logTailBytes bounds each log read of the timeout report.
	logTailBytes = 16 << 10
)

// WaitPods waits until every pod in the namespace (or matching the selector) is Ready and every
// Deployment, StatefulSet and DaemonSet has all its pods ready. It watches through informers,
// which re-list and watch again after errors, so an API server that goes away for a while only
// delays the answer. On timeout the error is a reason.PodsNotReady whose message is a table of the
// pods that are not ready, why, their latest warning events and the logs of crashing containers.
func (c *Client) WaitPods(ctx context.Context, ns string, o WaitOptions) error {
	if _, err := labels.Parse(o.Selector); err != nil {
		return reason.Wrap(reason.Usage, err, "", "bad pod selector %q", o.Selector)
	}
	if o.Persist <= 0 {
		o.Persist = defaultPersist
	}
	if o.LogLines <= 0 {
		o.LogLines = defaultLogLines
	}
	waitCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	// Informers stop with this context, also when we return early because everything is ready.
	informCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()

	w := newWatchSet(informCtx, c, ns, o.Selector)
	seen := map[string]time.Time{}
	var last PodStatus
	reported := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.changed:
		case <-timer.C:
		case <-waitCtx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return interrupted(ctx, "waiting for pods")
			}
			if w.synced() { // the freshest view, with reasons aged to now
				last, _ = w.snapshot().status(time.Now(), o.Persist, seen)
			}
			return c.notReadyError(ns, o, last, w.synced(), w.lastWatchError())
		}
		if !w.synced() {
			continue
		}
		st, done := w.snapshot().status(time.Now(), o.Persist, seen)
		if !reported || !reflect.DeepEqual(st, last) {
			if o.Progress != nil {
				o.Progress(st)
			}
			reported = true
		}
		last = st
		if done {
			return nil
		}
		if next, ok := nextThreshold(st, o.Persist); ok {
			timer.Reset(time.Until(next))
		}
	}
}

// Pods is a one-off view of the namespace's pods, for `svcgraph status`: every reason counts.
func (c *Client) Pods(ctx context.Context, ns string) (PodStatus, error) {
	s, err := c.listSnapshot(ctx, ns, "")
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return PodStatus{}, interrupted(ctx, "listing pods")
		}
		return PodStatus{}, reason.Wrap(reason.Cluster, err, "", "cannot list the pods in namespace %s", ns)
	}
	st, _ := s.status(time.Now(), 0, nil)
	return st, nil
}

func (c *Client) listSnapshot(ctx context.Context, ns, selector string) (*snapshot, error) {
	byLabel := metav1.ListOptions{LabelSelector: selector}
	s := &snapshot{pvcs: map[string]*corev1.PersistentVolumeClaim{}, events: map[string][]*corev1.Event{}}
	pods, err := c.cs.CoreV1().Pods(ns).List(ctx, byLabel)
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		s.pods = append(s.pods, &pods.Items[i])
	}
	deps, err := c.cs.AppsV1().Deployments(ns).List(ctx, byLabel)
	if err != nil {
		return nil, err
	}
	for i := range deps.Items {
		s.deployments = append(s.deployments, &deps.Items[i])
	}
	sss, err := c.cs.AppsV1().StatefulSets(ns).List(ctx, byLabel)
	if err != nil {
		return nil, err
	}
	for i := range sss.Items {
		s.statefulSets = append(s.statefulSets, &sss.Items[i])
	}
	dss, err := c.cs.AppsV1().DaemonSets(ns).List(ctx, byLabel)
	if err != nil {
		return nil, err
	}
	for i := range dss.Items {
		s.daemonSets = append(s.daemonSets, &dss.Items[i])
	}
	pvcs, err := c.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pvcs.Items {
		s.pvcs[pvcs.Items[i].Name] = &pvcs.Items[i]
	}
	evs, err := c.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		return nil, err
	}
	for i := range evs.Items {
		e := &evs.Items[i]
		s.events[eventKey(e)] = append(s.events[eventKey(e)], e)
	}
	return s, nil
}

// watchSet holds the informers WaitPods reads from and signals changed on every event.
type watchSet struct {
	changed chan struct{}

	pods, deployments, statefulSets, daemonSets, pvcs, events cache.SharedIndexInformer

	mu       sync.Mutex
	watchErr error
}

func newWatchSet(ctx context.Context, c *Client, ns, selector string) *watchSet {
	byLabel := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	all := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns))
	warnings := informers.NewSharedInformerFactoryWithOptions(c.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "type=Warning" }))

	w := &watchSet{
		changed:      make(chan struct{}, 1),
		pods:         byLabel.Core().V1().Pods().Informer(),
		deployments:  byLabel.Apps().V1().Deployments().Informer(),
		statefulSets: byLabel.Apps().V1().StatefulSets().Informer(),
		daemonSets:   byLabel.Apps().V1().DaemonSets().Informer(),
		pvcs:         all.Core().V1().PersistentVolumeClaims().Informer(),
		events:       warnings.Core().V1().Events().Informer(),
	}
	notify := func() {
		select {
		case w.changed <- struct{}{}:
		default: // a wake-up is already pending; it will see this change too
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range w.all() {
		_, _ = inf.AddEventHandler(handler)
		// Keep the last watch error for the timeout report; the reflector retries on its own.
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			w.mu.Lock()
			w.watchErr = err
			w.mu.Unlock()
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
	}
	byLabel.Start(ctx.Done())
	all.Start(ctx.Done())
	warnings.Start(ctx.Done())
	go func() {
		// One more wake-up once every cache has synced, in case the last event came before that.
		if cache.WaitForCacheSync(ctx.Done(), w.hasSynced()...) {
			notify()
		}
	}()
	return w
}

func (w *watchSet) all() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{w.pods, w.deployments, w.statefulSets, w.daemonSets, w.pvcs, w.events}
}

func (w *watchSet) hasSynced() []cache.InformerSynced {
	var out []cache.InformerSynced
	for _, inf := range w.all() {
		out = append(out, inf.HasSynced)
	}
	return out
}

func (w *watchSet) synced() bool {
	for _, inf := range w.all() {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

func (w *watchSet) lastWatchError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watchErr
}

func (w *watchSet) snapshot() *snapshot {
	s := &snapshot{pvcs: map[string]*corev1.PersistentVolumeClaim{}, events: map[string][]*corev1.Event{}}
	for _, o := range w.pods.GetStore().List() {
		s.pods = append(s.pods, o.(*corev1.Pod))
	}
	for _, o := range w.deployments.GetStore().List() {
		s.deployments = append(s.deployments, o.(*appsv1.Deployment))
	}
	for _, o := range w.statefulSets.GetStore().List() {
		s.statefulSets = append(s.statefulSets, o.(*appsv1.StatefulSet))
	}
	for _, o := range w.daemonSets.GetStore().List() {
		s.daemonSets = append(s.daemonSets, o.(*appsv1.DaemonSet))
	}
	for _, o := range w.pvcs.GetStore().List() {
		pvc := o.(*corev1.PersistentVolumeClaim)
		s.pvcs[pvc.Name] = pvc
	}
	for _, o := range w.events.GetStore().List() {
		e := o.(*corev1.Event)
		s.events[eventKey(e)] = append(s.events[eventKey(e)], e)
	}
	return s
}

// notReadyError is the timeout report: a table of the pods that are not ready, their reasons,
// events and, for crashing or waiting containers, their last log lines.
func (c *Client) notReadyError(ns string, o WaitOptions, st PodStatus, synced bool, watchErr error) error {
	if !synced {
		return reason.Wrap(reason.Cluster, watchErr, "",
			"could not read the pods of namespace %s from the API server at %s within %s", ns, c.config.Host, o.Timeout)
	}
	if st.Total == 0 {
		return reason.New(reason.PodsNotReady, "Check that the release installed workloads in this namespace (`svcgraph status`).",
			"no pods appeared in namespace %s within %s", ns, o.Timeout)
	}
	// The wait's context is over; log reads get a short one of their own.
	logCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range st.NotReady {
		st.NotReady[i].LogTail = c.logTail(logCtx, ns, st.NotReady[i], o.LogLines)
	}
	msg := fmt.Sprintf("%d of %d pods in namespace %s are not ready after %s\n%s",
		st.Total-st.Ready, st.Total, ns, o.Timeout, formatTable(st))
	if watchErr != nil {
		msg += fmt.Sprintf("\n(last error watching the API server: %v)", watchErr)
	}
	problems := st.Problems()
	if len(problems) == 0 {
		problems = st.NotReady
	}
	return reason.New(reason.PodsNotReady, adviceFor(ns, problems), "%s", msg)
}

// logTail reads the last lines of the container to blame when its logs likely say why: a
// crashing container's previous run, or a running init container's current one.
func (c *Client) logTail(ctx context.Context, ns string, p PodProblem, lines int) string {
	if p.Container == "" {
		return ""
	}
	// LimitBytes too: a few lines can still be megabytes (a stack dump, a one-line JSON blob).
	opts := &corev1.PodLogOptions{Container: p.Container, TailLines: ptr(int64(lines)), LimitBytes: ptr(int64(logTailBytes))}
	switch p.Reason {
	case ReasonCrashLoop, ReasonOOMKilled:
		opts.Previous = true
	case ReasonInitWaiting, ReasonNotReady, ReasonContainerExited:
	default:
		return ""
	}
	raw, err := c.cs.CoreV1().Pods(ns).GetLogs(p.Pod, opts).DoRaw(ctx)
	if err != nil {
		return "" // logs are a bonus; the reason and events already stand on their own
	}
	return strings.TrimRight(string(raw), "\n")
}

func ptr[T any](v T) *T { return &v }

func formatTable(st PodStatus) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tCONTAINER\tREASON\tDETAIL")
	for _, p := range st.NotReady {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Pod, orDefault(p.Container, "-"), p.Reason, oneLine(p.Message))
	}
	tw.Flush()
	for _, p := range st.NotReady {
		if len(p.Events) == 0 && p.LogTail == "" {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", p.Pod)
		for _, e := range p.Events {
			fmt.Fprintf(&b, "  event: %s\n", oneLine(e))
		}
		if p.LogTail != "" {
			fmt.Fprintf(&b, "  last log lines of %s:\n", p.Container)
			for _, l := range strings.Split(p.LogTail, "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
