package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// start follows minikube's runStart up to the point where it creates the machine, in its order:
// profile name, existing profile, driver (specified, selected, validated), CPUs and memory,
// root, then the size checks of generateClusterConfig. The machine itself is pretended: the
// double saves the profile Running and writes the kubeconfig context, unless
// MINIKUBE_DOUBLE_FAIL=80 says the driver cannot create it (the fake docker of the tests cannot).
func start(p *printer, st store, in invocation) {
	name := in.profile()
	prefix := ""
	if name != defaultProfile {
		prefix = "[" + name + "] "
	}
	p.step(stHappy, "%sminikube %s on %s", prefix, rel.version, platform())
	force := in.set["force"]
	if force {
		p.warning("minikube skips various validations when --force is supplied; this may lead to unexpected behavior")
	}
	if !profileNameRe.MatchString(name) || len(name) < 2 {
		p.warning("Profile name '%s' is not valid", name)
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, "Only alphanumeric and dashes '-' are permitted. Minimum 2 characters, starting with alphanumeric.")
	}
	existing, err := st.load(name)
	if cerr, ok := err.(configError); ok {
		p.exitWith(kind{id: "HOST_CONFIG_LOAD", code: 38}, "Unable to load config: "+cerr.Error())
	} else if err != nil {
		fatal(err)
	}
	if existing != nil && existing.Status == invalid {
		existing = nil
	}
	if existing == nil {
		// runStart's event log creates the profile's directory before anything is checked, so a
		// start refused from here on leaves a profile that `profile list` calls invalid.
		if err := st.markInvalid(name); err != nil {
			fatal(err)
		}
	}
	requested := in.values["driver"]
	if requested == "" {
		requested = in.values["vm-driver"]
	}
	if a, ok := driverAliases[requested]; ok {
		requested = a
	}
	if existing != nil && requested != "" && requested != existing.Driver {
		p.exitWith(kind{id: "GUEST_DRIVER_MISMATCH", code: 81, st: stConflict,
			advice: fmt.Sprintf("Delete the existing '%s' cluster using: '%s', or start the existing '%s' cluster using: '%s --driver=%s'",
				name, exampleCmd(name, "delete"), name, exampleCmd(name, "start"), existing.Driver)},
			fmt.Sprintf("The existing %q cluster was created using the %q driver, which is incompatible with requested %q driver.", name, existing.Driver, requested))
	}
	ds := selectDriver(p, existing, requested)
	validateDriver(p, ds, force)
	drv := ds.info.name

	cpus := 2
	if in.set["cpus"] {
		cpus, _ = strconv.Atoi(in.values["cpus"]) // viper.GetInt: anything else reads as 0
	}
	validateCPUs(p, ds, cpus, requested, force)
	sysMem := systemMemoryMB()
	containerMem := 0
	if isKIC(drv) {
		containerMem = ds.memoryMB
	}
	mem := suggestMemory(sysMem, containerMem)
	if in.set["memory"] {
		mem, err = parseMemoryMB(in.values["memory"])
		if err != nil {
			p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, fmt.Sprintf("Unable to parse memory '%s': %v", in.values["memory"], err))
		}
		validateMemory(p, drv, mem, sysMem, containerMem, force)
	}
	validateUser(p, drv, name, existing != nil, force)
	if existing != nil {
		restart(p, st, in, existing, ds)
		return
	}
	if !in.set["memory"] {
		validateMemory(p, drv, mem, sysMem, containerMem, force)
	} else if isKIC(drv) && mem > containerMem {
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, fmt.Sprintf("%s has only %dMB memory but you specified %dMB", fullName(drv), containerMem, mem))
	}
	k8s := kubernetesVersion(in.values["kubernetes-version"])
	prof := &Profile{Name: name, Status: nonexistent, CPUs: cpus, Memory: mem, Driver: drv, KubernetesVersion: k8s}
	p.step(stThumbsUp, "Starting %q primary control-plane node in %q cluster", name, name)
	if isKIC(drv) {
		p.step(stPulling, "Pulling base image %s ...", rel.kicVersion)
	}
	// Provision saves the profile before it creates the machine.
	if err := st.save(prof); err != nil {
		fatal(err)
	}
	createMachine(p, prof)
	if err := sizeNodes(prof, ds); err != nil {
		fatal(err)
	}
	if isKIC(drv) {
		p.step(stStartingVM, "Creating %s container (CPUs=%d, Memory=%dMB) ...", drv, cpus, mem)
	} else {
		p.step(stStartingVM, "Creating %s VM (CPUs=%d, Memory=%dMB, Disk=20000MB) ...", drv, cpus, mem)
	}
	prof.Status = running
	if err := st.save(prof); err != nil {
		fatal(err)
	}
	finishStart(p, name, k8s)
}

// selectDriver is minikube's: an existing profile keeps its driver, a --driver is taken as
// given (unknown ones refused), otherwise the first healthy driver in preference order.
func selectDriver(p *printer, existing *Profile, requested string) driverState {
	if existing != nil {
		d, _ := lookupDriver(existing.Driver)
		p.step(stSparkle, "Using the %s driver based on existing profile", existing.Driver)
		return probe(d)
	}
	if requested != "" {
		d, ok := lookupDriver(requested)
		if requested == "ssh" {
			p.step(stSparkle, "Using the ssh driver based on user configuration")
			p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, "No IP address provided. Try specifying --ssh-ip-address, or see https://minikube.sigs.k8s.io/docs/drivers/ssh/")
		}
		if !ok {
			p.exitWith(kind{id: "DRV_UNSUPPORTED_OS", code: 56}, fmt.Sprintf("The driver '%s' is not supported on %s/%s", requested, runtime.GOOS, runtime.GOARCH))
		}
		p.step(stSparkle, "Using the %s driver based on user configuration", d.name)
		return probe(d)
	}
	var rejects []driverState
	for _, d := range linuxDrivers {
		if d.name == "none" {
			continue // not a default driver: never chosen automatically
		}
		ds := probe(d)
		if ds.healthy() {
			p.step(stSparkle, "Automatically selected the %s driver", d.name)
			return ds
		}
		rejects = append(rejects, ds)
	}
	p.step(style{"👎  ", "* ", false}, "Unable to pick a default driver. Here is what was considered, in preference order:")
	for _, r := range rejects {
		if r.installed {
			p.step(stOption, "%s: Not healthy: %s", r.info.name, r.err)
			p.step(stOption, "%s: Suggestion: %s <%s>", r.info.name, r.fix, r.info.doc)
		}
	}
	p.step(stTip, "Alternatively you could install one of these drivers:")
	for _, r := range rejects {
		if !r.installed {
			p.step(stOption, "%s: Not installed: %s", r.info.name, r.err)
		}
	}
	for _, r := range rejects {
		switch {
		case r.info.name == "docker" && r.installed && !r.running:
			p.exitWith(kind{id: "DRV_DOCKER_NOT_RUNNING", code: 55}, "Found docker, but the docker service isn't running. Try restarting the docker service.")
		case r.installed:
			p.exitWith(kind{id: "DRV_NOT_HEALTHY", code: 55}, "Found driver(s) but none were healthy. See above for suggestions how to fix installed drivers.")
		}
	}
	p.exitWith(kind{id: "DRV_NOT_DETECTED", code: 55}, "No possible driver was detected. Try specifying --driver, or see https://minikube.sigs.k8s.io/docs/start/")
	return driverState{}
}

// validateDriver is minikube's: a missing program is 65, a stopped daemon 63, anything else 69.
func validateDriver(p *printer, ds driverState, force bool) {
	if ds.healthy() {
		return
	}
	name := strings.ToUpper(ds.info.name)
	if !ds.installed {
		p.exitWith(kind{id: "PROVIDER_" + name + "_NOT_FOUND", code: 65, st: stShrug, advice: ds.fix, url: ds.info.doc},
			fmt.Sprintf("The '%s' provider was not found: %s", ds.info.name, ds.err))
	}
	k := kind{id: ds.reason, code: 69, st: stFatal, advice: ds.fix, url: ds.info.doc}
	if k.id == "" {
		k.id = "PROVIDER_" + name + "_ERROR"
	}
	if !ds.running {
		k.id, k.code = "PROVIDER_"+name+"_NOT_RUNNING", 63
	}
	exitIfNotForced(p, force, k, ds.err)
}

// validateCPUs is validateCPUCount: a container driver has what its engine reports, a VM
// driver what the host has.
func validateCPUs(p *printer, ds driverState, cpus int, requested string, force bool) {
	available := runtime.NumCPU()
	if isKIC(ds.info.name) {
		available = ds.cpus
	}
	insufficient := kind{id: "RSRC_INSUFFICIENT_CORES", code: 29, st: stUnmet}
	if available < minCPUs {
		// minikube names the --driver flag's value here, empty when minikube chose the driver.
		exitIfNotForced(p, force, insufficient, fmt.Sprintf("%s has less than 2 CPUs available, but Kubernetes requires at least 2 to be available", fullName(requested)))
	}
	if cpus < minCPUs {
		exitIfNotForced(p, force, insufficient, fmt.Sprintf("Requested cpu count %d is less than the minimum allowed of %d", cpus, minCPUs))
	}
	if available < cpus {
		exitIfNotForced(p, force, insufficient, fmt.Sprintf("Requested cpu count %d is greater than the available cpus of %d", cpus, available))
	}
}

// validateMemory is validateRequestedMemorySize.
func validateMemory(p *printer, drv string, req, sysMem, containerMem int, force bool) {
	if isKIC(drv) && containerMem < minUsableMem {
		exitIfNotForced(p, force, kind{id: "RSRC_INSUFFICIENT_CONTAINER_MEMORY", code: 23, st: stUnmet},
			fmt.Sprintf("%s only has %dMiB available, less than the required %dMiB for Kubernetes", drv, containerMem, minUsableMem))
	}
	if sysMem < minUsableMem {
		exitIfNotForced(p, force, kind{id: "RSRC_INSUFFICIENT_SYS_MEMORY", code: 23, st: stUnmet},
			fmt.Sprintf("System only has %dMiB available, less than the required %dMiB for Kubernetes", sysMem, minUsableMem))
	}
	if req < minUsableMem {
		exitIfNotForced(p, force, kind{id: "RSRC_INSUFFICIENT_REQ_MEMORY", code: 23, st: stUnmet},
			fmt.Sprintf("Requested memory allocation %dMiB is less than the usable minimum of %dMB", req, minUsableMem))
	}
	if req > sysMem {
		exitIfNotForced(p, force, kind{id: "RSRC_OVER_ALLOC_MEM", code: 10,
			advice: fmt.Sprintf("Start minikube with less memory allocated: 'minikube start --memory=%dmb'", suggestMemory(sysMem, containerMem))},
			fmt.Sprintf("Requested memory allocation %dMB is more than your system limit %dMB.", req, sysMem))
	}
}

// validateUser refuses root for every driver but none, as minikube does on Linux.
func validateUser(p *printer, drv, name string, hasConfig, force bool) {
	if drv == "none" || !runningAsRoot() {
		return
	}
	p.errT(stStopped, `The "%s" driver should not be used with root privileges. If you wish to continue as root, use --force.`, drv)
	p.errT(stTip, "If you are running minikube within a VM, consider using --driver=none:")
	p.errT(stDocs, "  %s", "https://minikube.sigs.k8s.io/docs/reference/drivers/none/")
	if hasConfig {
		p.errT(stTip, "Tip: To remove this root owned cluster, run: sudo %s", exampleCmd(name, "delete"))
	}
	if !force {
		p.exitWith(kind{id: "DRV_AS_ROOT", code: 57}, fmt.Sprintf("The %q driver should not be used with root privileges.", drv))
	}
}

// runningAsRoot is minikube's uid check. MINIKUBE_DOUBLE_ROOT=false lets tests that run as root
// play a regular user (the e2e suite, whose happy paths real minikube would refuse as root).
func runningAsRoot() bool {
	if v, err := strconv.ParseBool(os.Getenv("MINIKUBE_DOUBLE_ROOT")); err == nil {
		return v
	}
	return os.Geteuid() == 0
}

// exitIfNotForced is minikube's: with --force the failure is printed and start goes on.
func exitIfNotForced(p *printer, force bool, k kind, msg string) {
	if !force {
		p.exitWith(k, msg)
	}
	if k.st == (style{}) {
		k.st = stFailure
	}
	p.errT(k.st, "%s", msg)
}

// createMachine is where minikube creates the container or VM. The double pretends it worked,
// unless MINIKUBE_DOUBLE_FAIL=80: then, as real minikube with an engine that cannot create
// anything, it fails with GUEST_PROVISION and leaves the saved profile without a machine. For
// docker it runs the same first command minikube runs, so the message carries the engine's
// own words.
func createMachine(p *printer, prof *Profile) {
	if os.Getenv("MINIKUBE_DOUBLE_FAIL") != "80" {
		return
	}
	cause := "creating host: create: machine could not be created"
	if prof.Driver == "docker" {
		args := []string{"volume", "create", prof.Name, "--label", "name.minikube.sigs.k8s.io=" + prof.Name, "--label", "created_by.minikube.sigs.k8s.io=true"}
		cmd := exec.Command("docker", args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cause = fmt.Sprintf("recreate: creating host: create: creating: setting up container node: creating volume for %s container: docker %s: %v\nstdout:\n%s\nstderr:\n%s",
			prof.Name, strings.Join(args, " "), exitStatus(err), stdout.String(), stderr.String())
	}
	p.exitWith(kind{id: "GUEST_PROVISION", code: 80, st: stFailure}, "error provisioning guest: Failed to start host: "+cause)
}

// restart is start on an existing profile: minikube keeps the old size and only warns.
func restart(p *printer, st store, in invocation, prof *Profile, ds driverState) {
	name := prof.Name
	if in.set["memory"] {
		if mem, err := parseMemoryMB(in.values["memory"]); err != nil || mem != prof.Memory {
			p.warning("You cannot change the memory size for an existing minikube cluster. Please first delete the cluster.")
		}
	}
	if in.set["cpus"] {
		if cpus, _ := strconv.Atoi(in.values["cpus"]); cpus != prof.CPUs {
			p.warning("You cannot change the CPUs for an existing minikube cluster. Please first delete the cluster.")
		}
	}
	p.step(stThumbsUp, "Starting %q primary control-plane node in %q cluster", name, name)
	if isKIC(prof.Driver) {
		p.step(stPulling, "Pulling base image %s ...", rel.kicVersion)
	}
	machineType := "VM"
	if isKIC(prof.Driver) {
		machineType = "container"
	}
	switch prof.Status {
	case nonexistent:
		createMachine(p, prof)
		if err := sizeNodes(prof, ds); err != nil {
			fatal(err)
		}
		p.step(stStartingVM, "Creating %s %s (CPUs=%d, Memory=%dMB) ...", prof.Driver, machineType, prof.CPUs, prof.Memory)
	case running, paused:
		p.step(stRunning, "Updating the running %s %q %s ...", prof.Driver, name, machineType)
	default:
		p.step(stRestarting, "Restarting existing %s %s for %q ...", prof.Driver, machineType, name)
	}
	// minikube start drops the paused marker (pause.RemovePausedFile) and restarts the kubelet;
	// the double takes that as Running. Whether every paused container resumes is not modelled.
	prof.Status = running
	if err := st.save(prof); err != nil {
		fatal(err)
	}
	finishStart(p, name, prof.KubernetesVersion)
}

func finishStart(p *printer, name, k8s string) {
	// The source cluster is read before the context is written, so a bad setup changes no
	// kubeconfig (the profile is already saved, as minikube's is by then).
	if _, _, err := sourceCluster(); err != nil {
		fatal(err)
	}
	p.step(stDocker, "Preparing Kubernetes %s on Docker %s ...", k8s, dockerVersion)
	p.step(stCNI, "Configuring bridge CNI (Container Networking Interface) ...")
	p.step(stHealthCheck, "Verifying Kubernetes components...")
	p.step(stOption, "Using image gcr.io/k8s-minikube/storage-provisioner:v5")
	p.step(stAddon, "Enabled addons: storage-provisioner, default-storageclass")
	if err := writeContext(name); err != nil {
		fatal(err)
	}
	p.step(stReady, "Done! kubectl is now configured to use %q cluster and %q namespace by default", name, "default")
}

func fullName(drv string) string {
	switch drv {
	case "docker":
		return "Docker"
	case "podman":
		return "Podman"
	}
	return drv
}

// kubernetesVersion normalises --kubernetes-version as minikube does ("stable", "latest", a
// missing "v").
func kubernetesVersion(v string) string {
	switch v {
	case "", "stable", "latest":
		return rel.k8sVersion
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}

// systemMemoryMB is the memory minikube would see on the host. It is a setting of the double,
// MINIKUBE_DOUBLE_SYSTEM_MEMORY in MB, default 16384, so output never depends on the machine
// the tests run on (the conformance test sets the host's).
func systemMemoryMB() int {
	if v, err := strconv.Atoi(os.Getenv("MINIKUBE_DOUBLE_SYSTEM_MEMORY")); err == nil && v > 0 {
		return v
	}
	return 16384
}

// suggestMemory is minikube's suggestMemoryAllocation for one node: 25% of RAM rounded down to
// 100 MB, within [3072, 6144], and below the container engine's memory less 48 MB.
func suggestMemory(sys, container int) int {
	const fallback = 3072
	maximum := 6144
	if sys > 0 && fallback > sys {
		return sys
	}
	if container > 0 {
		if fallback > container {
			return container
		}
		maximum = container - 48
	}
	s := sys / 400 * 100
	return min(max(s, fallback), maximum)
}

// platform is the "on …" part of minikube's first line; the real one names the distribution.
func platform() string {
	if v := os.Getenv("MINIKUBE_DOUBLE_PLATFORM"); v != "" {
		return v
	}
	return "Debian 13.1"
}
