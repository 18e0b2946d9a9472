package steps

import "runtime"

// Host probes: what preflight compares --cpus and --memory with (ReadHostMemoryMB is per OS).

// CountHostCPUs counts the CPUs this process may run on, as Docker counts them for the NCPU that
// minikube's docker driver checks; its VM drivers count all of the host's, which is never fewer.
// It is preflight's default Session.HostCPUs.
func CountHostCPUs() (int, bool) { return runtime.NumCPU(), true }
