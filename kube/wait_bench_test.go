package kube

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// BenchmarkWaitPodsReturn measures how long WaitPods takes to return after the last pod turns
// Ready, as a watch of this same process sees the API server store it: the wait's own overhead,
// without process start-up or the API server's delivery (the e2e benchmarks measure the CLI's).
// Each round creates one pod whose Ready the test cluster delays by 1s, so the wait is under way
// before it. Reported as ms-after-ready (median) and max-ms-after-ready; ns/op is meaningless.
//
//	CI=true go test -run '^$' -bench BenchmarkWaitPodsReturn -benchtime 10x ./kube
func BenchmarkWaitPodsReturn(b *testing.B) {
	cl := testcluster.Require(b)
	ns := cl.Namespace(b, "kube-bench-wait")
	c, err := New(Options{Kubeconfig: cl.Kubeconfig, Namespace: ns})
	if err != nil {
		b.Fatal(err)
	}
	readyAt := watchReady(b, cl, ns)
	var after []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("round-%d", i)
		_, err := cl.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"round": name},
				Annotations: map[string]string{testcluster.ReadyDelayAnnotation: "1s"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/bench:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = c.WaitPods(ctx, ns, WaitOptions{Selector: "round=" + name})
		returned := time.Now()
		cancel()
		if err != nil {
			b.Fatalf("round %d: %v", i, err)
		}
		// WaitPods' informer and this watch race for the same event: the difference may be < 0.
		at, ok := readyAt(name, 10*time.Second)
		if !ok {
			b.Fatalf("round %d: WaitPods returned but this process's watch never saw pod %s Ready", i, name)
		}
		after = append(after, returned.Sub(at))
	}
	sort.Slice(after, func(i, j int) bool { return after[i] < after[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(after[len(after)/2]), "ms-after-ready")
	b.ReportMetric(ms(after[len(after)-1]), "max-ms-after-ready")
}

// watchReady records when this process first sees each pod of the namespace Ready; the function
// it returns waits up to limit for that moment.
func watchReady(b *testing.B, cl *testcluster.Cluster, ns string) func(name string, limit time.Duration) (time.Time, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	pods := cl.Client.CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return pods.Watch(ctx, o) },
	})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	ready := map[string]time.Time{}
	seen := map[string]chan struct{}{} // closed when the pod is first seen Ready
	signal := func(name string) chan struct{} {
		if seen[name] == nil {
			seen[name] = make(chan struct{})
		}
		return seen[name]
	}
	go func() {
		defer rw.Stop()
		for ev := range rw.ResultChan() {
			now := time.Now()
			if p, ok := ev.Object.(*corev1.Pod); ok && podReady(p) {
				mu.Lock()
				if _, done := ready[p.Name]; !done {
					ready[p.Name] = now
					close(signal(p.Name))
				}
				mu.Unlock()
			}
		}
	}()
	return func(name string, limit time.Duration) (time.Time, bool) {
		mu.Lock()
		ch := signal(name)
		mu.Unlock()
		select {
		case <-ch:
		case <-time.After(limit):
			return time.Time{}, false
		}
		mu.Lock()
		defer mu.Unlock()
		return ready[name], true
	}
}
