package minikube

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Exit is minikube's own account of why it stopped. Its exit.Message prints one line
// "Exiting due to ID: message" (after "X ", "! " or an emoji), then optionally
// "Suggestion: …" and "Documentation: …".
type Exit struct {
	Code       int
	ID         string // e.g. RSRC_INSUFFICIENT_CORES
	Message    string // the rest of the line
	Suggestion string // minikube's advice, one line; "" when it gave none
	Line       string // the "Exiting due to …" line as printed, for the user
	Driver     string // the driver minikube said it was using, if it got that far
}

var (
	exitLineRE   = regexp.MustCompile(`(?m)^.*Exiting due to ([A-Z][A-Z0-9_]*): ?(.*)$`)
	suggestionRE = regexp.MustCompile(`(?m)^.*Suggestion: ?(.*)$`)
	// "Using the docker driver based on …", "Automatically selected the docker driver".
	chosenDriverRE = regexp.MustCompile(`(?:Using|selected) the (\S+) driver`)
)

// ReadExit finds minikube's "Exiting due to" line in a failed command's output, or under
// -o json its error event; ok is false when minikube printed neither (it crashed, was killed,
// or failed in a way it has no name for). The conformance test reads the real minikube and
// its double through it, as svcgraph reads them.
func ReadExit(res execx.Result, code int) (Exit, bool) {
	if e, ok := readExitEvent(res.Stdout, code); ok {
		return e, true
	}
	out := string(res.Stderr) + "\n" + string(res.Stdout)
	m := exitLineRE.FindStringSubmatchIndex(out)
	if m == nil {
		return Exit{Code: code}, false
	}
	e := Exit{Code: code, ID: out[m[2]:m[3]], Message: strings.TrimSpace(out[m[4]:m[5]]),
		Line: strings.TrimSpace(out[m[0]:m[1]])}
	if d := chosenDriverRE.FindStringSubmatch(out); d != nil {
		e.Driver = d[1]
	}
	if s := suggestionRE.FindStringSubmatchIndex(out[m[1]:]); s != nil {
		rest := out[m[1]:]
		e.Suggestion = strings.TrimSpace(rest[s[2]:s[3]])
		if e.Suggestion == "" {
			// A multi-line suggestion starts on the next indented line.
			for _, l := range strings.Split(rest[s[1]:], "\n") {
				if l = strings.TrimSpace(l); l != "" {
					e.Suggestion = l
					break
				}
			}
		}
	}
	return e, true
}

// readExitEvent reads the CloudEvent that exit.Message prints instead of its line under -o json:
// {"type":"io.k8s.sigs.minikube.error","data":{"name":ID,"exitcode":"N","message":…,"advice":…}}.
func readExitEvent(stdout []byte, code int) (Exit, bool) {
	for _, line := range strings.Split(string(stdout), "\n") {
		var ev struct {
			Type string
			Data struct{ Name, Message, Advice string }
		}
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &ev) != nil || ev.Type != "io.k8s.sigs.minikube.error" || ev.Data.Name == "" {
			continue
		}
		e := Exit{Code: code, ID: ev.Data.Name, Message: ev.Data.Message, Suggestion: strings.TrimSpace(ev.Data.Advice)}
		e.Line = "Exiting due to " + e.ID + ": " + firstLine(e.Message)
		return e, true
	}
	return Exit{}, false
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

// keepExitLine makes sure the error shows minikube's own reason: the tail of its output that
// an ExitError carries can start below the line (a long error, minikube's "please let us know"
// box), so the line goes first when the tail lacks it.
func keepExitLine(err error, e Exit) {
	var ee *execx.ExitError
	if e.Line == "" || !errors.As(err, &ee) || strings.Contains(ee.Tail, e.Line) {
		return
	}
	ee.Tail = e.Line + "\n[…]\n" + ee.Tail
}

// suggested appends minikube's own suggestion to svcgraph's advice.
func (e Exit) suggested(advice string) string {
	if e.Suggestion == "" || strings.Contains(advice, e.Suggestion) {
		return advice
	}
	return advice + "\nminikube suggests: " + e.Suggestion
}

// driverName is the driver a failure is about: the one minikube names in a PROVIDER_<X>_… ID,
// else the one asked for, else the one minikube said it chose.
func (e Exit) driverName(asked string) string {
	if rest, ok := strings.CutPrefix(e.ID, "PROVIDER_"); ok {
		for _, d := range drivers {
			if strings.HasPrefix(rest, strings.ToUpper(d)+"_") {
				return d
			}
		}
	}
	switch {
	case asked != "":
		return asked
	case e.Driver != "":
		return e.Driver
	}
	return "the driver"
}

// drivers are minikube's driver names (pkg/minikube/driver).
var drivers = []string{"docker", "podman", "kvm2", "qemu2", "virtualbox", "vfkit", "krunkit", "hyperkit",
	"hyperv", "parallels", "vmware", "none", "ssh"}

var (
	availableCPUsRE   = regexp.MustCompile(`available cpus of (\d+)`)
	systemLimitRE     = regexp.MustCompile(`system limit (\d+)MB`)
	containerOnlyRE   = regexp.MustCompile(`(?:only has|has only) (\d+)MiB`)
	containerOnlyMBRE = regexp.MustCompile(`has only (\d+)MB memory`)
)

func firstInt(re *regexp.Regexp, s string) (int, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

const driversDoc = "https://minikube.sigs.k8s.io/docs/drivers/"

// classify turns a failed minikube command into a svcgraph reason from minikube's exit code
// and the ID on its "Exiting due to" line (minikube's pkg/minikube/reason). what says what
// failed ("start profile \"svcgraph\""); o is the start that was asked for, if any.
func classify(err error, res execx.Result, what string, o StartOptions) error {
	code := execx.ExitCode(err)
	e, said := ReadExit(res, code)
	if !said {
		return reason.Ensure(reason.MinikubeFailed, err, "", "minikube could not %s", what)
	}
	keepExitLine(err, e)
	k, msg, advice := e.verdict(o)
	if k == (reason.Kind{}) {
		return reason.Ensure(reason.MinikubeFailed, err, e.suggested(""), "minikube could not %s", what)
	}
	return reason.Wrap(k, err, advice, "minikube could not %s: %s", what, msg)
}

// verdict is the table: minikube's failure → svcgraph's kind, what went wrong, what to do.
// A zero kind means minikube named a failure this table does not know.
func (e Exit) verdict(o StartOptions) (reason.Kind, string, string) {
	drv := e.driverName(o.Driver)
	purge := "svcgraph down --purge"
	if o.Profile != "" {
		purge = fmt.Sprintf("svcgraph down --purge --profile %s", o.Profile)
	}
	switch {
	// Resources.
	case e.Code == 29 || strings.HasPrefix(e.ID, "RSRC_") && strings.HasSuffix(e.ID, "_CORES"):
		if n, ok := firstInt(availableCPUsRE, e.Message); ok {
			return reason.MinikubeCPUs, fmt.Sprintf("%s has only %d CPUs, fewer than the %d asked for", drv, n, o.CPUs),
				fmt.Sprintf("Ask for at most --cpus %d, or give %s more CPUs (Docker Desktop: Settings › Resources).", n, drv)
		}
		return reason.MinikubeCPUs, fmt.Sprintf("%s has fewer than %d CPUs", drv, MinCPUs),
			e.suggested(fmt.Sprintf("Kubernetes needs at least %d CPUs: give %s more (Docker Desktop: Settings › Resources), or use a machine with more.", MinCPUs, drv))
	case e.ID == "RSRC_OVER_ALLOC_MEM":
		limit, _ := firstInt(systemLimitRE, e.Message)
		return reason.MinikubeMemory, fmt.Sprintf("--memory %s is more than this system's %s", FormatMemory(o.MemoryMB), FormatMemory(limit)),
			e.suggested(fmt.Sprintf("Ask for less with --memory (at least %s).", FormatMemory(MinMemoryMB)))
	case e.ID == "RSRC_INSUFFICIENT_SYS_MEMORY":
		return reason.MinikubeMemory, "this system has less memory than Kubernetes needs",
			fmt.Sprintf("minikube needs at least %s of memory: close other programs, or use a machine with more.", FormatMemory(MinMemoryMB))
	case e.ID == "RSRC_INSUFFICIENT_REQ_MEMORY":
		return reason.MinikubeMemory, fmt.Sprintf("--memory %s is less than Kubernetes needs", FormatMemory(o.MemoryMB)),
			fmt.Sprintf("Ask for at least --memory %s.", FormatMemory(MinMemoryMB))
	case e.ID == "RSRC_INVALID_HYPERV_MEMORY":
		return reason.MinikubeMemory, fmt.Sprintf("Hyper-V needs an even number of MB, not --memory %s", FormatMemory(o.MemoryMB)),
			fmt.Sprintf("Pass an even --memory, e.g. --memory %s.", FormatMemory(o.MemoryMB-1))
	case e.Code == 23 || strings.HasPrefix(e.ID, "RSRC_") && strings.HasSuffix(e.ID, "_MEMORY"):
		have := "less memory than Kubernetes needs"
		if n, ok := firstInt(containerOnlyRE, e.Message); ok {
			have = fmt.Sprintf("only %dMiB of memory", n)
		}
		return reason.MinikubeMemory, fmt.Sprintf("%s has %s", drv, have),
			fmt.Sprintf("Give %s at least %s of memory (Docker Desktop: Settings › Resources; Linux: memory limits of the docker service), then run svcgraph up again.",
				drv, FormatMemory(MinMemoryMB))
	case e.Code == 14 && containerOnlyMBRE.MatchString(e.Message):
		n, _ := firstInt(containerOnlyMBRE, e.Message)
		return reason.MinikubeMemory, fmt.Sprintf("%s has only %s of memory, less than --memory %s", drv, FormatMemory(n), FormatMemory(o.MemoryMB)),
			fmt.Sprintf("Ask for at most --memory %s, or give %s more memory (Docker Desktop: Settings › Resources).", FormatMemory(n), drv)
	case e.Code == 26 || strings.HasSuffix(e.ID, "_STORAGE"):
		return reason.MinikubeProvision, "not enough disk space", e.suggested("Free disk space (for Docker: `docker system prune`), then run svcgraph up again.")

	// Permissions: root, sudo, the docker group.
	case e.ID == "DRV_AS_ROOT":
		return reason.MinikubePerm, fmt.Sprintf("the %s driver refuses to run as root", drv),
			"Run svcgraph as your regular user, one allowed to use the driver (for Docker: in the docker group, `sudo usermod -aG docker $USER`, then log in again)."
	case e.ID == "DRV_NEEDS_ROOT":
		return reason.MinikubePerm, fmt.Sprintf("the %s driver needs root", drv),
			e.suggested("Run svcgraph as root or with passwordless sudo, or choose another driver with --driver.")
	case e.Code == 37 || strings.HasPrefix(e.ID, "HOST_HOME_"):
		return reason.MinikubePerm, "minikube may not write its own files (~/.minikube, or $MINIKUBE_HOME)",
			e.suggested("Give your user back its minikube directory: `sudo chown -R $USER ~/.minikube` (or $MINIKUBE_HOME).")
	case e.Code == 27 || e.Code == 57 || e.Code == 67 || strings.HasSuffix(e.ID, "_NEWGRP") || strings.Contains(e.ID, "PERMISSION"):
		return reason.MinikubePerm, fmt.Sprintf("%s is not allowed to use %s", "your user", drv),
			e.suggested("Give your user access to the driver (for Docker: `sudo usermod -aG docker $USER`, then log in again), or choose another with --driver.")

	// The driver.
	case e.ID == "DRV_NOT_DETECTED":
		return reason.MinikubeDriver, "no driver found (no Docker, Podman, KVM, QEMU or VirtualBox on PATH)",
			"Install Docker (Linux: https://docs.docker.com/engine/install/; macOS and Windows: Docker Desktop) or another minikube driver (" + driversDoc + "), or name one you have with --driver."
	case e.ID == "DRV_DOCKER_NOT_RUNNING" || strings.HasSuffix(e.ID, "_NOT_RUNNING") && strings.HasPrefix(e.ID, "PROVIDER_"):
		if e.ID == "DRV_DOCKER_NOT_RUNNING" {
			drv = "docker"
		}
		return reason.MinikubeDriver, fmt.Sprintf("%s is installed but not running", drv),
			e.suggested(fmt.Sprintf("Start %s (Docker Desktop, or `sudo systemctl start docker`), then run svcgraph up again.", drv))
	case e.Code == 65 || e.ID == "DRV_NOT_FOUND" || strings.HasSuffix(e.ID, "_NOT_FOUND") && strings.HasPrefix(e.ID, "PROVIDER_"):
		return reason.MinikubeDriver, fmt.Sprintf("the %s driver is not installed", drv),
			e.suggested(fmt.Sprintf("Install what the %s driver needs (%s), or choose an installed driver with --driver.", drv, driversDoc))
	case e.Code == 56 || e.ID == "DRV_UNSUPPORTED_OS":
		return reason.MinikubeDriver, fmt.Sprintf("minikube has no driver %q for this system", drv),
			"Choose a driver minikube supports here with --driver (" + driversDoc + "), or leave --driver out to let minikube pick one."
	case e.Code >= 50 && e.Code < 70 || e.ID == "DRV_NOT_HEALTHY" || e.Code == 14 && strings.Contains(e.Message, "is running and is healthy"):
		return reason.MinikubeDriver, fmt.Sprintf("%s is not healthy", drv),
			e.suggested(fmt.Sprintf("Fix %s as minikube says above (restarting it often helps), or choose another driver with --driver.", drv))

	// The profile.
	case e.ID == "GUEST_DRIVER_MISMATCH" || e.Code == 81:
		return reason.MinikubeDriverMis, fmt.Sprintf("profile %q was created with another driver than %s", o.Profile, drv),
			fmt.Sprintf("Run `%s` to delete it, or leave --driver out to start it with its own driver.", purge)
	case e.ID == "HOST_CONFIG_LOAD":
		return reason.MinikubeBroken, "minikube cannot read the profile's configuration",
			fmt.Sprintf("Run `%s` to delete the profile, then svcgraph up to create it again.", purge)

	// The machine, and Kubernetes in it.
	case e.ID == "GUEST_STATUS":
		return reason.MinikubeBroken, "minikube cannot read the state of the profile's machine",
			e.suggested(fmt.Sprintf("Check that the driver runs (for Docker: `docker ps`); if the machine is gone, `%s` deletes the profile.", purge))
	case e.ID == "GUEST_STOP_TIMEOUT":
		return reason.MinikubeProvision, "the machine did not stop",
			e.suggested(fmt.Sprintf("Check that the driver runs (for Docker: `docker ps`), or delete the profile with `%s`.", purge))
	case e.Code >= 40 && e.Code < 50:
		return reason.MinikubeProvision, "a download failed",
			e.suggested("Check the internet connection and any proxy (HTTPS_PROXY, NO_PROXY), then run svcgraph up again.")
	case e.Code >= 30 && e.Code < 40 || e.Code >= 70:
		return reason.MinikubeProvision, provisionArea(e.Code) + " failed (" + e.ID + ")",
			e.suggested(fmt.Sprintf("minikube says why above. Run `%s` to delete what the failed start left, then svcgraph up; `minikube logs -p %s` says more.", purge, o.Profile))

	// Everything else minikube refused outright: a flag it does not accept.
	case e.Code >= 10 && e.Code < 20:
		return reason.MinikubeRefused, "minikube refused the request (" + e.ID + ")",
			e.suggested("minikube says why above; change the --cpus, --memory, --driver or --profile it names.")
	}
	return reason.Kind{}, "", ""
}

// provisionArea names what failed by the range of minikube's exit code (pkg/minikube/reason
// exitcodes.go: the ranges follow minikube's dependency stack).
func provisionArea(code int) string {
	switch {
	case code < 40:
		return "minikube on this host"
	case code < 80:
		return "local networking"
	case code < 90:
		return "the machine"
	case code < 100:
		return "the container runtime in the machine"
	case code < 110:
		return "Kubernetes in the machine"
	}
	return "a Kubernetes service in the machine"
}
