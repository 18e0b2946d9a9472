package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// profileNameRe is minikube's config.ProfileNameValid pattern.
var profileNameRe = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$`)

// exampleCmd is mustload.ExampleCmd: the default profile needs no -p.
func exampleCmd(profile, action string) string {
	if profile != defaultProfile {
		return fmt.Sprintf("minikube %s -p %s", action, profile)
	}
	return "minikube " + action
}

// isKIC: drivers that run the node as a container (minikube's driver.IsKIC).
func isKIC(d string) bool { return d == "docker" || d == "podman" }

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
	p.json = output == "json"
	prof := partial(p, st, name)
	if prof.Status == nonexistent {
		// The machine's state cannot be read: GetStatus returns no statuses, which print as
		// null (JSON) or nothing (text); the exit code is the version's.
		fmt.Fprintf(os.Stderr, "E0000 status.go:179] status error: host: state: unknown state %q: %s\n", name, firstLine(inspectError(name, "{{.State.Status}}")))
		if p.json {
			fmt.Print("null")
		}
		os.Exit(rel.statusNoMachine)
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
			data, _ := json.Marshal(map[string]string{"message": m})
			printEvent("io.k8s.sigs.minikube.info", data)
		}
	} else {
		p.step(stShrug, "%s", msgs[0])
		p.step(stWorkaround, "%s", msgs[1])
	}
	os.Exit(exGuestNotFund)
}

// partial is mustload.Partial: the profile, or exit 85 when there is none (an invalid one
// counts as none), or HOST_CONFIG_LOAD when its file does not parse.
func partial(p *printer, st store, name string) *Profile {
	prof, err := st.load(name)
	if cerr, ok := err.(configError); ok {
		p.exitWith(kind{id: "HOST_CONFIG_LOAD", code: 38, issueLink: true}, "Error getting cluster config: "+cerr.Error())
	}
	if err != nil {
		fatal(err)
	}
	if prof == nil || prof.Status == invalid {
		notFound(p, name, p.json)
	}
	return prof
}

// inspectError is what minikube's oci.ContainerStatus gets for a profile without a machine:
// it runs `docker container inspect NAME --format=FORMAT` (FORMAT already eaten by templating
// for stop) and reports the error. The double runs the same command for the same words.
func inspectError(name, format string) string {
	cmd := exec.Command("docker", "container", "inspect", name, "--format="+format)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return "no container"
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	return fmt.Sprintf("%s\nstdout:\n%s\nstderr:\n%s", ee.String(), stdout.String(), stderr.String())
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
		prof := partial(p, st, name)
		if prof.Status == nonexistent {
			// minikube retries powering off a machine it cannot inspect, then gives up.
			for range 5 {
				p.step(stStopping, "Stopping node %q  ...", name)
			}
			p.exitWith(kind{id: "GUEST_STOP_TIMEOUT", code: 82, issueLink: true}, fmt.Sprintf(rel.stopNoMachine, name, inspectError(name, "<no value>")))
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
		_, unreadable := err.(configError)
		if err != nil && !unreadable {
			fatal(err)
		}
		if prof == nil || prof.Status == invalid {
			// minikube carries on and still removes the kubeconfig entries, then succeeds.
			p.errT(stMeh, "%q profile does not exist, trying anyways.", name)
			if unreadable {
				p.step(stDeleting, "Trying to delete invalid profile %s", name)
			}
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
	Config            *listedConfig
	Active            bool
	ActiveKubeContext bool
}

// invalidProfile is how minikube lists a profile directory it cannot load: no status, no config.
type invalidProfile struct {
	Name              string
	Status            string
	Config            *listedConfig
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
	valid, invalids := []listedProfile{}, []invalidProfile{}
	for _, pr := range ps {
		if pr.Status == invalid {
			invalids = append(invalids, invalidProfile{Name: pr.Name})
			continue
		}
		// A profile without a machine has no status: minikube leaves it empty.
		lp := listedProfile{Name: pr.Name, Status: map[string]string{running: "OK", stopped: "Stopped", paused: "Paused"}[pr.Status],
			Active: pr.Name == active, ActiveKubeContext: pr.Name == current}
		lp.Config = &listedConfig{CPUs: pr.CPUs, Memory: pr.Memory, Driver: pr.Driver}
		lp.Config.KubernetesConfig.KubernetesVersion = pr.KubernetesVersion
		valid = append(valid, lp)
	}
	if output == "json" {
		b, _ := json.Marshal(map[string]any{"invalid": invalids, "valid": valid})
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
			fmt.Println(rel.version)
			return
		}
		fmt.Printf("minikube version: %s\ncommit: %s\n", rel.version, rel.commit)
	case "json":
		b, _ := json.Marshal(map[string]string{"minikubeVersion": rel.version, "commit": rel.commit})
		fmt.Println(string(b))
	case "yaml":
		fmt.Printf("commit: %s\nminikubeVersion: %s\n\n", rel.commit, rel.version)
	default:
		p.exitWith(kind{id: "MK_OUTPUT_USAGE", code: 10}, "error: --output must be 'yaml' or 'json'")
	}
}

// pause and unpause need a running host (mustload.Running): a stopped profile ends with exit 83,
// a missing one with 85. The container count is made up; minikube counts what it froze.
func pause(p *printer, st store, in invocation, freeze bool) {
	name := in.profile()
	prof := partial(p, st, name)
	if prof.Status == nonexistent {
		p.exitWith(kind{id: "GUEST_STATUS", code: 80, issueLink: true},
			fmt.Sprintf("Unable to get control-plane node %s host status: state: unknown state %q: docker container inspect %s --format={{.State.Status}}: %s",
				name, name, name, inspectError(name, "{{.State.Status}}")))
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

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
