package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// provisionedByAnnotation is how the PV controller tells which provisioner owns a volume.
const provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"

// Provision is the cluster's stand-in for minikube's hostpath provisioner: for every pending
// claim of the standard class it creates a hostPath PersistentVolume (under the state
// directory) already claimed by it, which the controller-manager's PV controller then binds;
// released volumes of its own it deletes. It runs until ctx ends.
func Provision(ctx context.Context, l Layout, log io.Writer) error {
	cfg, err := RESTConfig(l.AdminKubeconfig())
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	p := &provisioner{cs: cs, dir: l.VolumesDir(), log: log}
	// The resync retries claims whose volume could not be created on the first event.
	factory := informers.NewSharedInformerFactory(cs, 30*time.Second)
	_, err = factory.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.claim(ctx, obj) },
		UpdateFunc: func(_, obj any) { p.claim(ctx, obj) },
	})
	if err != nil {
		return err
	}
	_, err = factory.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.volume(ctx, obj) },
		UpdateFunc: func(_, obj any) { p.volume(ctx, obj) },
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	fmt.Fprintf(log, "provisioner: watching claims of StorageClass %s\n", StorageClassName)
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

type provisioner struct {
	cs  kubernetes.Interface
	dir string
	log io.Writer
}

func (p *provisioner) claim(ctx context.Context, obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil ||
		pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClassName {
		return
	}
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		fmt.Fprintf(p.log, "provisioner: %s/%s: %v\n", pvc.Namespace, pvc.Name, err)
		return
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{provisionedByAnnotation: ProvisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClassName,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &hostPathType}},
		},
	}
	_, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case err == nil:
		fmt.Fprintf(p.log, "provisioner: created %s for %s/%s\n", name, pvc.Namespace, pvc.Name)
	case !apierrors.IsAlreadyExists(err):
		fmt.Fprintf(p.log, "provisioner: create %s for %s/%s: %v\n", name, pvc.Namespace, pvc.Name, err)
	}
}

func (p *provisioner) volume(ctx context.Context, obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[provisionedByAnnotation] != ProvisionerName || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return
	}
	if err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		fmt.Fprintf(p.log, "provisioner: delete released %s: %v\n", pv.Name, err)
		return
	}
	if pv.Spec.HostPath != nil && filepath.Dir(pv.Spec.HostPath.Path) == p.dir {
		_ = os.RemoveAll(pv.Spec.HostPath.Path)
	}
	fmt.Fprintf(p.log, "provisioner: deleted released %s\n", pv.Name)
}
