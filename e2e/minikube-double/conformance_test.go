package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/minikubetest"
)

// step is one invocation in a scenario, run against the real minikube and the double, each in
// a sandbox of its own with the same fake docker (or none) on PATH.
type step struct {
	args   []string
	docker *minikubetest.Docker // nil: no docker on PATH
	// want is the real minikube's exit code, so a scenario cannot drift into agreeing on
	// something else (a hang, a crash, an earlier refusal); -1 skips the check.
	want int
}

// scenario is a sequence of steps from an empty MINIKUBE_HOME; setup may write files first.
type scenario struct {
	name      string
	doubleEnv []string // settings of the double for the whole scenario
	setup     func(t *testing.T, real, double *minikubetest.Sandbox)
	steps     []step
}

const profile = "svcgraph"

func args(s string) []string { return strings.Fields(s) }

// TestConformsToRealMinikube runs every minikube invocation svcgraph makes (version, status,
// profile list, start, stop, delete, unpause, image ls, image load) in every state that needs
// no running driver — no profile; what a refused start leaves (an "invalid" profile directory); what a start leaves
// that failed creating the machine (a profile without a machine); a profile whose config does
// not parse; no driver, a stopped Docker, a Docker too small; root — against the real
// minikube v1.37.0 and v1.38.1 and the double imitating each. Exit codes, minikube's reason
// (ID, message, suggestion) and the JSON must match: cloud-event ids are normalised, and
// `profile list` is compared on the fields the double writes (the real Config has dozens more).
func TestConformsToRealMinikube(t *testing.T) {
	reals := minikubetest.Binaries(t)
	host := hostMemoryMB(t)
	root := os.Geteuid() == 0
	healthy := &minikubetest.Docker{CPUs: 4, MemoryMB: 8192}
	stopped := &minikubetest.Docker{CPUs: 4, MemoryMB: 8192, Stopped: true}
	asRoot := func(rootCode, userCode int) int {
		if root {
			return rootCode
		}
		return userCode
	}
	start := "start -p " + profile + " --cpus 2 --memory 4096"
	// What up --offline runs (internal/minikube/images.go): the node's image list, and a load of
	// an archive svcgraph wrote for this machine's platform.
	imageLs := "image ls --format json -p " + profile
	imageLoad := "image load -p " + profile + " " + loadArchive(t)
	scenarios := []scenario{
		{name: "no driver", steps: []step{
			{args: args("version -o json")},
			{args: args("status -p svcgraph -o json"), want: 85},
			{args: args("profile list -o json")},
			{args: args("stop -p svcgraph"), want: 85},
			{args: args("unpause -p svcgraph"), want: 85},
			{args: args("delete -p svcgraph")},
			{args: args(imageLs), want: 14},
			{args: args(imageLoad), want: 14},
			{args: args(start), want: 55},
			// A refused start leaves the profile's directory: listed invalid, otherwise unknown.
			{args: args("profile list -o json")},
			{args: args("status -p svcgraph -o json"), want: 85},
			{args: args("stop -p svcgraph"), want: 85},
			{args: args("unpause -p svcgraph"), want: 85},
			{args: args(imageLs), want: 14},
			{args: args(imageLoad), want: 14},
			{args: args(start + " --driver docker"), want: 65},
			{args: args(start + " --driver none"), want: 65},
			{args: args(start + " --driver qemu2"), want: 65},
			{args: args(start + " --driver qemu"), want: 65},
			{args: args(start + " --driver kvm2"), want: 65},
			{args: args(start + " --driver podman"), want: 65},
			{args: args(start + " --driver virtualbox"), want: 65},
			{args: args(start + " --driver hyperkit"), want: 56},
			{args: args(start + " --driver ssh"), want: 14},
			{args: args("delete -p svcgraph")},
			{args: args("profile list -o json")},
		}},
		{name: "docker not running", steps: []step{
			{args: args(start), docker: stopped, want: 55},
			{args: args(start + " --driver docker"), docker: stopped, want: 63},
			{args: args("profile list -o json"), docker: stopped},
		}},
		{name: "docker too small", steps: []step{
			{args: args("start -p svcgraph --cpus 4 --memory 4096"), docker: &minikubetest.Docker{CPUs: 2, MemoryMB: 8192}, want: 29},
			{args: args(start), docker: &minikubetest.Docker{CPUs: 1, MemoryMB: 8192}, want: 29},
			{args: args(start + " --driver docker"), docker: &minikubetest.Docker{CPUs: 1, MemoryMB: 8192}, want: 29},
			{args: args("start -p svcgraph --cpus 1 --memory 4096"), docker: healthy, want: 29},
			{args: args(start), docker: &minikubetest.Docker{CPUs: 4, MemoryMB: 1024}, want: 23},
			{args: args("start -p svcgraph --cpus 2 --memory 1024"), docker: healthy, want: 23},
			{args: args("start -p svcgraph --cpus 2 --memory " + strconv.Itoa(host+1000)), docker: healthy, want: 10},
			// Past the CPU and memory checks: root is refused; a user meets the engine's memory.
			{args: args("start -p svcgraph --cpus 2 --memory 6144"), docker: &minikubetest.Docker{CPUs: 4, MemoryMB: 4096}, want: asRoot(57, 14)},
			{args: args("profile list -o json"), docker: healthy},
		}},
		{name: "profile left by a failed start", doubleEnv: []string{"MINIKUBE_DOUBLE_FAIL=80"}, steps: []step{
			// --force gets past the root check; the fake docker cannot create the container.
			{args: args(start + " --force"), docker: healthy, want: 80},
			{args: args("status -p svcgraph -o json"), docker: healthy, want: -1}, // v1.37: 0, v1.38: 7
			{args: args("status -p svcgraph"), docker: healthy, want: -1},
			{args: args("profile list -o json"), docker: healthy},
			{args: args("unpause -p svcgraph"), docker: healthy, want: 80},
			// No running machine: nothing listed ("[]"), nothing loaded, and exit 0 all the same.
			{args: args(imageLs), docker: healthy},
			{args: args(imageLoad), docker: healthy},
			{args: args(imageLs), docker: stopped},
			{args: args(imageLoad), docker: stopped},
			{args: args(imageLs)},
			{args: args(imageLoad)},
			{args: args(start), docker: healthy, want: asRoot(57, 80)},
			{args: args(start + " --driver qemu2"), docker: healthy, want: 81},
			{args: args("status -p svcgraph -o json"), docker: stopped, want: -1},
			{args: args(start), docker: stopped, want: 63},
			{args: args("status -p svcgraph -o json"), want: -1},
			{args: args(start), want: 65},
			{args: args("stop -p svcgraph"), want: 82},
			{args: args("delete -p svcgraph")},
			{args: args("status -p svcgraph -o json"), want: 85},
			{args: args("profile list -o json")},
		}},
		{name: "profile config unreadable", setup: unreadableConfig, steps: []step{
			{args: args("status -p svcgraph -o json"), want: 38},
			{args: args("profile list -o json")},
			{args: args(start), want: 38},
			{args: args("stop -p svcgraph"), want: 38},
			{args: args("unpause -p svcgraph"), want: 38},
			{args: args(imageLs), want: 14},
			{args: args(imageLoad), want: 14},
			{args: args("delete -p svcgraph")},
			{args: args("profile list -o json")},
		}},
	}
	for _, v := range minikubetest.Versions {
		for _, sc := range scenarios {
			t.Run(v+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				real, double := minikubetest.NewSandbox(t), minikubetest.NewSandbox(t)
				double.Setenv(append([]string{"MINIKUBE_DOUBLE_VERSION=" + v, "MINIKUBE_DOUBLE_STATE=" + filepath.Join(double.Dir, "double-state"),
					"MINIKUBE_DOUBLE_SYSTEM_MEMORY=" + strconv.Itoa(host)}, sc.doubleEnv...)...)
				if sc.setup != nil {
					sc.setup(t, real, double)
				}
				for i, st := range sc.steps {
					real.SetDocker(t, st.docker)
					double.SetDocker(t, st.docker)
					r := real.Run(t, reals[v], st.args...)
					d := double.Run(t, bin, st.args...)
					label := fmt.Sprintf("step %d: minikube %s (docker %s)", i+1, strings.Join(st.args, " "), dockerLabel(st.docker))
					if st.want >= 0 && r.Code != st.want {
						t.Fatalf("%s: the real minikube exits %d, the scenario expects %d\n%s", label, r.Code, st.want, r)
					}
					if diff := compare(r, d, real, double); diff != "" {
						t.Errorf("%s: the double differs: %s\n--- real ---\n%s\n--- double ---\n%s", label, diff, r, d)
						continue
					}
					e, _ := minikube.ReadExit(execx.Result{Stdout: []byte(r.Stdout), Stderr: []byte(r.Stderr)}, r.Code)
					t.Logf("%s: both exit %d %s (real %s)", label, r.Code, e.ID, r.Took.Round(100*time.Millisecond))
				}
			})
		}
	}
}

// loadArchive is an image archive as svcgraph writes it for `minikube image load`.
func loadArchive(t *testing.T) string {
	t.Helper()
	for file := range archives(t, map[string]string{"docker.io/library/busybox:latest": runtime.GOARCH}) {
		return file
	}
	t.Fatal("no archive written")
	return ""
}

func dockerLabel(d *minikubetest.Docker) string {
	switch {
	case d == nil:
		return "none"
	case d.Stopped:
		return "not running"
	}
	return fmt.Sprintf("%d CPUs, %d MiB", d.CPUs, d.MemoryMB)
}

// unreadableConfig writes the same garbage where each keeps the profile's configuration.
func unreadableConfig(t *testing.T, real, double *minikubetest.Sandbox) {
	const garbage = `{"Name": broken`
	for _, p := range []string{
		filepath.Join(real.MinikubeHome, ".minikube", "profiles", profile, "config.json"),
		filepath.Join(double.Dir, "double-state", profile+".json"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compare returns what differs between the real and the double's result, "" when nothing.
func compare(r, d minikubetest.Result, real, double *minikubetest.Sandbox) string {
	if r.Code != d.Code {
		return fmt.Sprintf("exit code %d, the double's %d", r.Code, d.Code)
	}
	re, rok := minikube.ReadExit(execx.Result{Stdout: []byte(r.Stdout), Stderr: []byte(r.Stderr)}, r.Code)
	de, dok := minikube.ReadExit(execx.Result{Stdout: []byte(d.Stdout), Stderr: []byte(d.Stderr)}, d.Code)
	switch {
	case rok != dok:
		return fmt.Sprintf("minikube gave a reason: %v, the double: %v", rok, dok)
	case rok:
		rm, dm := normaliseOutput(firstLine(re.Message), real), normaliseOutput(firstLine(de.Message), double)
		if re.ID != de.ID || rm != dm || re.Suggestion != de.Suggestion {
			return fmt.Sprintf("reason %s: %q (suggestion %q), the double's %s: %q (suggestion %q)", re.ID, rm, re.Suggestion, de.ID, dm, de.Suggestion)
		}
	}
	if !hasFlag(r.Args, "-o", "json") && !hasFlag(r.Args, "--format", "json") {
		return ""
	}
	if hasWord(r.Args, "list") {
		return compareProfileList(r.Stdout, d.Stdout)
	}
	rl, dl := jsonLines(r.Stdout), jsonLines(d.Stdout)
	if !reflect.DeepEqual(rl, dl) {
		return fmt.Sprintf("JSON\n  real:   %v\n  double: %v", rl, dl)
	}
	return ""
}

// normaliseOutput replaces the sandbox's directory, which appears in some messages.
func normaliseOutput(s string, sb *minikubetest.Sandbox) string {
	return strings.ReplaceAll(s, sb.Dir, "$SANDBOX")
}

func hasFlag(args []string, name, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name && args[i+1] == value {
			return true
		}
	}
	return false
}

func hasWord(args []string, w string) bool {
	for _, a := range args {
		if a == w {
			return true
		}
	}
	return false
}

// jsonLines decodes each line of stdout; a CloudEvent's id becomes "ID", and the bug-report box
// minikube sends as an error event (it names a log file) becomes "BOX".
func jsonLines(stdout string) []any {
	var out []any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			out = append(out, "non-JSON: "+sc.Text())
			continue
		}
		if ev, ok := v.(map[string]any); ok {
			if _, ok := ev["specversion"]; ok {
				ev["id"] = "ID"
				if data, ok := ev["data"].(map[string]any); ok && len(data) == 1 && strings.HasPrefix(fmt.Sprint(data["message"]), "╭") {
					data["message"] = "BOX"
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// compareProfileList compares `profile list -o json` on the double's fields: every key the
// double writes must be in the real output with the same value.
func compareProfileList(real, double string) string {
	var r, d map[string]any
	if err := json.Unmarshal([]byte(real), &r); err != nil {
		return "real profile list: " + err.Error()
	}
	if err := json.Unmarshal([]byte(double), &d); err != nil {
		return "double's profile list: " + err.Error()
	}
	return subset("", d, r)
}

// subset reports the first place where want (the double's) is not contained in have (the real).
func subset(path string, want, have any) string {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: the double has an object, the real %v", path, have)
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok {
				return fmt.Sprintf("%s.%s: only the double has it", path, k)
			}
			if diff := subset(path+"."+k, wv, hv); diff != "" {
				return diff
			}
		}
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return fmt.Sprintf("%s: the double has %d entries, the real %v", path, len(w), have)
		}
		for i := range w {
			if diff := subset(fmt.Sprintf("%s[%d]", path, i), w[i], h[i]); diff != "" {
				return diff
			}
		}
	default:
		if !reflect.DeepEqual(want, have) {
			return fmt.Sprintf("%s: the double has %v, the real %v", path, want, have)
		}
	}
	return ""
}

// hostMemoryMB is what minikube reads as the system's memory: MemTotal in MiB.
func hostMemoryMB(t *testing.T) int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}
