package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util"
)

// target is where a forward goes: one pod and the container port behind the service port.
type target struct {
	pod  string
	port int32
}

// resolveService picks the pod and container port a connection to the service port would reach,
// as `kubectl port-forward svc/NAME PORT` does: the service's selector gives the pods, one ready
// pod is chosen (another than avoid, if there is one), and the service port's targetPort (a
// number, a container port name, or omitted) becomes the container port.
func (c *Client) resolveService(ctx context.Context, ns, name string, port int32, avoid string) (target, error) {
	svc, err := c.cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return target{}, err
	}
	if !hasServicePort(svc, port) {
		return target{}, fmt.Errorf("service %s has no port %d (it has %s)", name, port, servicePorts(svc))
	}
	if len(svc.Spec.Selector) == 0 {
		return target{}, fmt.Errorf("service %s has no pod selector, so there is no pod to forward to", name)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return target{}, err
	}
	pod := pickPod(pods.Items, avoid)
	if pod == nil {
		return target{}, fmt.Errorf("no ready pod behind service %s (selector %s, %d pods)", name, sel, len(pods.Items))
	}
	cport, err := util.LookupContainerPortNumberByServicePort(*svc, *pod, port)
	if err != nil {
		return target{}, err
	}
	return target{pod: pod.Name, port: cport}, nil
}

func hasServicePort(svc *corev1.Service, port int32) bool {
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func servicePorts(svc *corev1.Service) string {
	var ps []string
	for _, p := range svc.Spec.Ports {
		ps = append(ps, fmt.Sprint(p.Port))
	}
	if len(ps) == 0 {
		return "no ports"
	}
	return "ports " + strings.Join(ps, ", ")
}

// pickPod chooses among the ready, running pods that are not being deleted the newest one: after a
// rollout or a replacement that is the pod meant to serve. The pod to avoid (the one a forward
// just failed on) comes last, whatever its age.
func pickPod(pods []corev1.Pod, avoid string) *corev1.Pod {
	var ready []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodRunning && podReady(p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	sort.Slice(ready, func(i, j int) bool {
		if ai, aj := ready[i].Name == avoid, ready[j].Name == avoid; ai != aj {
			return aj
		}
		ti, tj := ready[i].CreationTimestamp, ready[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return ready[i].Name < ready[j].Name
	})
	return ready[0]
}
