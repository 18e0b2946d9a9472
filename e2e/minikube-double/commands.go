package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// profileNameRe is minikube's config.ProfileNameValid pattern.
var profileNameRe = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$`)

const dockerDocURL = "https://minikube.sigs.k8s.io/docs/drivers/docker/"

// exampleCmd is mustload.ExampleCmd: the default profile needs no -p.
func exampleCmd(profile, action string) string {
	if profile != defaultProfile {
		return fmt.Sprintf("minikube %s -p %s", action, profile)
	}
	return "minikube " + action
}

// isKIC: drivers that run the node as a container (minikube's driver.IsKIC).
func isKIC(d string) bool { return d == "docker" || d == "podman" }

func start(p *printer, st store, in invocation) {
	name := in.profile()
	prefix := ""
	if name != defaultProfile {
		prefix = "[" + name + "] "
	}
	p.step(stHappy, "%sminikube %s on %s", prefix, minikubeVersion, platform())

	if !profileNameRe.MatchString(name) || len(name) < 2 {
		p.warning("Profile name '%s' is not valid", name)
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, "Only alphanumeric and dashes '-' are permitted. Minimum 2 characters, starting with alphanumeric.")
	}
	existing, err := st.load(name)
	if err != nil {
		fatal(err)
	}
	requested := in.values["driver"]
	if requested == "" {
		requested = in.values["vm-driver"]
	}

	// validateSpecifiedDriver: an existing profile keeps its driver.
	fail := os.Getenv("MINIKUBE_DOUBLE_FAIL")
	if existing != nil && requested != "" && requested != existing.Driver || fail == "81" {
		old := "docker"
		if existing != nil {
			old = existing.Driver
		}
		newDrv := requested
		if newDrv == "" || newDrv == old {
			newDrv = "qemu2"
		}
		p.exitWith(kind{id: "GUEST_DRIVER_MISMATCH", code: 81, st: stConflict,
			advice: fmt.Sprintf("Delete the existing '%s' cluster using: '%s', or start the existing '%s' cluster using: '%s --driver=%s'",
				name, exampleCmd(name, "delete"), name, exampleCmd(name, "start"), old)},
			fmt.Sprintf("The existing %q cluster was created using the %q driver, which is incompatible with requested %q driver.", name, old, newDrv))
	}

	drv := requested
	switch {
	case existing != nil:
		drv = existing.Driver
		p.step(stSparkle, "Using the %s driver based on existing profile", drv)
	case requested != "":
		p.step(stSparkle, "Using the %s driver based on user configuration", drv)
	default:
		drv = "docker"
		if fail == "55" {
			// Auto-detection found Docker installed but not running (start.go selectDriver).
			p.step(style{"👎  ", "* ", false}, "Unable to pick a default driver. Here is what was considered, in preference order:")
			p.step(stOption, "docker: Not healthy")
			p.step(stOption, "docker: Suggestion: Start the Docker service <%s>", dockerDocURL)
			p.step(stTip, "Alternatively you could install one of these drivers:")
			p.exitWith(kind{id: "DRV_DOCKER_NOT_RUNNING", code: 55}, "Found docker, but the docker service isn't running. Try restarting the docker service.")
		}
		p.step(stSparkle, "Automatically selected the docker driver")
	}
	injectDriverFault(p, fail, drv)
	if fail == "23" {
		// validateRequestedMemorySize runs for new and existing profiles alike.
		p.exitWith(kind{id: "RSRC_INSUFFICIENT_CONTAINER_MEMORY", code: 23, st: stUnmet},
			fmt.Sprintf("%s only has %dMiB available, less than the required %dMiB for Kubernetes", drv, 1024, minUsableMem))
	}

	if existing != nil {
		restart(p, st, in, existing)
		return
	}

	cpus := 2
	if in.set["cpus"] {
		cpus, _ = strconv.Atoi(in.values["cpus"]) // viper.GetInt: anything else reads as 0
	}
	sysMem := systemMemoryMB()
	mem := suggestMemory(sysMem)
	if in.set["memory"] {
		mem, err = parseMemoryMB(in.values["memory"])
		if err != nil {
			p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage},
				fmt.Sprintf("Generate unable to parse memory '%s': %v", in.values["memory"], err))
		}
		if isKIC(drv) && mem > sysMem {
			p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage},
				fmt.Sprintf("%s has only %dMB memory but you specified %dMB", fullName(drv), sysMem, mem))
		}
	}
	if mem < minUsableMem {
		p.exitWith(kind{id: "RSRC_INSUFFICIENT_REQ_MEMORY", code: 23, st: stUnmet},
			fmt.Sprintf("Requested memory allocation %dMiB is less than the usable minimum of %dMB", mem, minUsableMem))
	}
	if cpus < minCPUs {
		p.exitWith(kind{id: "RSRC_INSUFFICIENT_CORES", code: 29, st: stUnmet},
			fmt.Sprintf("Requested cpu count %d is less than the minimum allowed of %d", cpus, minCPUs))
	}
	k8s := kubernetesVersion(in.values["kubernetes-version"])

	// Read the source before anything is written, so a bad setup changes nothing.
	if _, _, err := sourceCluster(); err != nil {
		fatal(err)
	}
	prof := &Profile{Name: name, Status: running, CPUs: cpus, Memory: mem, Driver: drv, KubernetesVersion: k8s}
	p.step(stThumbsUp, "Starting %q primary control-plane node in %q cluster", name, name)
	if isKIC(drv) {
		p.step(stPulling, "Pulling base image %s ...", kicVersion)
		p.step(stStartingVM, "Creating %s container (CPUs=%d, Memory=%dMB) ...", drv, cpus, mem)
	} else {
		p.step(stStartingVM, "Creating %s VM (CPUs=%d, Memory=%dMB, Disk=20000MB) ...", drv, cpus, mem)
	}
	if err := sizeNodes(prof); err != nil {
		fatal(err)
	}
	if err := st.save(prof); err != nil {
		fatal(err)
	}
	finishStart(p, name, k8s)
}

// restart is start on an existing profile: minikube keeps the old size and only warns.
func restart(p *printer, st store, in invocation, prof *Profile) {
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
	if _, _, err := sourceCluster(); err != nil {
		fatal(err)
	}
	machineType := "VM"
	if isKIC(prof.Driver) {
		machineType = "container"
	}
	p.step(stThumbsUp, "Starting %q primary control-plane node in %q cluster", name, name)
	if isKIC(prof.Driver) {
		p.step(stPulling, "Pulling base image %s ...", kicVersion)
	}
	if prof.Status == running || prof.Status == paused {
		p.step(stRunning, "Updating the running %s %q %s ...", prof.Driver, name, machineType)
	} else {
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

// injectDriverFault fails start the way minikube's validateDriver does when the provider is
// missing (65) or not running (63). 55 without --driver is handled during auto-detection; with
// an explicit driver minikube reports DRV_NOT_HEALTHY-class failures as 55 too.
func injectDriverFault(p *printer, fail, drv string) {
	switch fail {
	case "63":
		p.exitWith(kind{id: "PROVIDER_DOCKER_NOT_RUNNING", code: 63, st: stFatal, advice: "Start the Docker service", url: dockerDocURL},
			`"docker version --format {{.Server.Os}}-{{.Server.Version}}:{{.Server.Platform.Name}}" exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`)
	case "65":
		p.exitWith(kind{id: "PROVIDER_" + strings.ToUpper(drv) + "_NOT_FOUND", code: 65, st: stShrug, advice: "Install Docker", url: dockerDocURL},
			fmt.Sprintf("The '%s' provider was not found: exec: \"%s\": executable file not found in $PATH", drv, drv))
	case "55":
		p.exitWith(kind{id: "DRV_NOT_HEALTHY", code: 55}, "Found driver(s) but none were healthy. See above for suggestions how to fix installed drivers.")
	}
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
	case "", "stable":
		return defaultK8sVersion
	case "latest":
		return newestK8sVersion
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}

// systemMemoryMB is the memory minikube would see on the host (and in Docker). It is a setting
// of the double, MINIKUBE_DOUBLE_SYSTEM_MEMORY in MB, default 16384, so output never depends on
// the machine the tests run on.
func systemMemoryMB() int {
	if v, err := strconv.Atoi(os.Getenv("MINIKUBE_DOUBLE_SYSTEM_MEMORY")); err == nil && v > 0 {
		return v
	}
	return 16384
}

// suggestMemory is minikube's suggestMemoryAllocation for one node: 25% of RAM rounded down to
// 100 MB, within [3072, 6144].
func suggestMemory(sys int) int {
	const fallback, maximum = 3072, 6144
	if fallback > sys {
		return sys
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

type statusJSON struct {
	Name       string
	Host       string
	Kubelet    string
	APIServer  string
	Kubeconfig string
	Worker     bool
}

func status(p *printer, st store, in invocation) {
	output := strings.ToLower(in.values["output"])
	if output == "" {
		output = "text"
	}
	if output != "text" && output != "json" {
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, fmt.Sprintf("invalid output format: %s. Valid values: 'text', 'json'", output))
	}
	name := in.profile()
	prof, err := st.load(name)
	if err != nil {
		fatal(err)
	}
	if prof == nil {
		notFound(p, name, output == "json")
	}
	s := statusJSON{Name: name, Host: prof.Status, Kubelet: prof.Status, APIServer: prof.Status, Kubeconfig: prof.Status}
	switch prof.Status {
	case running:
		s.Kubeconfig = kubeconfigState(name)
	case paused:
		// A paused node keeps its host running; kubelet is stopped and the apiserver paused.
		s.Host, s.Kubelet, s.APIServer, s.Kubeconfig = running, stopped, paused, "Configured"
	}
	if output == "json" {
		b, _ := json.Marshal(s)
		os.Stdout.Write(b) // minikube's statusJSON writes no newline
	} else {
		fmt.Printf("%s\ntype: Control Plane\nhost: %s\nkubelet: %s\napiserver: %s\nkubeconfig: %s\n\n",
			s.Name, s.Host, s.Kubelet, s.APIServer, s.Kubeconfig)
		if s.Kubeconfig == "Misconfigured" {
			fmt.Print("\nWARNING: Your kubectl is pointing to stale minikube-vm.\nTo fix the kubectl context, run `minikube update-context`\n")
		}
	}
	os.Exit(statusExitCode(s))
}

// statusExitCode is status.go's exitCode: bit 1 host, bit 2 kubelet/apiserver, bit 4 kubeconfig.
func statusExitCode(s statusJSON) int {
	c := 0
	if s.Host != running {
		c |= 1
	}
	if s.APIServer != running || s.Kubelet != running {
		c |= 2
	}
	if s.Kubeconfig != "Configured" {
		c |= 4
	}
	return c
}

// notFound is mustload.Partial for a missing profile: two lines (cloud events under -o json)
// on stdout and exit 85.
func notFound(p *printer, name string, asJSON bool) {
	msgs := []string{
		fmt.Sprintf("Profile %q not found. Run \"minikube profile list\" to view all profiles.", name),
		fmt.Sprintf("To start a cluster, run: %q", exampleCmd(name, "start")),
	}
	if asJSON {
		for _, m := range msgs {
			printInfoEvent(m + "\n") // applyStyle appends the newline before JSON is considered
		}
	} else {
		p.step(stShrug, "%s", msgs[0])
		p.step(stWorkaround, "%s", msgs[1])
	}
	os.Exit(exGuestNotFund)
}

// printInfoEvent is register.PrintInfo: one CloudEvent per line, fields in the order of
// cloudevents' own marshaller.
func printInfoEvent(msg string) {
	data, _ := json.Marshal(map[string]string{"message": msg})
	fmt.Printf(`{"specversion":"1.0","id":%q,"source":"https://minikube.sigs.k8s.io/","type":"io.k8s.sigs.minikube.info","datacontenttype":"application/json","data":%s}`+"\n", uuid(), data)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func stop(p *printer, st store, in invocation) {
	var names []string
	if in.set["all"] {
		ps, err := st.list()
		if err != nil {
			fatal(err)
		}
		for _, pr := range ps {
			names = append(names, pr.Name)
		}
	} else {
		names = []string{in.profile()}
	}
	stoppedNodes := 0
	for _, name := range names {
		prof, err := st.load(name)
		if err != nil {
			fatal(err)
		}
		if prof == nil {
			notFound(p, name, false)
		}
		p.step(stStopping, "Stopping node %q  ...", name)
		if prof.Status != stopped && isKIC(prof.Driver) {
			p.step(stShutdown, "Powering off %q via SSH ...", name)
		}
		prof.Status = stopped
		if err := st.save(prof); err != nil {
			fatal(err)
		}
		stoppedNodes = 1 // minikube counts the nodes of the last profile only
		if !in.set["keep-context-active"] {
			if err := deleteContext(name); err != nil {
				fatal(err)
			}
		}
	}
	s := ""
	if stoppedNodes > 1 {
		s = "s"
	}
	p.step(stStopped, "%d node%s stopped.", stoppedNodes, s)
}

func deleteCmd(p *printer, st store, in invocation) {
	if len(in.args) > 0 {
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, "Usage: minikube delete")
	}
	var profs []*Profile
	if in.set["all"] {
		ps, err := st.list()
		if err != nil {
			fatal(err)
		}
		profs = ps
	} else {
		name := in.profile()
		prof, err := st.load(name)
		if err != nil {
			fatal(err)
		}
		if prof == nil {
			// minikube carries on and still removes the kubeconfig entries, then succeeds.
			p.errT(stMeh, "%q profile does not exist, trying anyways.", name)
			prof = &Profile{Name: name}
		}
		profs = []*Profile{prof}
	}
	for _, prof := range profs {
		if isKIC(prof.Driver) {
			p.step(stDeleting, "Deleting %q in %s ...", prof.Name, prof.Driver)
			p.step(stDeleting, "Deleting container %q ...", prof.Name)
			p.step(stDeleting, "Removing %s ...", filepath.Join(st.dir, "machines", prof.Name))
		}
		if err := st.remove(prof.Name); err != nil {
			fatal(err)
		}
		if err := deleteContext(prof.Name); err != nil {
			fatal(err)
		}
		p.step(stDeleted, "Removed all traces of the %q cluster.", prof.Name)
	}
	if in.set["all"] {
		p.step(stDeleting, "Successfully deleted all profiles")
	}
}

// The profile list JSON, trimmed to the fields svcgraph reads; the field order is minikube's.
type listedProfile struct {
	Name              string
	Status            string
	Config            listedConfig
	Active            bool
	ActiveKubeContext bool
}

type listedConfig struct {
	CPUs             int
	Memory           int
	Driver           string
	KubernetesConfig struct{ KubernetesVersion string }
}

func profileList(p *printer, st store, in invocation) {
	output := in.values["output"]
	if output == "" {
		output = "table"
	}
	if output != "table" && output != "json" {
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, fmt.Sprintf("invalid output format: %s. Valid values: 'table', 'json'", output))
	}
	ps, err := st.list()
	if err != nil {
		fatal(err)
	}
	// Active is viper's profile name: the -p flag, else "minikube".
	active, current := in.profile(), currentContext()
	valid := []listedProfile{}
	for _, pr := range ps {
		lp := listedProfile{Name: pr.Name, Status: map[string]string{running: "OK", stopped: "Stopped", paused: "Paused"}[pr.Status],
			Active: pr.Name == active, ActiveKubeContext: pr.Name == current}
		if lp.Status == "" {
			lp.Status = "Unknown"
		}
		lp.Config = listedConfig{CPUs: pr.CPUs, Memory: pr.Memory, Driver: pr.Driver}
		lp.Config.KubernetesConfig.KubernetesVersion = pr.KubernetesVersion
		valid = append(valid, lp)
	}
	if output == "json" {
		b, _ := json.Marshal(map[string]any{"invalid": []any{}, "valid": valid})
		os.Stdout.Write(b) // no newline, as minikube's printProfilesJSON
		return
	}
	if len(valid) == 0 {
		p.exitWith(kind{id: "MK_USAGE_NO_PROFILE", code: exProgramUsage, st: stCaching, advice: "You can create one using 'minikube start'.\n\t\t"},
			"No minikube profile was found.")
	}
	fmt.Println("|---------|--------|---------|----|---------|--------|-------|----------------|--------------------|")
	fmt.Println("| Profile | Driver | Runtime | IP | Version | Status | Nodes | Active Profile | Active Kubecontext |")
	for _, lp := range valid {
		a, k := "", ""
		if lp.Active {
			a = "*"
		}
		if lp.ActiveKubeContext {
			k = "*"
		}
		fmt.Printf("| %s | %s | docker | 192.168.49.2 | %s | %s | 1 | %s | %s |\n", lp.Name, lp.Config.Driver, lp.Config.KubernetesConfig.KubernetesVersion, lp.Status, a, k)
	}
}

func version(p *printer, in invocation) {
	switch in.values["output"] {
	case "":
		if in.set["short"] {
			fmt.Println(minikubeVersion)
			return
		}
		fmt.Printf("minikube version: %s\ncommit: %s\n", minikubeVersion, minikubeCommit)
	case "json":
		b, _ := json.Marshal(map[string]string{"minikubeVersion": minikubeVersion, "commit": minikubeCommit})
		fmt.Println(string(b))
	case "yaml":
		fmt.Printf("commit: %s\nminikubeVersion: %s\n\n", minikubeCommit, minikubeVersion)
	default:
		p.exitWith(kind{id: "MK_OUTPUT_USAGE", code: 10}, "error: --output must be 'yaml' or 'json'")
	}
}

// pause and unpause need a running host (mustload.Running): a stopped profile ends with exit 83,
// a missing one with 85. The container count is made up; minikube counts what it froze.
func pause(p *printer, st store, in invocation, freeze bool) {
	name := in.profile()
	prof, err := st.load(name)
	if err != nil {
		fatal(err)
	}
	if prof == nil {
		notFound(p, name, false)
	}
	if prof.Status == stopped {
		p.step(stShrug, "The control-plane node %s host is not running: state=Stopped", name)
		p.step(stWorkaround, "To start a cluster, run: %q", exampleCmd(name, "start"))
		os.Exit(83) // reason.ExGuestNotRunning
	}
	namespaces := "kube-system, kubernetes-dashboard, istio-operator" // constants.DefaultNamespaces
	if in.set["namespaces"] {
		namespaces = strings.Join(strings.Split(in.values["namespaces"], ","), ", ")
	}
	if in.set["all-namespaces"] {
		namespaces = ""
	}
	in2 := " in: " + namespaces
	if namespaces == "" {
		in2 = ""
	}
	pauseStyle := style{"⏸️  ", "* ", false}
	if freeze {
		p.step(pauseStyle, "Pausing node %s ... ", name)
		prof.Status = paused
	} else {
		p.step(pauseStyle, "Unpausing node %s ... ", name)
		prof.Status = running
	}
	if err := st.save(prof); err != nil {
		fatal(err)
	}
	if freeze {
		p.step(style{"⏯️  ", "* ", false}, "Paused 14 containers%s", in2)
	} else {
		p.step(pauseStyle, "Unpaused 14 containers%s", in2)
	}
}
