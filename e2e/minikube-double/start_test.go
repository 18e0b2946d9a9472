package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultsAndSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		profile, memory string
		want            int
	}{
		{"m1", "", 4000}, // minikube's suggestion for 16 GB: 25%, rounded to 100 MB
		{"m2", "8192", 8192},
		{"m3", "8g", 8192},
		{"m4", "8GB", 8192},
		{"m5", "8192mb", 8192},
		{"m6", "2.5G", 2560},
		{"m7", "4gib", 4096},
	} {
		args := []string{"start", "-p", c.profile}
		if c.memory != "" {
			args = append(args, "--memory", c.memory)
		}
		e.must(0, args...)
		p, err := store{e.state}.load(c.profile)
		if err != nil || p == nil {
			t.Fatalf("%s: %v", c.profile, err)
		}
		if p.Memory != c.want || p.CPUs != 2 || p.Driver != "docker" || p.KubernetesVersion != "v1.35.1" {
			t.Errorf("--memory %q: %+v, want %d MB, 2 CPUs, docker, v1.35.1", c.memory, p, c.want)
		}
	}
	e.must(0, "start", "-p", "kv", "--kubernetes-version", "1.34.0")
	if p, _ := (store{e.state}).load("kv"); p.KubernetesVersion != "v1.34.0" {
		t.Errorf("kubernetes version: %+v", p)
	}

	before := e.snapshot()
	r := e.must(14, "start", "-p", "bad", "--memory", "lots")
	if !strings.Contains(r.stderr, "X Exiting due to MK_USAGE: Unable to parse memory 'lots': FromHumanSize: invalid size: 'lots'\n") {
		t.Errorf("bad memory: %q", r.stderr)
	}
	r = e.must(23, "start", "-p", "bad", "--memory", "1000")
	if !strings.Contains(r.stderr, "X Exiting due to RSRC_INSUFFICIENT_REQ_MEMORY: Requested memory allocation 1000MiB is less than the usable minimum of 1800MB\n") {
		t.Errorf("small memory: %q", r.stderr)
	}
	r = e.must(29, "start", "-p", "bad", "--cpus", "1")
	if !strings.Contains(r.stderr, "Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 1 is less than the minimum allowed of 2") {
		t.Errorf("one cpu: %q", r.stderr)
	}
	r = e.must(10, "start", "-p", "bad", "--memory", "32g")
	if !strings.Contains(r.stderr, "Exiting due to RSRC_OVER_ALLOC_MEM: Requested memory allocation 32768MB is more than your system limit 16384MB.\n* Suggestion: Start minikube with less memory allocated: 'minikube start --memory=4000mb'\n") {
		t.Errorf("more memory than the system's: %q", r.stderr)
	}
	e.extra = []string{"MINIKUBE_DOUBLE_SYSTEM_MEMORY=65536"}
	r = e.must(14, "start", "-p", "bad", "--memory", "32g")
	if !strings.Contains(r.stderr, "Exiting due to MK_USAGE: Docker has only 16384MB memory but you specified 32768MB") {
		t.Errorf("more memory than Docker's: %q", r.stderr)
	}
	e.extra = nil
	r = e.must(14, "start", "-p", "x")
	if !strings.Contains(r.stderr, "! Profile name 'x' is not valid\n") {
		t.Errorf("short profile name: %q", r.stderr)
	}
	// Refused starts leave only what minikube leaves: the profile's directory, which profile
	// list calls invalid. The kubeconfig is untouched.
	after := e.snapshot()
	if invalid := filepath.Join(e.state, "bad.json"); !strings.Contains(after[invalid], `"Status": "Invalid"`) {
		t.Errorf("refused starts left %q for profile bad", after[invalid])
	}
	delete(after, filepath.Join(e.state, "bad.json"))
	if !reflect.DeepEqual(before, after) {
		t.Errorf("failed starts changed state")
	}
	if r := e.must(0, "profile", "list", "-o", "json"); !strings.HasPrefix(r.stdout, `{"invalid":[{"Name":"bad","Status":"","Config":null,"Active":false,"ActiveKubeContext":false}],"valid":[`) {
		t.Errorf("profile list after refused starts: %s", r.stdout)
	}
}

// TestRefusedStarts: what the docker on PATH reports decides the refusal, as it does for
// minikube; a refused start changes nothing but the invalid profile directory (or, for an
// existing profile, nothing at all).
func TestRefusedStarts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		code     int
		want     []string
		profile  bool     // an existing stopped profile is present
		noDocker bool     // no docker on PATH
		env      []string // the fake docker's answers
		args     []string
	}{
		{"docker's memory", 23, []string{"X Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY: docker only has 1024MiB available, less than the required 1800MiB for Kubernetes\n"}, false, false, []string{"FAKE_DOCKER_MEMORY_MB=1024"}, nil},
		{"docker's memory, existing profile", 23, []string{"Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY"}, true, false, []string{"FAKE_DOCKER_MEMORY_MB=1024"}, nil},
		{"docker's cpus", 29, []string{"X Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 4 is greater than the available cpus of 2\n"}, false, false, []string{"FAKE_DOCKER_CPUS=2"}, nil},
		{"docker stopped, asked", 63, []string{
			"X Exiting due to PROVIDER_DOCKER_NOT_RUNNING: \"docker version --format <no value>-<no value>:<no value>\" exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
			"* Suggestion: Start the Docker service\n* Documentation: https://minikube.sigs.k8s.io/docs/drivers/docker/\n"}, false, false, []string{"FAKE_DOCKER_DAEMON=stopped"}, []string{"--driver", "docker"}},
		{"docker stopped", 55, []string{"X Exiting due to DRV_DOCKER_NOT_RUNNING: Found docker, but the docker service isn't running. Try restarting the docker service.\n"}, false, false, []string{"FAKE_DOCKER_DAEMON=stopped"}, nil},
		{"no docker, asked", 65, []string{"* Exiting due to PROVIDER_DOCKER_NOT_FOUND: The 'docker' provider was not found: exec: \"docker\": executable file not found in $PATH\n", "* Suggestion: Install Docker\n"}, false, true, nil, []string{"--driver=docker"}},
		{"no driver", 55, []string{"X Exiting due to DRV_NOT_DETECTED: No possible driver was detected."}, false, true, nil, nil},
		{"root", 57, []string{"X Exiting due to DRV_AS_ROOT: The \"docker\" driver should not be used with root privileges.\n"}, false, false, []string{"MINIKUBE_DOUBLE_ROOT=true"}, nil},
		{"other driver", 81, []string{"! Exiting due to GUEST_DRIVER_MISMATCH: The existing \"svcgraph\" cluster was created using the \"docker\" driver, which is incompatible with requested \"qemu2\" driver.\n",
			"* Suggestion: Delete the existing 'svcgraph' cluster using: 'minikube delete -p svcgraph', or start the existing 'svcgraph' cluster using: 'minikube start -p svcgraph --driver=docker'\n"}, true, false, nil, []string{"--driver", "qemu2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			if c.profile {
				e.must(0, "start", "-p", "svcgraph")
				e.must(0, "stop", "-p", "svcgraph")
			}
			before := e.snapshot()
			e.extra, e.noDocker = c.env, c.noDocker
			r := e.run(append([]string{"start", "-p", "svcgraph", "--cpus", "4", "--memory", "8G"}, c.args...)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "Done!") {
				t.Errorf("a failed start said Done")
			}
			after := e.snapshot()
			if !c.profile {
				delete(after, filepath.Join(e.state, "svcgraph.json")) // the invalid profile directory
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("%s changed state or kubeconfig:\nbefore %v\nafter  %v", c.name, before, after)
			}
		})
	}
}

// TestMachineNotCreated: MINIKUBE_DOUBLE_FAIL=80 fails the start where the machine is created,
// after the profile is saved, as minikube does when the driver cannot create it; the profile
// then has no machine, which status, stop, unpause and delete each answer as minikube does.
func TestMachineNotCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra = []string{"MINIKUBE_DOUBLE_FAIL=80"}
	r := e.must(80, "start", "-p", "nm", "--cpus", "2", "--memory", "4g")
	if !strings.Contains(r.stderr, "X Exiting due to GUEST_PROVISION: error provisioning guest: Failed to start host: recreate: creating host: create: creating: setting up container node: creating volume for nm container: docker volume create nm") ||
		!strings.Contains(r.stderr, "fake docker: `docker volume create nm") {
		t.Errorf("start: %s", r.stderr)
	}
	if out, code := e.status("nm"); out != "null" || code != 7 {
		t.Errorf("status: %d %q, want null and 7 (v1.38.1)", code, out)
	}
	e.extra = append(e.extra, "MINIKUBE_DOUBLE_VERSION=v1.37.0")
	if out, code := e.status("nm"); out != "null" || code != 0 {
		t.Errorf("status as v1.37.0: %d %q, want null and 0", code, out)
	}
	if r := e.must(0, "profile", "list", "-o", "json"); !strings.Contains(r.stdout, `"valid":[{"Name":"nm","Status":"","Config":{"CPUs":2,"Memory":4096,"Driver":"docker","KubernetesConfig":{"KubernetesVersion":"v1.35.1"}}`) {
		t.Errorf("profile list: %s", r.stdout)
	}
	e.must(80, "unpause", "-p", "nm")
	e.must(82, "stop", "-p", "nm")
	if _, err := (store{e.state}).load("nm"); err != nil {
		t.Fatal(err)
	}
	e.must(0, "delete", "-p", "nm")
	e.must(85, "status", "-p", "nm")
}

func TestRealDriverMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(0, "start", "-p", "dm", "--driver", "docker")
	before := e.snapshot()
	r := e.must(81, "start", "-p", "dm", "--driver", "kvm2")
	if !strings.Contains(r.stderr, `requested "kvm2" driver.`) {
		t.Errorf("mismatch: %q", r.stderr)
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Errorf("mismatch changed state")
	}
}
