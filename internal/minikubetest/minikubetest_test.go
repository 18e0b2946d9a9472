package minikubetest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// TestSandboxKeepsMinikubeInside: what real minikube writes (its state, its audit log, its own
// log files in TMPDIR) lands in the sandbox, and nothing in the user's ~/.minikube or the
// machine's temp directory.
func TestSandboxKeepsMinikubeInside(t *testing.T) {
	bins := Binaries(t)
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	_, homeErr := os.Stat(filepath.Join(home, ".minikube"))
	tmpBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "minikube_*"))
	for _, v := range Versions {
		s := NewSandbox(t)
		// Refused at once for lack of a driver, after writing its profile directory and logs.
		if r := s.Run(t, bins[v], "start", "-p", "inside", "--cpus", "2", "--memory", "4096"); r.Code != 55 {
			t.Fatalf("%s: start without a driver: exit %d, want 55\n%s", v, r.Code, r)
		}
		s.SetDocker(t, &Docker{CPUs: 4, MemoryMB: 8192})
		s.Run(t, bins[v], "status", "-p", "inside", "-o", "json")
		for _, want := range []string{
			filepath.Join(s.MinikubeHome, ".minikube", "logs", "audit.json"),
			filepath.Join(s.MinikubeHome, ".minikube", "profiles", "inside"),
		} {
			if _, err := os.Stat(want); err != nil {
				t.Errorf("%s: minikube did not write %s in the sandbox: %v", v, want, err)
			}
		}
		if logs, _ := filepath.Glob(filepath.Join(s.Tmp, "minikube_*.log")); len(logs) == 0 {
			t.Errorf("%s: no minikube log files in the sandbox's TMPDIR %s", v, s.Tmp)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".minikube")); homeErr != nil && err == nil {
		t.Errorf("real minikube created %s", filepath.Join(home, ".minikube"))
	}
	tmpAfter, _ := filepath.Glob(filepath.Join(os.TempDir(), "minikube_*"))
	for _, f := range tmpAfter {
		if !slices.Contains(tmpBefore, f) {
			t.Errorf("real minikube wrote %s outside the sandbox", f)
		}
	}
}
