package kube

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// NamespaceState is what the release's namespace is before an install.
type NamespaceState struct {
	Exists      bool
	Ours        bool // svcgraph created it for this release (down deletes it)
	Terminating bool // being deleted (an interrupted down, or someone else's)
	// Foreign names the objects in it that are not the release's, "ConfigMap/settings", sorted;
	// down would delete them with the namespace, and the release's names may clash with them.
	Foreign []string
}

// The kinds of object users keep in a namespace, looked at for ones that are not the release's.
// Derived objects (pods of a ReplicaSet, endpoints, events) are left out: their owners count.
var userKinds = []struct {
	kind string
	gvr  schema.GroupVersionResource
}{
	{"ConfigMap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
	{"Secret", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}},
	{"Service", schema.GroupVersionResource{Version: "v1", Resource: "services"}},
	{"ServiceAccount", schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}},
	{"Pod", schema.GroupVersionResource{Version: "v1", Resource: "pods"}},
	{"PersistentVolumeClaim", schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}},
	{"Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
	{"StatefulSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
	{"DaemonSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}},
	{"ReplicaSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}},
	{"Job", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}},
	{"CronJob", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}},
	{"Ingress", schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}},
}

// namespaceReadTimeout bounds the namespace's reads.
const namespaceReadTimeout = 30 * time.Second

// Namespace reads the release's namespace: whether it exists, whether svcgraph created it for
// the release, and which objects in it are not the release's. The release's own are those Helm
// marks with its name and namespace, its release records, and Helm hooks; what Kubernetes puts
// in every namespace (the default ServiceAccount, kube-root-ca.crt, token Secrets) is nobody's.
// Lists the user may not make are skipped: the access check names those permissions.
func (c *Client) Namespace(ctx context.Context, ns, release string) (NamespaceState, error) {
	ctx, cancel := context.WithTimeout(ctx, namespaceReadTimeout)
	defer cancel()
	var st NamespaceState
	got, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return st, nil
	case apierrors.IsForbidden(err):
		// The access check names `get namespaces`; whether it exists cannot be known.
		return st, nil
	case err != nil:
		return st, c.requestErr(ctx, err, "read", "namespace "+ns)
	}
	st.Exists = true
	st.Ours = got.Labels[ManagedByLabel] == ManagedBy
	st.Terminating = got.DeletionTimestamp != nil

	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	for _, k := range userKinds {
		wg.Go(func() {
			list, err := c.meta.Resource(k.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			mu.Lock()
			defer mu.Unlock()
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				return // not allowed (the access check says so), or an API this cluster lacks
			}
			if err != nil {
				if first == nil {
					first = c.requestErr(ctx, err, "read", k.gvr.Resource+" in namespace "+ns)
				}
				return
			}
			for _, o := range list.Items {
				if !releases(k.kind, &o.ObjectMeta, ns, release) {
					st.Foreign = append(st.Foreign, k.kind+"/"+o.Name)
				}
			}
		})
	}
	wg.Wait()
	sort.Strings(st.Foreign)
	return st, first
}

// releases says whether the object in namespace ns belongs to the release, or to nobody.
func releases(kind string, m *metav1.ObjectMeta, ns, release string) bool {
	switch {
	case len(m.OwnerReferences) > 0: // derived: its owner is listed in its own right
		return true
	case m.Annotations["meta.helm.sh/release-name"] == release && m.Annotations["meta.helm.sh/release-namespace"] == ns:
		return true
	case m.Annotations["helm.sh/hook"] != "": // hooks carry no release marks
		return true
	case kind == "Secret" && m.Labels["owner"] == "helm" && m.Labels["name"] == release: // Helm's release records
		return true
	case kind == "Secret" && m.Annotations["kubernetes.io/service-account.name"] != "": // a ServiceAccount's token
		return true
	case kind == "ServiceAccount" && m.Name == "default", kind == "ConfigMap" && m.Name == "kube-root-ca.crt":
		return true
	}
	return false
}

// StorageClasses lists the cluster's StorageClasses and names its default ("" when there is
// none; with several marked default, Kubernetes takes the newest, and so does this).
func (c *Client) StorageClasses(ctx context.Context) (names []string, def string, err error) {
	ctx, cancel := context.WithTimeout(ctx, namespaceReadTimeout)
	defer cancel()
	list, err := c.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, "", c.requestErr(ctx, err, "read", "the StorageClasses")
	}
	var newest metav1.Time
	for _, sc := range list.Items {
		names = append(names, sc.Name)
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" && (def == "" || newest.Before(&sc.CreationTimestamp)) {
			def, newest = sc.Name, sc.CreationTimestamp
		}
	}
	sort.Strings(names)
	return names, def, nil
}

// String is the namespace for the fit step's summary.
func (st NamespaceState) String() string {
	switch {
	case !st.Exists:
		return "new"
	case st.Ours && len(st.Foreign) == 0:
		return "svcgraph's"
	case len(st.Foreign) == 0:
		return "exists, holds nothing else"
	}
	return fmt.Sprintf("holds %d other object(s)", len(st.Foreign))
}
