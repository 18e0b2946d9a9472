package minikube

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Minimums minikube itself enforces for a usable cluster.
const (
	MinCPUs     = 2
	MinMemoryMB = 1800
)

// sizeRE is the grammar minikube accepts for --memory (docker/go-units RAMInBytes): a number, an
// optional unit letter, an optional "i" and an optional "b"; binary multiples, so 1G is 1024 MB.
var sizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// ParseMemory turns a size as minikube's --memory takes it into megabytes: a bare number is MB,
// otherwise 8G, 8g, 8GB, 8GiB or 8192mb, with 1G = 1024 MB.
func ParseMemory(s string) (int, error) {
	in := strings.TrimSpace(s)
	if _, err := strconv.ParseInt(in, 10, 64); err == nil {
		in += "mb"
	}
	m := sizeRE.FindStringSubmatch(in)
	if m == nil {
		return 0, fmt.Errorf("invalid memory size %q: use a number of megabytes or a unit, e.g. 8192, 8192mb, 8G or 8gb", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid memory size %q: %v", s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[strings.ToLower(m[2])]
	if m[2] == "" && !strings.HasSuffix(strings.ToLower(in), "b") {
		// A unit-less value with a decimal point: go-units reads it as bytes.
		shift = 0
	}
	bytes := n * float64(uint64(1)<<shift)
	return int(bytes / (1 << 20)), nil
}

// FormatMemory prints megabytes the way a user types them (8G, 1900mb); ParseMemory and
// minikube read it back to the same number.
func FormatMemory(mb int) string {
	if mb%1024 == 0 {
		return fmt.Sprintf("%dG", mb/1024)
	}
	return fmt.Sprintf("%dmb", mb)
}

// SystemPodsMilliCPU and SystemPodsMemory are what a fresh minikube node's own pods request
// (kube-system: etcd 100m/100Mi, kube-apiserver 250m, kube-controller-manager 200m,
// kube-scheduler 100m, coredns 100m/70Mi; kube-proxy and the storage provisioner request
// nothing), for checking a release against a profile that does not exist yet.
const (
	SystemPodsMilliCPU = 750
	SystemPodsMemory   = 170 << 20
)

// NodeMemoryBytes is the memory a node of a profile of that many MB can give pods. minikube's
// kubelet reserves nothing (no kube-reserved or system-reserved, and its evictionHard lists no
// memory.available), so allocatable is the node's whole memory; with the docker and podman
// drivers the node even reports the host's memory, so the profile's size is the real bound.
func NodeMemoryBytes(mb int) int64 { return int64(mb) << 20 }
