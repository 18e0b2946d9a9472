package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// driverInfo is one entry of minikube's driver registry on Linux (pkg/minikube/registry/drvs):
// the program its status check looks for, and what minikube says when that program is missing.
type driverInfo struct {
	name     string
	program  string // looked up on PATH
	notFound string // the error when it is missing, as minikube words it
	fix, doc string
	vm       bool // a VM driver (counts the host's CPUs); else a container driver or none
}

var linuxDrivers = []driverInfo{
	{name: "docker", program: "docker", fix: "Install Docker", doc: "https://minikube.sigs.k8s.io/docs/drivers/docker/"},
	{name: "kvm2", program: "virsh", fix: "Install libvirt", doc: "https://minikube.sigs.k8s.io/docs/reference/drivers/kvm2/", vm: true},
	{name: "podman", program: "podman", fix: "Install Podman", doc: "https://minikube.sigs.k8s.io/docs/drivers/podman/"},
	{name: "qemu2", program: "qemu-system-x86_64", fix: "Install qemu-system", doc: "https://minikube.sigs.k8s.io/docs/reference/drivers/qemu/", vm: true},
	{name: "virtualbox", program: "VBoxManage", notFound: "unable to find VBoxManage in $PATH", fix: "Install VirtualBox",
		doc: "https://minikube.sigs.k8s.io/docs/reference/drivers/virtualbox/", vm: true},
	{name: "none", program: "iptables", fix: "iptables must be installed", doc: "https://minikube.sigs.k8s.io/docs/reference/drivers/none/"},
}

// driverAliases are names minikube accepts for another driver (driver.go: "qemu" is qemu2).
var driverAliases = map[string]string{"qemu": "qemu2"}

func lookupDriver(name string) (driverInfo, bool) {
	if a, ok := driverAliases[name]; ok {
		name = a
	}
	for _, d := range linuxDrivers {
		if d.name == name {
			return d, true
		}
	}
	return driverInfo{}, false
}

// driverState is minikube's registry.State for one driver, with what docker reported.
type driverState struct {
	info      driverInfo
	installed bool
	running   bool
	err       string // the status error, "" when healthy
	reason    string // e.g. PROVIDER_DOCKER_NOT_RUNNING
	fix       string
	cpus      int // docker's NCPU
	memoryMB  int // docker's MemTotal in MiB
}

func (s driverState) healthy() bool { return s.err == "" }

// probe runs the driver's status check as minikube does. For docker that means asking the
// docker CLI on PATH (`docker version`, then `docker system info`): with svcgraph's fake docker
// the tests choose what the engine reports.
func probe(d driverInfo) driverState {
	st := driverState{info: d, fix: d.fix}
	if _, err := exec.LookPath(d.program); err != nil {
		st.err = d.notFound
		if st.err == "" {
			st.err = fmt.Sprintf("exec: %q: executable file not found in $PATH", d.program)
		}
		return st
	}
	st.installed, st.running = true, true
	if d.name != "docker" {
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// minikube's template reaches its error message after out's templating has eaten it.
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Os}}-{{.Server.Version}}:{{.Server.Platform.Name}}").CombinedOutput()
	if err != nil {
		st.err = fmt.Sprintf("\"docker version --format <no value>-<no value>:<no value>\" %v: %s", exitStatus(err), strings.TrimSpace(string(out)))
		if strings.Contains(string(out), "Is the docker daemon running") {
			st.running, st.reason, st.fix = false, "PROVIDER_DOCKER_NOT_RUNNING", "Start the Docker service"
		}
		return st
	}
	info, err := exec.CommandContext(ctx, "docker", "system", "info", "--format", "{{json .}}").Output()
	var sys struct {
		NCPU     int
		MemTotal int64
	}
	if err == nil {
		err = json.Unmarshal(info, &sys)
	}
	if err != nil {
		st.err, st.reason = "docker info: "+err.Error(), "PROVIDER_DOCKER_INFO_FAILED"
		return st
	}
	st.cpus, st.memoryMB = sys.NCPU, int(sys.MemTotal>>20)
	return st
}

// exitStatus words a failed command as Go's exec does ("exit status 1").
func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}
