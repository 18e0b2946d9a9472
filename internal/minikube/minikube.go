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

// minikube's exit code for a profile it does not know (pkg/minikube/reason: ExGuestNotFound).
const exitGuestNotFound = 85

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
	// Unknown: minikube knows the profile but cannot read its machine's state: the machine was
	// never made (a start failed after saving the profile), or its driver does not answer.
	Unknown State = "Unknown"
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
	if err != nil && code < 0 {
		return Status{}, err
	}
	st, found := statusJSON(res.Stdout)
	switch {
	case !found && err != nil:
		return Status{}, d.failed(err, res, fmt.Sprintf("read the state of profile %q", profile), StartOptions{Profile: profile})
	case !found:
		return Status{}, fmt.Errorf("reading `minikube status -p %s -o json`: no status in its output %q", profile, string(res.Stdout))
	case st == nil:
		// `null`: minikube knows the profile but could not read its machine's state (v1.37
		// exits 0 here, v1.38 exits 7).
		return Status{Name: profile, State: Unknown}, nil
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
	return *st, nil
}

// statusJSON finds the status in `minikube status -o json`'s output: an object with a Host, or
// `null` (st nil, found true). Other lines (warnings, events) are skipped.
func statusJSON(stdout []byte) (st *Status, found bool) {
	for _, line := range strings.Split(string(stdout), "\n") {
		line = strings.TrimSpace(line)
		if line == "null" {
			return nil, true
		}
		var s Status
		var keys map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &keys) != nil || keys["Host"] == nil || json.Unmarshal([]byte(line), &s) != nil {
			continue
		}
		return &s, true
	}
	return nil, false
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
			return nil, d.failed(err, res, "list its profiles", StartOptions{Profile: name})
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

// firstJSONObject skips anything minikube prints before the JSON and trailing text after it.
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

// StartOptions are the flags of `minikube start` that svcgraph sets.
type StartOptions struct {
	Profile  string
	CPUs     int
	MemoryMB int
	Driver   string // "" lets minikube choose
}

// Start creates or starts the profile. Its errors carry minikube's reason as svcgraph's kind
// and advice (see failure.go).
func (d Driver) Start(ctx context.Context, o StartOptions) error {
	args := []string{"start", "-p", o.Profile, "--cpus", strconv.Itoa(o.CPUs), "--memory", strconv.Itoa(o.MemoryMB)}
	if o.Driver != "" {
		args = append(args, "--driver", o.Driver)
	}
	res, err := d.run(ctx, args...)
	return d.failed(err, res, fmt.Sprintf("start profile %q", o.Profile), o)
}

// failed passes success, interrupts and a missing minikube through, and classifies the rest.
func (d Driver) failed(err error, res execx.Result, what string, o StartOptions) error {
	if err == nil || errors.Is(err, context.Canceled) || reason.Of(err).Kind == reason.MissingBinary {
		return err
	}
	return classify(err, res, what, o)
}

// Stop stops the profile; an absent profile is already stopped.
func (d Driver) Stop(ctx context.Context, profile string) error {
	res, err := d.run(ctx, "stop", "-p", profile)
	if execx.ExitCode(err) == exitGuestNotFound {
		return nil
	}
	return d.failed(err, res, fmt.Sprintf("stop profile %q", profile), StartOptions{Profile: profile})
}

// Delete deletes the profile and its kubeconfig context; an absent profile is already deleted.
func (d Driver) Delete(ctx context.Context, profile string) error {
	res, err := d.run(ctx, "delete", "-p", profile)
	if execx.ExitCode(err) == exitGuestNotFound {
		return nil
	}
	return d.failed(err, res, fmt.Sprintf("delete profile %q", profile), StartOptions{Profile: profile})
}

// Unpause resumes a paused profile.
func (d Driver) Unpause(ctx context.Context, profile string) error {
	res, err := d.run(ctx, "unpause", "-p", profile)
	return d.failed(err, res, fmt.Sprintf("unpause profile %q", profile), StartOptions{Profile: profile})
}
