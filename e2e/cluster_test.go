package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Cluster-side checks, through client-go and Helm's release storage.

func (w *world) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespaceExists says whether the world's namespace is in the API server (terminating or not).
func (w *world) namespaceExists(t *testing.T) bool {
	t.Helper()
	_, err := w.cluster.Client.CoreV1().Namespaces().Get(w.ctx(t), w.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("get namespace %s: %v", w.Namespace, err)
	}
	return true
}

// release reads the latest revision of the world's release from Helm's storage (Secrets in the
// namespace, as the Helm SDK and CLI keep them), or nil when there is none.
func (w *world) release(t *testing.T) *release.Release {
	t.Helper()
	st := storage.Init(driver.NewSecrets(w.cluster.Client.CoreV1().Secrets(w.Namespace)))
	rel, err := st.Last(w.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading release %s in %s: %v", w.Release, w.Namespace, err)
	}
	return rel
}

// helmSecrets lists Helm's storage Secrets of the release in the world's namespace.
func (w *world) helmSecrets(t *testing.T) []string {
	t.Helper()
	sel := labels.Set{"owner": "helm", "name": w.Release}.String()
	list, err := w.cluster.Client.CoreV1().Secrets(w.Namespace).List(w.ctx(t), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("list helm secrets: %v", err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

// clusterScoped lists the ClusterRoles and ClusterRoleBindings Helm created for the release.
func (w *world) clusterScoped(t *testing.T) []string {
	t.Helper()
	var out []string
	mine := func(m metav1.ObjectMeta) bool {
		return m.Annotations["meta.helm.sh/release-name"] == w.Release && m.Annotations["meta.helm.sh/release-namespace"] == w.Namespace
	}
	roles, err := w.cluster.Client.RbacV1().ClusterRoles().List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		if mine(r.ObjectMeta) {
			out = append(out, "ClusterRole/"+r.Name)
		}
	}
	bindings, err := w.cluster.Client.RbacV1().ClusterRoleBindings().List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		if mine(b.ObjectMeta) {
			out = append(out, "ClusterRoleBinding/"+b.Name)
		}
	}
	return out
}

// unchanged asserts that a failed command left no trace in the cluster.
func (w *world) unchanged(t *testing.T) {
	t.Helper()
	if w.namespaceExists(t) {
		t.Errorf("namespace %s exists after a failed up", w.Namespace)
	}
	w.nothingInstalled(t)
}

// podsReady asserts that the namespace has pods and that every pod that serves (not a finished
// Job pod) is Ready; it returns how many there are.
func (w *world) podsReady(t *testing.T) int {
	t.Helper()
	pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serving := 0
	var notReady []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		serving++
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready || p.DeletionTimestamp != nil {
			notReady = append(notReady, fmt.Sprintf("%s (%s)", p.Name, p.Status.Phase))
		}
	}
	if serving == 0 {
		t.Fatalf("no pods in namespace %s", w.Namespace)
	}
	if len(notReady) > 0 {
		t.Errorf("%d of %d pods not ready: %s", len(notReady), serving, strings.Join(notReady, ", "))
	}
	return serving
}
