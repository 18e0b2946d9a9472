// Package minikube drives the minikube CLI through the exec seam and turns its JSON and exit
// codes into states and advice. It never decides what to do; the minikube step does.
package minikube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// Exit codes of minikube that svcgraph gives advice for (minikube's pkg/minikube/reason/exitcodes.go).
const (
	exitInsufficientMemory = 23
	exitDriverNotFound     = 55
	exitProviderNotRunning = 63
	exitProviderNotFound   = 65
	exitGuestConflict      = 81
	exitGuestNotFound      = 85
)

// Bits of `minikube status`'s exit code (cmd/minikube/cmd/status.go).
const (
	statusHostNotRunning    = 1 << 0
	statusClusterNotRunning = 1 << 1
	statusKubeconfigNotSet  = 1 << 2
)

// State is what svcgraph needs to know about a profile.
type State string

const (
	Absent  State = "Absent"
	Running State = "Running"
	Stopped State = "Stopped"
	Paused  State = "Paused"
	Broken  State = "Broken" // exists, but some component is neither running nor cleanly stopped
)

// Status is `minikube status -o json` for one node, plus the state derived from it.
type Status struct {
	Name       string
	Host       string
	Kubelet    string
	APIServer  string
	Kubeconfig string
	State      State `json:"-"`
}

// Profile is one entry of `minikube profile list -o json`.
type Profile struct {
	Name   string
	Status string // OK, Stopped, Paused, Error, …
	Config struct {
		CPUs             int
		Memory           int // MB
		Driver           string
		KubernetesConfig struct {
			KubernetesVersion string
		}
	}
}

// Driver runs minikube.
type Driver struct {
	Exec   execx.Runner
	Binary string // "minikube" unless a test says otherwise
}

func (d Driver) bin() string {
	if d.Binary == "" {
		return "minikube"
	}
	return d.Binary
}

// InstallHint is where minikube comes from.
const InstallHint = "Install minikube: https://minikube.sigs.k8s.io/docs/start/"

func (d Driver) run(ctx context.Context, args ...string) (execx.Result, error) {
	res, err := d.Exec.Run(ctx, execx.Command(d.bin(), args...))
	var nf *execx.NotFoundError
	if errors.As(err, &nf) {
		return res, reason.Wrap(reason.MissingBinary, err, InstallHint, "minikube is not installed")
	}
	return res, err
}

// Status reports the profile's state. minikube encodes "not running" in status's exit code, so a
// non-zero exit is an answer, not a failure, as long as the JSON came back.
func (d Driver) Status(ctx context.Context, profile string) (Status, error) {
	res, err := d.run(ctx, "status", "-p", profile, "-o", "json")
	code := res.ExitCode
	if code == exitGuestNotFound {
		return Status{Name: profile, State: Absent}, nil
	}
	var st Status
	if jerr := json.Unmarshal(firstJSONObject(res.Stdout), &st); jerr != nil {
		if err != nil {
			return Status{}, err
		}
		return Status{}, fmt.Errorf("reading `minikube status -p %s -o json`: %w (output: %q)", profile, jerr, string(res.Stdout))
	}
	if err != nil && code < 0 {
		return Status{}, err
	}
	switch {
	case st.Host == "Nonexistent":
		st.State = Absent
	case code == 0:
		st.State = Running
	case st.APIServer == "Paused":
		st.State = Paused
	case code&statusHostNotRunning != 0 && st.Host == "Stopped":
		st.State = Stopped
	default:
		st.State = Broken
	}
	return st, nil
}

// firstJSONObject skips anything minikube prints before the JSON (warnings go to stdout in
// some versions) and trailing text after it.
func firstJSONObject(b []byte) []byte {
	s := string(b)
	if i := strings.IndexByte(s, '{'); i >= 0 {
		s = s[i:]
	}
	if i := strings.LastIndexByte(s, '}'); i >= 0 {
		s = s[:i+1]
	}
	return []byte(s)
}

// Profile returns the named profile from `minikube profile list -o json`, or nil if there is none.
func (d Driver) Profile(ctx context.Context, name string) (*Profile, error) {
	res, err := d.run(ctx, "profile", "list", "-o", "json")
	var list struct {
		Invalid []Profile `json:"invalid"`
		Valid   []Profile `json:"valid"`
	}
	if jerr := json.Unmarshal(firstJSONObject(res.Stdout), &list); jerr != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("reading `minikube profile list -o json`: %w", jerr)
	}
	for _, group := range [][]Profile{list.Valid, list.Invalid} {
		for i := range group {
			if group[i].Name == name {
				return &group[i], nil
			}
		}
	}
	return nil, nil
}

// StartOptions are the flags of `minikube start` that svcgraph sets.
type StartOptions struct {
	Profile  string
	CPUs     int
	MemoryMB int
	Driver   string // "" lets minikube choose
}

// Start creates or starts the profile. Its errors carry minikube's exit code as advice.
func (d Driver) Start(ctx context.Context, o StartOptions) error {
	args := []string{"start", "-p", o.Profile, "--cpus", strconv.Itoa(o.CPUs), "--memory", strconv.Itoa(o.MemoryMB)}
	if o.Driver != "" {
		args = append(args, "--driver", o.Driver)
	}
	_, err := d.run(ctx, args...)
	return classifyStart(o, err)
}

func classifyStart(o StartOptions, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || reason.Of(err).Kind == reason.MissingBinary {
		return err
	}
	driver := o.Driver
	if driver == "" {
		driver = "the driver minikube chose (usually docker)"
	}
	switch execx.ExitCode(err) {
	case exitInsufficientMemory:
		return reason.Wrap(reason.MinikubeMemory, err,
			fmt.Sprintf("%s does not have %s of memory to give: raise the memory limit of Docker Desktop / your VM, or ask for less with --memory (at least %s).",
				driver, FormatMemory(o.MemoryMB), FormatMemory(MinMemoryMB)),
			"minikube could not start profile %q: not enough memory", o.Profile)
	case exitDriverNotFound, exitProviderNotRunning:
		return reason.Wrap(reason.MinikubeDriver, err, "",
			"minikube could not start profile %q: %s is not running or not found", o.Profile, driver)
	case exitProviderNotFound:
		return reason.Wrap(reason.MinikubeDriver, err,
			"Install the driver (e.g. Docker Desktop, or `--driver=qemu`), or choose an installed one with --driver.",
			"minikube could not start profile %q: %s is not installed", o.Profile, driver)
	case exitGuestConflict:
		return reason.Wrap(reason.MinikubeDriverMis, err, "",
			"minikube profile %q exists with another driver than %s", o.Profile, driver)
	}
	return reason.Wrap(reason.MinikubeFailed, err, "", "minikube could not start profile %q", o.Profile)
}

// Stop stops the profile; an absent profile is already stopped.
func (d Driver) Stop(ctx context.Context, profile string) error {
	_, err := d.run(ctx, "stop", "-p", profile)
	if err == nil || execx.ExitCode(err) == exitGuestNotFound {
		return nil
	}
	return reason.Ensure(reason.MinikubeFailed, err, "", "minikube could not stop profile %q", profile)
}

// Delete deletes the profile and its kubeconfig context; an absent profile is already deleted.
func (d Driver) Delete(ctx context.Context, profile string) error {
	_, err := d.run(ctx, "delete", "-p", profile)
	if err == nil || execx.ExitCode(err) == exitGuestNotFound {
		return nil
	}
	return reason.Ensure(reason.MinikubeFailed, err, "", "minikube could not delete profile %q", profile)
}

// Unpause resumes a paused profile.
func (d Driver) Unpause(ctx context.Context, profile string) error {
	_, err := d.run(ctx, "unpause", "-p", profile)
	return reason.Ensure(reason.MinikubeFailed, err, "", "minikube could not unpause profile %q", profile)
}
