//go:build linux

package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// kwokNodeAnnotation marks the nodes kwok manages (it ignores all others).
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// kwokStages are the stage files (from the kwok module's kustomize/stage) that make the fake
// node Ready and keep its lease fresh, and complete and delete pods without delays. Pods become
// Ready through our own stage instead (ownStages), which knows the fault label.
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

func writeKwokConfig(l Layout, kwokDir string) error {
	var docs []string
	for _, s := range kwokStages {
		raw, err := os.ReadFile(filepath.Join(kwokDir, "kustomize", "stage", s))
		if err != nil {
			return fmt.Errorf("kwok stage file: %w", err)
		}
		docs = append(docs, strings.TrimSpace(string(raw)))
	}
	docs = append(docs, strings.TrimSpace(ownStages))
	return os.WriteFile(l.KwokConfig(), []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644)
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

type waitFunc func(ctx context.Context, what string, timeout time.Duration, cond func(context.Context) (bool, error)) error

// kwokCRDs are the kwok CRDs the harness enables (kwok's --enable-crds names their kinds): tests
// give pods port-forward backends and log files through them.
var kwokCRDs = []struct{ Kind, Resource string }{
	{"ClusterPortForward", "clusterportforwards"},
	{"PortForward", "portforwards"},
	{"ClusterLogs", "clusterlogs"},
	{"Logs", "logs"},
}

// kwokEnableCRDs is the value of kwok's --enable-crds flag.
func kwokEnableCRDs() string {
	var kinds []string
	for _, c := range kwokCRDs {
		kinds = append(kinds, c.Kind)
	}
	return strings.Join(kinds, ",")
}

// installKwokCRDs creates the kwokCRDs from the kwok module and waits until they are served.
func installKwokCRDs(ctx context.Context, dyn dynamic.Interface, kwokDir string, wait waitFunc) error {
	for _, crd := range kwokCRDs {
		kind := crd.Resource
		raw, err := os.ReadFile(filepath.Join(kwokDir, "kustomize", "crd", "bases", "kwok.x-k8s.io_"+kind+".yaml"))
		if err != nil {
			return fmt.Errorf("kwok CRD: %w", err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			return fmt.Errorf("kwok CRD %s: %w", kind, err)
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", obj.GetName(), err)
		}
		name := obj.GetName()
		if err := wait(ctx, "CRD "+name+" to be established", 30*time.Second, func(ctx context.Context) (bool, error) {
			got, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// createNodes registers the fake nodes with their sizes before kwok starts (kwok's
// node-initialize stage keeps a capacity, address and architecture it finds, and would invent a
// huge capacity otherwise). Allocatable equals capacity, as on a minikube node.
func createNodes(ctx context.Context, cs kubernetes.Interface, nodes []Node) error {
	for i, n := range nodes {
		if err := createNode(ctx, cs, n, i == 0); err != nil {
			return err
		}
	}
	return nil
}

func createNode(ctx context.Context, cs kubernetes.Interface, n Node, primary bool) error {
	size := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(n.CPUs),
		corev1.ResourceMemory:           resource.MustParse(n.Memory),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	status := corev1.NodeStatus{
		Capacity: size, Allocatable: size,
		// Set here because kwok's template would give every node its own --node-name.
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: n.Name}},
		NodeInfo:  corev1.NodeSystemInfo{Architecture: n.Arch, OperatingSystem: "linux"},
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      n.labels(primary),
			Annotations: map[string]string{kwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: status,
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", n.Name, err)
	}
	if len(created.Status.Capacity) == 0 { // in case the API server dropped status on create
		created.Status = status
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("set node %s capacity: %w", n.Name, err)
		}
	}
	return nil
}

func createStorageClass(ctx context.Context, cs kubernetes.Interface) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClassName, err)
	}
	return nil
}

func applyForwards(ctx context.Context, l Layout, o Options) error {
	cfg, err := RESTConfig(l.AdminKubeconfig())
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return applyForwardsWith(ctx, dyn, o)
}

// applyForwardsWith makes the cluster-wide ClusterPortForward match the options: created or
// replaced when there are rules, deleted when there are none.
func applyForwardsWith(ctx context.Context, dyn dynamic.Interface, o Options) error {
	res := dyn.Resource(ClusterPortForwardGVR)
	if o.ForwardTo == nil && len(o.Forwards) == 0 {
		if err := res.Delete(ctx, ClusterPortForwardName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ClusterPortForward: %w", err)
		}
		return nil
	}
	want := clusterPortForwardObject(o.Forwards, o.ForwardTo)
	got, err := res.Get(ctx, ClusterPortForwardName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = res.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		want.SetResourceVersion(got.GetResourceVersion())
		_, err = res.Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("apply ClusterPortForward: %w", err)
	}
	return nil
}

// nodesReady says whether every node reports Ready.
func nodesReady(ctx context.Context, cs kubernetes.Interface, nodes []Node) (bool, error) {
	for _, want := range nodes {
		n, err := cs.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil || !isReady(n) {
			return false, nil
		}
	}
	return true, nil
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func serviceAccountExists(ctx context.Context, cs kubernetes.Interface, ns, name string) (bool, error) {
	_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	return err == nil, nil
}
