package kube

import (
	"context"
	"errors"
	"time"

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

// A namespace svcgraph created carries this label; `down` deletes no other. Helm's
// CreateNamespace labels nothing that would tell, so svcgraph creates the namespace itself.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "svcgraph"
)

// EnsureNamespace creates the namespace, labelled as svcgraph's, unless it exists; an existing
// one is used as it is and stays the user's.
func (c *Client) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{ManagedByLabel: ManagedBy}},
	}, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return interrupted(ctx, "creating namespace "+ns)
	}
	return reason.Wrap(reason.Install, err, "Check that your kubeconfig user may create namespaces, or create it yourself and run `svcgraph up` again.",
		"cannot create namespace %s", ns)
}

// NamespaceOutcome is what DeleteNamespace did.
type NamespaceOutcome int

const (
	NamespaceAbsent   NamespaceOutcome = iota // there was none
	NamespaceDeleted                          // it was svcgraph's, and it is gone
	NamespaceLeft                             // it is not svcgraph's: left as it was
	NamespaceHidden                           // the user may not read it, so whose it is cannot be told: left
	NamespaceDeleting                         // deleted, but the user may not watch it go (its Role allows the namespace itself only)
)

// DeleteNamespace deletes the namespace if svcgraph created it (ManagedByLabel) and waits, for
// at most timeout, watching, until the API server no longer has it (its finalizers have emptied
// it). A namespace without the label — the user's own, or one an svcgraph older than the label
// had Helm create — is left alone, and so is one the user may not read (a user limited to the
// namespace's inside cannot tell whether svcgraph created it).
func (c *Client) DeleteNamespace(ctx context.Context, ns string, timeout time.Duration) (NamespaceOutcome, error) {
	got, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return NamespaceAbsent, nil
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return NamespaceAbsent, interrupted(ctx, "reading namespace "+ns)
	case apierrors.IsForbidden(err):
		return NamespaceHidden, nil
	case err != nil:
		return NamespaceAbsent, reason.Wrap(reason.Cluster, err, "", "cannot read namespace %s", ns)
	case got.Labels[ManagedByLabel] != ManagedBy:
		return NamespaceLeft, nil
	}
	if got.DeletionTimestamp == nil {
		// The UID precondition deletes exactly the namespace whose label was read, not one that
		// took its name in between.
		err = c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &got.UID}})
	}
	switch {
	case err == nil, apierrors.IsNotFound(err):
	case apierrors.IsConflict(err):
		// Already terminating (an earlier `down` was interrupted): just wait for it to go.
	case errors.Is(ctx.Err(), context.Canceled):
		return NamespaceAbsent, interrupted(ctx, "deleting namespace "+ns)
	default:
		return NamespaceAbsent, reason.Wrap(reason.Uninstall, err, "Check that your kubeconfig user may delete namespaces, then run `svcgraph down` again.",
			"cannot delete namespace %s", ns)
	}
	// A user whose Role allows only its namespace may delete it but not list or watch namespaces;
	// waiting would retry the forbidden watch until the timeout.
	_, err = c.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", ns).String()})
	if apierrors.IsForbidden(err) {
		return NamespaceDeleting, nil
	}
	if err := c.waitNamespaceGone(ctx, ns, timeout); err != nil {
		return NamespaceAbsent, err
	}
	return NamespaceDeleted, nil
}

func (c *Client) waitNamespaceGone(ctx context.Context, ns string, timeout time.Duration) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
	_, err := watchtools.UntilWithSync(waitCtx, lw, &corev1.Namespace{}, gone,
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return interrupted(ctx, "waiting for namespace "+ns+" to be deleted")
	}
	return reason.Wrap(reason.Uninstall, err,
		"Something keeps the namespace alive (often a finalizer): `kubectl get namespace "+ns+" -o yaml` shows its conditions.",
		"namespace %s was not deleted within %s", ns, timeout)
}
