package kube

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// holdFinalizer keeps a deleted test namespace terminating until the test lets it go, so that
// a DeleteNamespace that waited for it would run into its timeout.
const holdFinalizer = "svcgraph.test/hold"

// A user whose Role, inside the namespace, allows no reading of the namespace object cannot tell
// whether svcgraph created it: the namespace is left, and said to be left unread.
func TestDeleteNamespaceTheUserMayNotRead(t *testing.T) {
	cl := testcluster.Require(t)
	ctx := testContext(t, time.Minute)
	ns := svcgraphNamespace(t, cl, "kube-hidden", false)
	c := limitedClient(t, cl, ns, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"*"}})

	done, err := c.DeleteNamespace(ctx, ns, time.Minute)
	if err != nil || done != NamespaceHidden {
		t.Fatalf("DeleteNamespace by a user who may not read namespace %s = %v, %v; want it left as hidden (%v)", ns, done, err, NamespaceHidden)
	}
	got, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("namespace %s the user may not read is gone or going: %v, %v", ns, got, err)
	}
}

// A user whose Role allows getting and deleting its namespace but not listing or watching
// namespaces (those are cluster-wide requests) deletes it and returns at once: waiting would
// retry the forbidden watch until the timeout. A finalizer holds the namespace terminating, so
// a DeleteNamespace that waited would fail with its 5-second timeout instead.
func TestDeleteNamespaceTheUserMayNotWatch(t *testing.T) {
	cl := testcluster.Require(t)
	ctx := testContext(t, time.Minute)
	ns := svcgraphNamespace(t, cl, "kube-unwatched", true)
	c := limitedClient(t, cl, ns, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "delete"}})

	done, err := c.DeleteNamespace(ctx, ns, 5*time.Second)
	if err != nil || done != NamespaceDeleting {
		t.Fatalf("DeleteNamespace by a user who may not watch namespaces = %v, %v; want %v without waiting", done, err, NamespaceDeleting)
	}
	got, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("namespace %s is not being deleted: %v, %v", ns, got, err)
	}
}

// svcgraphNamespace creates a namespace labelled as svcgraph's, optionally held by a finalizer,
// and removes it (the finalizer first) when the test ends.
func svcgraphNamespace(t *testing.T, cl *testcluster.Cluster, prefix string, hold bool) string {
	t.Helper()
	ns := prefix + "-" + rand.String(6)
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{ManagedByLabel: ManagedBy}}}
	if hold {
		obj.Finalizers = []string{holdFinalizer}
	}
	if _, err := cl.Client.CoreV1().Namespaces().Create(testContext(t, 10*time.Second), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cs := cl.Client.CoreV1().Namespaces()
		if hold {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if _, err := cs.Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("release namespace %s: %v", ns, err)
			}
		}
		// Conflict: the test deleted it already, and it is still terminating.
		if err := cs.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	return ns
}

// limitedClient is a Client for a ServiceAccount of ns whose only permissions are rule, granted
// by a Role and RoleBinding in ns — as a team on a shared cluster is given.
func limitedClient(t *testing.T, cl *testcluster.Cluster, ns string, rule rbacv1.PolicyRule) *Client {
	t.Helper()
	token := cl.TeamToken(t, ns, rule)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["loopback"] = &clientcmdapi.Cluster{Server: cl.Config.Host, CertificateAuthority: cl.Config.CAFile,
		CertificateAuthorityData: cl.Config.CAData, InsecureSkipTLSVerify: cl.Config.Insecure}
	kc.AuthInfos["team"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["team"] = &clientcmdapi.Context{Cluster: "loopback", AuthInfo: "team", Namespace: ns}
	kc.CurrentContext = "team"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Kubeconfig: path, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
