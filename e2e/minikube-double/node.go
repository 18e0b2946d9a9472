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
// modelled); in a docker or podman container, the host's CPUs and memory, whatever --memory
// limits the container to (kubernetes/minikube#16635).
func sizeNodes(prof *Profile) error {
	if os.Getenv("MINIKUBE_DOUBLE_SIZE_NODES") != "true" {
		return nil
	}
	cpus, memMB := prof.CPUs, prof.Memory
	if isKIC(prof.Driver) {
		cpus, memMB = hostCPUs(), systemMemoryMB()
	}
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
		return fmt.Errorf("size the nodes: %w", err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		for _, l := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
			l[corev1.ResourceCPU] = *resource.NewQuantity(int64(cpus), resource.DecimalSI)
			l[corev1.ResourceMemory] = *resource.NewQuantity(int64(memMB)<<20, resource.BinarySI)
		}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("size node %s: %w", n.Name, err)
		}
	}
	return nil
}

// hostCPUs is the CPU count docker reports, a setting of the double like the host's memory:
// MINIKUBE_DOUBLE_HOST_CPUS, default 8.
func hostCPUs() int {
	if v, err := strconv.Atoi(os.Getenv("MINIKUBE_DOUBLE_HOST_CPUS")); err == nil && v > 0 {
		return v
	}
	return 8
}
