package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// sizeNodes gives every node of the handed-out cluster the size a node of the new profile
// reports on real minikube, when MINIKUBE_DOUBLE_SIZE_NODES is true (the loopback test cluster's
// shell lines and the e2e harness set it; the double's own tests hand out no real cluster).
//
// minikube's kubelet reserves nothing (no kube-reserved or system-reserved; its kubeadm
// template's evictionHard lists only disk signals, which drops the default memory.available),
// so allocatable equals capacity. Capacity is what the kubelet sees: in a VM (qemu2, hyperkit,
// virtualbox, …) the VM's --cpus and --memory (the guest kernel's own few percent are not
// modelled); in a docker or podman container, what the engine has (docker's NCPU and MemTotal
// as probe read them; for podman the host's), whatever --memory limits the container to
// (kubernetes/minikube#16635).
func sizeNodes(prof *Profile, ds driverState) error {
	if os.Getenv("MINIKUBE_DOUBLE_SIZE_NODES") != "true" {
		return nil
	}
	cpus, memMB := prof.CPUs, prof.Memory
	switch {
	case isKIC(prof.Driver) && ds.cpus > 0:
		cpus, memMB = ds.cpus, ds.memoryMB
	case isKIC(prof.Driver):
		cpus, memMB = hostCPUs(), systemMemoryMB()
	}
	return forEachNode("size the nodes", func(ctx context.Context, cs kubernetes.Interface, n *corev1.Node) error {
		for _, l := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
			l[corev1.ResourceCPU] = *resource.NewQuantity(int64(cpus), resource.DecimalSI)
			l[corev1.ResourceMemory] = *resource.NewQuantity(int64(memMB)<<20, resource.BinarySI)
		}
		_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// forEachNode runs do on every node of the cluster the double hands out (the source
// kubeconfig's), within a bound as a minikube command has one.
func forEachNode(what string, do func(ctx context.Context, cs kubernetes.Interface, n *corev1.Node) error) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("MINIKUBE_DOUBLE_SOURCE_KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("source kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for i := range nodes.Items {
		if err := do(ctx, cs, &nodes.Items[i]); err != nil {
			return fmt.Errorf("%s: node %s: %w", what, nodes.Items[i].Name, err)
		}
	}
	return nil
}

// hostCPUs is the host's CPU count a podman node reports, a setting of the double like the host's memory:
// MINIKUBE_DOUBLE_HOST_CPUS, default 8.
func hostCPUs() int {
	if v, err := strconv.Atoi(os.Getenv("MINIKUBE_DOUBLE_HOST_CPUS")); err == nil && v > 0 {
		return v
	}
	return 8
}
