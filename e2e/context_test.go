package e2e

// svcgraph on a cluster it did not create (--context): the loopback cluster stands in for kind,
// k3d, Docker Desktop or a cloud cluster, and minikube is off PATH.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/graph"
	"github.com/svcgraph/svcgraph/internal/promtest"
	"github.com/svcgraph/svcgraph/internal/testcluster"
)

// useContext gives the world a kubeconfig whose only context, name, reaches the world's cluster
// as user (the harness's admin when nil), not made current: svcgraph must use the one it is
// told. Every command of the world then passes --context name.
func (w *world) useContext(t *testing.T, name string, user *clientcmdapi.AuthInfo) {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(w.cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := admin.Contexts[admin.CurrentContext]
	if user == nil {
		user = admin.AuthInfos[cur.AuthInfo]
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = admin.Clusters[cur.Cluster]
	kc.AuthInfos[name] = user
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	if err := clientcmd.WriteToFile(*kc, w.kubeconfig); err != nil {
		t.Fatal(err)
	}
	w.target = []string{"--context", name}
}

// TestExistingContext: up, status and down on a cluster of three nodes without a StorageClass,
// through --context, with no minikube on PATH.
func TestExistingContext(t *testing.T) {
	w := newWorld(t, "context", without("minikube"), onNodes(testcluster.Nodes(3, "4", "4Gi")...))
	w.useContext(t, "kind-lab", nil)
	t.Cleanup(func() { w.teardown(t) })
	// No StorageClass at all: claims asking for the default one would stay Pending for ever.
	if err := w.cluster.Client.StorageV1().StorageClasses().Delete(w.ctx(t), "standard", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	ok := t.Run("up", func(t *testing.T) {
		// Tempo's ingester with persistence on: a claim per pod, which the fit step turns off.
		r := w.run(t, upLimit, w.upArgs("--no-forward", "--set", "tempo-distributed.ingester.persistence.enabled=true")...)
		expect(t, r, 0)
		if l := stepLine(t, r, "Checking prerequisites"); strings.Contains(l, "minikube") {
			t.Errorf("preflight asked for minikube with --context: %q", l)
		}
		if l := stepLine(t, r, "Finding the cluster"); !strings.Contains(l, "context kind-lab: kind, Kubernetes v1.") || !strings.Contains(l, "3 nodes") {
			t.Errorf("cluster step %q, want context kind-lab, kind kind (from the context name), its version and 3 nodes", l)
		}
		if l := stepLine(t, r, "Checking that the cluster fits"); !strings.Contains(l, "no default StorageClass: Tempo keeps its data in emptyDirs") {
			t.Errorf("fit step %q does not say Tempo's data is ephemeral", l)
		}
		if strings.Contains(r.output(), "Starting minikube") {
			t.Errorf("up with --context ran the minikube step:\n%s", r)
		}
		if calls := w.minikubeCalls(t); len(calls) > 0 {
			t.Errorf("minikube was called with --context: %v", calls)
		}
		w.podsReady(t)
		claims, err := w.cluster.Client.CoreV1().PersistentVolumeClaims(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range claims.Items {
			t.Errorf("claim %s (%s) made on a cluster without a StorageClass", c.Name, c.Status.Phase)
		}
		pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nodes := map[string]int{}
		for _, p := range pods.Items {
			nodes[p.Spec.NodeName]++
		}
		if len(nodes) < 2 {
			t.Errorf("pods on %d node(s) %v, want them spread over the three", len(nodes), nodes)
		}
		t.Logf("pods per node: %v", nodes)
	})
	if !ok {
		t.Fatal("up failed; the later cases need its install")
	}

	t.Run("status names the cluster kind and context", func(t *testing.T) {
		r := w.run(t, time.Minute, append([]string{"status"}, w.names()...)...)
		expect(t, r, 0)
		mustContain(t, r, "cluster: kind (context kind-lab, https://127.0.0.1:", "Kubernetes v1.", ": reachable", "release "+w.Release+" in "+w.Namespace+": deployed")
	})

	t.Run("forward, graph and doctor with the pods on three nodes", func(t *testing.T) {
		w.forwardGraphDoctor(t)
	})

	t.Run("down by a user limited to the namespace", func(t *testing.T) {
		w.useContext(t, "team", &clientcmdapi.AuthInfo{Token: w.namespaceAdminToken(t, w.Namespace)})
		defer w.useContext(t, "kind-lab", nil)
		r := w.run(t, 5*time.Minute, append([]string{"down"}, w.names()...)...)
		expect(t, r, 0)
		mustContain(t, r, "may not delete", "ClusterRole/", "svcgraph down --namespace "+w.Namespace+" --release "+w.Release+" --context <the admin's context>",
			"removed what this user may of release "+w.Release, "left namespace "+w.Namespace+": it holds Helm's record of release "+w.Release)
		deployments, err := w.cluster.Client.AppsV1().Deployments(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deployments.Items {
			t.Errorf("Deployment %s, which this user may delete, left by its down", d.Name)
		}
		if objs := w.clusterScoped(t); len(objs) == 0 {
			t.Errorf("no cluster-scoped objects after a down by a user who may not delete them")
		}
		if rel := w.release(t); rel == nil {
			t.Errorf("the release record is gone: the admin's down could not find what is left")
		}
		if !w.namespaceExists(t) {
			t.Errorf("namespace %s, which holds the release's record, was deleted", w.Namespace)
		}
	})

	t.Run("down --purge and --stop are refused", func(t *testing.T) {
		for _, flag := range []string{"--purge", "--stop"} {
			r := w.run(t, time.Minute, append([]string{"down", flag}, w.names()...)...)
			expect(t, r, 46)
			mustContain(t, r, "CLUSTER_NOT_OURS", "svcgraph down --context kind-lab` without "+flag)
			if w.release(t) == nil {
				t.Fatalf("down %s --context removed the release although it was refused", flag)
			}
		}
	})

	t.Run("down by the admin finishes it", func(t *testing.T) {
		r := w.run(t, 5*time.Minute, append([]string{"down"}, w.names()...)...)
		expect(t, r, 0)
		if rel := w.release(t); rel != nil {
			t.Errorf("release still there after down: %s", describe(rel))
		}
		if w.namespaceExists(t) {
			t.Errorf("namespace %s, which up created, is still there after down", w.Namespace)
		}
		if objs := w.clusterScoped(t); len(objs) > 0 {
			t.Errorf("cluster-scoped objects left after down: %v", objs)
		}
		nodes, err := w.cluster.Client.CoreV1().Nodes().List(w.ctx(t), metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 3 {
			t.Errorf("the cluster after down: %v nodes, err %v; want it untouched", len(nodes.Items), err)
		}
	})
}

// TestExistingContextRefusals: the fit step refuses, before anything is created, a namespace
// holding someone else's objects, a StorageClass the cluster lacks and a user who may not create
// what the release needs.
func TestExistingContextRefusals(t *testing.T) {
	t.Run("a namespace holding a foreign ConfigMap", func(t *testing.T) {
		w := newWorld(t, "foreignns", without("minikube"))
		w.useContext(t, "shared", nil)
		ns := w.ownNamespace(t)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "team-settings"}, Data: map[string]string{"owner": "team"}}
		if _, err := w.cluster.Client.CoreV1().ConfigMaps(ns).Create(w.ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := w.run(t, upLimit, w.upArgs("--no-forward")...)
		expect(t, r, 84)
		mustContain(t, r, "NAMESPACE_NOT_OURS", "holds 1 object that is not release "+w.Release+"'s: ConfigMap/team-settings", "nothing was installed", "--namespace NAME")
		w.nothingInstalled(t)
		if _, err := w.cluster.Client.CoreV1().ConfigMaps(ns).Get(w.ctx(t), cm.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("the foreign ConfigMap after the refused up: %v", err)
		}
	})

	t.Run("a StorageClass the cluster lacks", func(t *testing.T) {
		w := newWorld(t, "nosc", without("minikube"))
		w.useContext(t, "shared", nil)
		r := w.run(t, upLimit, w.upArgs("--no-forward", "--storage-class", "gold")...)
		expect(t, r, 82)
		mustContain(t, r, "CLUSTER_STORAGE", "StorageClass gold does not exist (the cluster has: standard)", "nothing was installed")
		w.unchanged(t)
	})

	t.Run("a ServiceAccount limited to one namespace", func(t *testing.T) {
		w := newWorld(t, "limited", without("minikube"))
		ns := w.ownNamespace(t)
		w.useContext(t, "limited", &clientcmdapi.AuthInfo{Token: w.namespaceAdminToken(t, ns)})
		r := w.run(t, upLimit, w.upArgs("--no-forward")...)
		expect(t, r, 81)
		mustContain(t, r, "CLUSTER_FORBIDDEN", "nothing was installed",
			"cannot get namespaces",
			"cannot get, create, patch, delete clusterroles.rbac.authorization.k8s.io",
			"cannot get, create, patch, delete clusterrolebindings.rbac.authorization.k8s.io")
		if strings.Contains(r.output(), "in namespace "+ns) {
			t.Errorf("a permission in namespace %s, where the user may do everything, is listed as missing:\n%s", ns, r)
		}
		w.nothingInstalled(t)

		// down as the same user, with nothing installed: its Role lets it read its namespace,
		// which svcgraph did not create: left.
		r = w.run(t, 5*time.Minute, append([]string{"down"}, w.names()...)...)
		expect(t, r, 0)
		mustContain(t, r, "release "+w.Release+" was not installed", "left namespace "+ns+": svcgraph did not create it")
		if !w.namespaceExists(t) {
			t.Errorf("down by a user limited to namespace %s deleted it", ns)
		}
	})
}

// ownNamespace creates the world's namespace as someone else would (not svcgraph's), and deletes
// it when the test ends: down leaves a namespace svcgraph did not create.
func (w *world) ownNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}
	if _, err := w.cluster.Client.CoreV1().Namespaces().Create(w.ctx(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.cluster.Client.CoreV1().Namespaces().Delete(ctx, w.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", w.Namespace, err)
		}
	})
	return w.Namespace
}

// namespaceAdminToken makes a ServiceAccount that may do everything in ns and nothing elsewhere,
// as a team on a shared cluster has, and returns a token for it.
func (w *world) namespaceAdminToken(t *testing.T, ns string) string {
	t.Helper()
	return w.cluster.TeamToken(t, ns, rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}})
}

// nothingInstalled asserts that a failed or refused up left no release and no cluster-scoped
// objects.
func (w *world) nothingInstalled(t *testing.T) {
	t.Helper()
	if s := w.helmSecrets(t); len(s) > 0 {
		t.Errorf("Helm release storage exists after a failed up: %v", s)
	}
	if objs := w.clusterScoped(t); len(objs) > 0 {
		t.Errorf("cluster-scoped objects of release %s exist after a failed up: %v", w.Release, objs)
	}
}

// forwardGraphDoctor runs forward, graph and doctor on the world's release, whose pods are
// spread over the cluster's nodes: the frontend proxy's pods answer the forward through kwok,
// the Prometheus pod's port goes to a real Prometheus holding one service-graph edge.
func (w *world) forwardGraphDoctor(t *testing.T) {
	t.Helper()
	names, err := chartmod.Options{Release: w.Release, Namespace: w.Namespace}.Names()
	if err != nil {
		t.Fatal(err)
	}
	body := "frontend-proxy stand-in " + rand.String(12)
	backend := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, body) }))
	t.Cleanup(backend.Close)
	forwardProxyPods(t, w, strings.TrimPrefix(backend.URL, "http://"))
	prom := promtest.Start(t, promtest.Options{})
	promtest.MustWrite(t, prom.URL, promtest.Counter(graph.MetricRequests, map[string]string{"client": "frontend", "server": "cart"}, 1, time.Now(), time.Minute))
	promPod := w.waitPrometheusPod(w.ctx(t), names, nil, &err)
	if promPod == "" {
		t.Fatalf("no Prometheus pod: %v", err)
	}
	w.cluster.ForwardPod(t, w.Namespace, promPod, testcluster.Rule{PodPort: 9090, Target: prom.Addr})
	on := map[string]string{}
	pods, err := w.cluster.Client.CoreV1().Pods(w.Namespace).List(w.ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		on[p.Name] = p.Spec.NodeName
	}
	t.Logf("Prometheus pod %s on node %s", promPod, on[promPod])

	ctx, cancel := context.WithTimeout(context.Background(), upLimit)
	defer cancel()
	fwd := w.start(t, ctx, "forward", append([]string{"forward", "--port", strconv.Itoa(w.Port)}, w.names()...)...)
	fwd.await(t, "press Ctrl-C", 2*time.Minute, "forward never said it was forwarding")
	getUntil(t, "http://127.0.0.1:"+strconv.Itoa(w.Port)+"/", body, time.Minute)
	if code, err := fwd.interrupt(t); err != nil || code != 0 {
		t.Errorf("forward after Ctrl-C: %v (exit %d), want exit 0\n%s", err, code, fwd.output())
	}

	// kwok applies the Prometheus route through its own watch: graph asks until it takes effect.
	r := w.runUntil(t, time.Minute, func(r result) bool { return r.code == 0 }, append([]string{"graph"}, w.names()...)...)
	mustContain(t, r, "frontend", "cart")
	r = w.runUntil(t, time.Minute, func(r result) bool { return r.code == 0 }, append([]string{"doctor"}, w.names()...)...)
	mustContain(t, r, "The service graph pipeline is complete.")
}

// runUntil runs svcgraph again until done says its result is the awaited one, for at most
// limit, and returns the last result (the test fails when none was).
func (w *world) runUntil(t *testing.T, limit time.Duration, done func(result) bool, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(limit)
	for runs := 1; ; runs++ {
		r := w.run(t, limit, args...)
		if done(r) {
			t.Logf("svcgraph %s: as awaited after %d run(s)", args[0], runs)
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("svcgraph %s never as awaited within %s; last run:\n%s", args[0], limit, r)
		}
		time.Sleep(500 * time.Millisecond) // polling interval: kwok has no "rule applied" event
	}
}
