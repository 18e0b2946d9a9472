package minikube

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Minimums minikube itself enforces for a usable cluster.
const (
	MinCPUs     = 2
	MinMemoryMB = 1800
)

// MaxMemoryMB is the largest --memory svcgraph accepts (2 PiB, more than any host has). minikube
// turns bigger values into a negative or wrapped-around int64 of bytes; svcgraph refuses them.
const MaxMemoryMB = math.MaxInt32

// sizeRE is the grammar minikube accepts for --memory (docker/go-units RAMInBytes): a number, an
// optional unit letter, an optional "i" and an optional "b"; binary multiples, so 1G is 1024 MB.
var sizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// digitsRE is a bare whole number: megabytes, however many digits it has.
var digitsRE = regexp.MustCompile(`^\d+$`)

// ParseMemory turns a size as minikube's --memory takes it into megabytes: a bare number is MB,
// otherwise 8G, 8g, 8GB, 8GiB or 8192mb, with 1G = 1024 MB. Sizes above MaxMemoryMB are refused.
func ParseMemory(s string) (int, error) {
	in := strings.TrimSpace(s)
	// minikube asks strconv.ParseInt, so a number too long for an int64 would fall through to
	// go-units and be read as bytes; any run of digits is megabytes here, and too big is refused.
	if digitsRE.MatchString(in) {
		in += "mb"
	}
	m := sizeRE.FindStringSubmatch(in)
	if m == nil {
		return 0, fmt.Errorf("invalid memory size %q: use a number of megabytes or a unit, e.g. 8192, 8192mb, 8G or 8gb", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil && !isRangeError(err) {
		return 0, fmt.Errorf("invalid memory size %q: %v", s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[strings.ToLower(m[2])]
	if m[2] == "" && !strings.HasSuffix(strings.ToLower(in), "b") {
		// A unit-less value with a decimal point: go-units reads it as bytes.
		shift = 0
	}
	mb := math.Floor(n * math.Exp2(float64(shift)) / (1 << 20))
	if err != nil || mb > MaxMemoryMB {
		return 0, fmt.Errorf("memory size %q is too large: svcgraph takes at most %s", s, FormatMemory(MaxMemoryMB))
	}
	return int(mb), nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
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
