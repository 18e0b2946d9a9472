package kube

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// createdForLabel marks a namespace svcgraph created, with the release it was created for: down
// deletes only such a namespace, never one that was there before (a team's namespace on a shared
// cluster, or default).
const createdForLabel = "svcgraph.io/created-for"

// createNamespace creates the release's namespace, marked as svcgraph's, unless it exists.
func (c *Client) createNamespace(ctx context.Context, ns, release string) error {
	_, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{createdForLabel: release},
	}}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return interrupted(ctx, "creating namespace "+ns)
	}
	return reason.Wrap(reason.Install, err, "Check that your kubeconfig user may create namespaces, or install into one that exists with --namespace.",
		"cannot create namespace %s", ns)
}

// DeleteNamespace deletes the namespace svcgraph created for the release and waits, watching,
// until the API server no longer has it (its finalizers have emptied it). A namespace that is
// not there is fine; one svcgraph did not create for this release is left alone (deleted false).
func (c *Client) DeleteNamespace(ctx context.Context, ns, release string) (deleted bool, err error) {
	got, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return false, interrupted(ctx, "reading namespace "+ns)
	case err != nil:
		return false, reason.Wrap(reason.Uninstall, err, "Check that your kubeconfig user may read namespaces, then run `svcgraph down` again.",
			"cannot read namespace %s", ns)
	case got.Labels[createdForLabel] != release:
		return false, nil
	}
	return true, c.deleteNamespace(ctx, ns)
}

func (c *Client) deleteNamespace(ctx context.Context, ns string) error {
	err := c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// Already terminating (an earlier `down` was interrupted): just wait for it to go.
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return interrupted(ctx, "deleting namespace "+ns)
	case err != nil:
		return reason.Wrap(reason.Uninstall, err, "Check that your kubeconfig user may delete namespaces, then run `svcgraph down` again.",
			"cannot delete namespace %s", ns)
	}

	// UntilWithSync lists then watches (re-listing after watch errors), and checks the listed
	// state first, so a namespace that vanished between Delete and the watch is not missed.
	byName := fields.OneTermEqualSelector("metadata.name", ns).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return c.cs.CoreV1().Namespaces().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return c.cs.CoreV1().Namespaces().Watch(ctx, o)
		},
	}
	gone := func(store cache.Store) (bool, error) { return len(store.List()) == 0, nil }
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.Namespace{}, gone,
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return interrupted(ctx, "waiting for namespace "+ns+" to be deleted")
	}
	return reason.Wrap(reason.Uninstall, err,
		"Something keeps the namespace alive (often a finalizer): `kubectl get namespace "+ns+" -o yaml` shows its conditions.",
		"namespace %s was not deleted in time", ns)
}
