package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kwok's logs API (kwok.x-k8s.io/v1alpha1): a namespaced Logs named after a pod says which local
// file kwok's kubelet serves as each container's log; ClusterLogs does it by selector.
var (
	LogsGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
	ClusterLogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
)

// LogsObject is a namespaced kwok Logs for one pod with no container entries yet.
func LogsObject(namespace, pod string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Logs",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec":       map[string]any{"logs": []any{}},
	}}
}

// SetContainerLog makes a Logs object serve file (in the CRI log format, see CRILog) as the
// container's current and previous log, replacing an earlier entry for that container. An empty
// container is the entry for every container no other entry names.
func SetContainerLog(obj *unstructured.Unstructured, container, file string) error {
	entries, _, err := unstructured.NestedSlice(obj.Object, "spec", "logs")
	if err != nil {
		return fmt.Errorf("kwok Logs %s: %w", obj.GetName(), err)
	}
	entry := map[string]any{"logsFile": file, "previousLogsFile": file}
	if container != "" {
		entry["containers"] = []any{container}
	}
	var out []any
	for _, e := range entries {
		if !sameContainers(e, container) {
			out = append(out, e)
		}
	}
	return unstructured.SetNestedSlice(obj.Object, append(out, entry), "spec", "logs")
}

func sameContainers(entry any, container string) bool {
	m, _ := entry.(map[string]any)
	names, _ := m["containers"].([]any)
	if container == "" {
		return len(names) == 0
	}
	return len(names) == 1 && names[0] == container
}

// CRILog turns plain lines into the CRI container log format kwok reads (the one a kubelet
// reads from /var/log/pods): "TIMESTAMP stdout F LINE", one line each, all stamped at.
func CRILog(plain []byte, at time.Time) []byte {
	var b bytes.Buffer
	ts := at.UTC().Format(time.RFC3339Nano)
	sc := bufio.NewScanner(bytes.NewReader(plain))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fmt.Fprintf(&b, "%s stdout F %s\n", ts, strings.TrimSuffix(sc.Text(), "\r"))
	}
	return b.Bytes()
}
