package steps

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// What real minikube prints (no trailing newline) and the exit codes it uses.
const (
	statusRunning = `{"Name":"svcgraph","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}`
	statusStopped = `{"Name":"svcgraph","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Stopped","Worker":false}`
	statusPaused  = `{"Name":"svcgraph","Host":"Running","Kubelet":"Stopped","APIServer":"Paused","Kubeconfig":"Configured","Worker":false}`
	statusCmd     = "minikube status -p svcgraph -o json"
	listCmd       = "minikube profile list -o json"
	startCmd      = "minikube start -p svcgraph --cpus 4 --memory 8192"
)

func profileList(status string, cpus, mem int, driver string) string {
	return `{"invalid":[],"valid":[{"Name":"svcgraph","Status":"` + status + `","Config":{"CPUs":` + strconv.Itoa(cpus) + `,"Memory":` + strconv.Itoa(mem) +
		`,"Driver":"` + driver + `","KubernetesConfig":{"KubernetesVersion":"v1.34.0"}},"Active":false,"ActiveKubeContext":true}]}`
}

func runMinikubeStep(t *testing.T, x *execx.Recorder, cfg Config) (*Session, error) {
	t.Helper()
	if cfg.Profile == "" {
		cfg.Profile, cfg.CPUs, cfg.MemoryMB = "svcgraph", 4, 8192
	}
	s := &Session{Config: cfg, Exec: x, Minikube: minikube.Driver{Exec: x}}
	return s, StartMinikube{}.Run(context.Background(), s)
}

func calls(x *execx.Recorder) string { return strings.Join(x.CallsSnapshot(), "\n") }

func TestMinikubeAbsentIsCreated(t *testing.T) {
	x := execx.NewRecorder().On(statusCmd, execx.Response{Stdout: "🤷  Profile \"svcgraph\" not found. Run \"minikube profile list\" to view all profiles.", ExitCode: 85})
	s, err := runMinikubeStep(t, x, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if want := statusCmd + "\n" + startCmd; calls(x) != want {
		t.Errorf("ran:\n%s\nwant:\n%s", calls(x), want)
	}
	if s.result != "created profile svcgraph (4 CPUs, 8G)" {
		t.Errorf("result %q", s.result)
	}
}

func TestMinikubeRunningBigEnoughIsReused(t *testing.T) {
	x := execx.NewRecorder().
		On(statusCmd, execx.Response{Stdout: statusRunning}).
		On(listCmd, execx.Response{Stdout: profileList("OK", 6, 16384, "docker")})
	s, err := runMinikubeStep(t, x, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(calls(x), "start") {
		t.Errorf("restarted a running profile:\n%s", calls(x))
	}
	if s.result != "reused running profile svcgraph" {
		t.Errorf("result %q", s.result)
	}
}

func TestMinikubeTooSmallIsRefusedWithAdvice(t *testing.T) {
	for _, st := range []struct{ status, list string }{{statusRunning, "OK"}, {statusStopped, "Stopped"}} {
		x := execx.NewRecorder().
			On(statusCmd, execx.Response{Stdout: st.status, ExitCode: map[string]int{"OK": 0, "Stopped": 7}[st.list]}).
			On(listCmd, execx.Response{Stdout: profileList(st.list, 2, 4096, "docker")})
		_, err := runMinikubeStep(t, x, Config{})
		e := reason.Of(err)
		if e.Kind != reason.MinikubeTooSmall {
			t.Fatalf("%s: kind %s (%v), want MINIKUBE_PROFILE_TOO_SMALL", st.list, e.Kind.ID, err)
		}
		if !strings.Contains(err.Error(), "has 2 CPUs and 4G, less than the 4 CPUs and 8G") || !strings.Contains(e.Advise(), "svcgraph down --purge") {
			t.Errorf("%s: %v / %s", st.list, err, e.Advise())
		}
		if strings.Contains(calls(x), "minikube start") {
			t.Errorf("%s: started a profile that is too small", st.list)
		}
	}
}

func TestMinikubeStoppedIsStarted(t *testing.T) {
	x := execx.NewRecorder().
		On(statusCmd, execx.Response{Stdout: statusStopped, ExitCode: 7}).
		On(listCmd, execx.Response{Stdout: profileList("Stopped", 4, 8192, "docker")})
	s, err := runMinikubeStep(t, x, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(calls(x), startCmd) || s.result != "started stopped profile svcgraph" {
		t.Errorf("ran:\n%s\nresult %q", calls(x), s.result)
	}
}

func TestMinikubePausedIsUnpaused(t *testing.T) {
	x := execx.NewRecorder().
		On(statusCmd, execx.Response{Stdout: statusPaused, ExitCode: 2}).
		On(listCmd, execx.Response{Stdout: profileList("Paused", 4, 8192, "docker")})
	s, err := runMinikubeStep(t, x, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(calls(x), "minikube unpause -p svcgraph") || s.result != "unpaused profile svcgraph" {
		t.Errorf("ran:\n%s\nresult %q", calls(x), s.result)
	}
}

func TestMinikubeDriverMismatchIsCaughtBeforeStart(t *testing.T) {
	x := execx.NewRecorder().
		On(statusCmd, execx.Response{Stdout: statusStopped, ExitCode: 7}).
		On(listCmd, execx.Response{Stdout: profileList("Stopped", 4, 8192, "docker")})
	_, err := runMinikubeStep(t, x, Config{Profile: "svcgraph", CPUs: 4, MemoryMB: 8192, Driver: "qemu"})
	if e := reason.Of(err); e.Kind != reason.MinikubeDriverMis || !strings.Contains(e.Advise(), "--driver docker") {
		t.Errorf("got %s: %v / %s", e.Kind.ID, err, e.Advise())
	}
}

func TestMinikubeStartFailuresMapToAdvice(t *testing.T) {
	cases := []struct {
		code   int
		kind   reason.Kind
		stderr string
	}{
		{23, reason.MinikubeMemory, "❌  Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY: docker only has 1987MiB available, less than the required 1800MiB for Kubernetes"},
		{55, reason.MinikubeDriver, "❌  Exiting due to DRV_NOT_DETECTED: No possible driver was detected."},
		{63, reason.MinikubeDriver, "❌  Exiting due to PROVIDER_DOCKER_NOT_RUNNING: \"docker version --format <no value>-<no value>:<no value>\" exit status 1"},
		{65, reason.MinikubeDriver, "❌  Exiting due to PROVIDER_QEMU_NOT_FOUND: The 'qemu' provider was not found"},
		{81, reason.MinikubeDriverMis, "❌  Exiting due to GUEST_DRIVER_MISMATCH: The existing \"svcgraph\" cluster was created using the \"docker\" driver"},
		{80, reason.MinikubeProvision, "❌  Exiting due to GUEST_START: something else"},
		{1, reason.MinikubeFailed, "panic: runtime error: invalid memory address or nil pointer dereference"},
	}
	for _, c := range cases {
		x := execx.NewRecorder().
			On(statusCmd, execx.Response{ExitCode: 85}).
			On(startCmd, execx.Response{Stderr: "😄  [svcgraph] minikube v1.37.0\n" + c.stderr, ExitCode: c.code})
		_, err := runMinikubeStep(t, x, Config{})
		e := reason.Of(err)
		if e.Kind != c.kind {
			t.Errorf("exit %d: kind %s, want %s", c.code, e.Kind.ID, c.kind.ID)
		}
		// The user can paste the command and sees minikube's own words.
		if !strings.Contains(err.Error(), startCmd) || !strings.Contains(err.Error(), c.stderr) {
			t.Errorf("exit %d: error lacks the command or minikube's output:\n%v", c.code, err)
		}
		if e.Advise() == "" {
			t.Errorf("exit %d: no advice", c.code)
		}
	}
}

// A start that failed after saving the profile leaves one whose machine minikube cannot read:
// v1.37 prints null and exits 0, v1.38 exits 7. up must start it, not take it for running.
func TestMinikubeUnreadableProfileIsStarted(t *testing.T) {
	for _, code := range []int{0, 7} {
		x := execx.NewRecorder().
			On(statusCmd, execx.Response{Stdout: "null", ExitCode: code}).
			On(listCmd, execx.Response{Stdout: profileList("", 4, 8192, "docker")})
		s, err := runMinikubeStep(t, x, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(calls(x), startCmd) || s.result != "started unreadable profile svcgraph" {
			t.Errorf("status exit %d: ran:\n%s\nresult %q", code, calls(x), s.result)
		}
		// When that start fails too, the advice names the way out.
		x.On(startCmd, execx.Response{Stderr: "X Exiting due to DRV_AS_ROOT: The \"docker\" driver should not be used with root privileges.", ExitCode: 57})
		_, err = runMinikubeStep(t, x, Config{})
		if e := reason.Of(err); e.Kind != reason.MinikubePerm || !strings.Contains(e.Advise(), "svcgraph down --purge --profile svcgraph") {
			t.Errorf("status exit %d: got %s: %v / %s", code, e.Kind.ID, err, e.Advise())
		}
	}
}
