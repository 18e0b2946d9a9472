//go:build !linux

package steps

// ReadHostMemoryMB: on macOS and Windows the limit that matters is Docker Desktop's or the VM's,
// which minikube itself checks (exit code 23), so svcgraph does not guess.
func ReadHostMemoryMB() (int, bool) { return 0, false }
