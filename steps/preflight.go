package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// tool is one program svcgraph needs on PATH: how to ask its version, the oldest one that works,
// and how to install it on each OS.
type tool struct {
	name    string
	args    []string
	version func(out []byte) (string, error)
	min     string
	install map[string]string // GOOS → hint
}

var tools = []tool{
	{
		name: "kubectl", args: []string{"version", "--client", "-o", "json"}, min: "v1.28.0",
		version: func(out []byte) (string, error) {
			var v struct {
				ClientVersion struct{ GitVersion string } `json:"clientVersion"`
			}
			err := json.Unmarshal(out, &v)
			return v.ClientVersion.GitVersion, err
		},
		install: map[string]string{
			"darwin":  "brew install kubectl",
			"linux":   "see https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ (or: sudo snap install kubectl --classic)",
			"windows": "winget install -e --id Kubernetes.kubectl",
		},
	},
	{
		name: "minikube", args: []string{"version", "-o", "json"}, min: "v1.32.0",
		version: func(out []byte) (string, error) {
			var v struct{ MinikubeVersion string }
			err := json.Unmarshal(out, &v)
			return v.MinikubeVersion, err
		},
		install: map[string]string{
			"darwin":  "brew install minikube",
			"linux":   "see https://minikube.sigs.k8s.io/docs/start/ (curl -LO https://storage.googleapis.com/minikube/releases/latest/minikube-linux-amd64 && sudo install minikube-linux-amd64 /usr/local/bin/minikube)",
			"windows": "winget install -e --id Kubernetes.minikube",
		},
	},
	{
		name: "helm", args: []string{"version", "--template", "{{.Version}}"}, min: "v3.12.0",
		version: func(out []byte) (string, error) { return strings.TrimSpace(string(out)), nil },
		install: map[string]string{
			"darwin":  "brew install helm",
			"linux":   "see https://helm.sh/docs/intro/install/ (or: sudo snap install helm --classic)",
			"windows": "winget install -e --id Helm.Helm",
		},
	},
}

// Preflight checks that the programs the target needs (kubectl, helm, and minikube for a
// minikube profile) are installed and new enough, and what the host must give the cluster.
type Preflight struct{}

func (Preflight) ID() string    { return "preflight" }
func (Preflight) Title() string { return "Checking prerequisites" }

func (Preflight) Run(ctx context.Context, s *Session) error {
	if !s.Config.NoForward {
		// Said first, not only when the forward starts minutes later (or in a detached log).
		s.warnExposedAddress()
	}
	var found, missing, old []string
	var advice []string
	needed := toolsNamed(s.target().tools())
	versions := readVersions(ctx, s.Exec, needed)
	for i, t := range needed {
		if versions[i].missing {
			missing = append(missing, t.name)
			advice = append(advice, fmt.Sprintf("install %s: %s", t.name, t.hint(s.GOOS)))
			continue
		}
		v, err := versions[i].v, versions[i].err
		if err != nil {
			return err
		}
		if semver.MustParse(t.min).GreaterThan(v) {
			old = append(old, fmt.Sprintf("%s %s (need %s or newer)", t.name, v.Original(), t.min))
			advice = append(advice, fmt.Sprintf("upgrade %s: %s", t.name, t.hint(s.GOOS)))
			continue
		}
		found = append(found, t.name+" "+v.Original())
	}
	switch {
	case len(missing) > 0:
		return reason.New(reason.MissingBinary, strings.Join(advice, "\n"), "not found on PATH: %s", strings.Join(missing, ", "))
	case len(old) > 0:
		return reason.New(reason.OldBinary, strings.Join(advice, "\n"), "too old: %s", strings.Join(old, ", "))
	}
	if err := s.target().checkHost(s); err != nil {
		return err
	}
	if err := s.checkForwardPort(); err != nil {
		return err
	}
	s.Result(strings.Join(found, ", "))
	return nil
}

// checkHostCPUs refuses --cpus beyond the host's count before minikube is started: every driver
// refuses it too (exit 29), but only after minikube has looked for a driver, and a 2-core laptop
// meets it with svcgraph's default of 4.
func checkHostCPUs(s *Session) error {
	if s.HostCPUs == nil {
		return nil
	}
	n, ok := s.HostCPUs()
	if !ok || n >= s.Config.CPUs {
		return nil
	}
	if n < minikube.MinCPUs {
		return reason.New(reason.HostCPUs, fmt.Sprintf("minikube needs at least %d CPUs; run svcgraph on a machine (or VM) with %d or more.", minikube.MinCPUs, minikube.MinCPUs),
			"this host has %d CPU, fewer than the %d minikube needs", n, minikube.MinCPUs)
	}
	return reason.New(reason.HostCPUs, fmt.Sprintf("Ask for at most --cpus %d (this host has %d; minikube needs at least %d).", n, n, minikube.MinCPUs),
		"--cpus %d is more than this host's %d CPUs", s.Config.CPUs, n)
}

type toolVersion struct {
	missing bool // not on PATH
	v       *semver.Version
	err     error
}

// readVersions asks every tool on PATH for its version at once: one after the other, the three
// start-ups were 0.3 s of every `up`. The result is in the order of tools.
func readVersions(ctx context.Context, x execx.Runner, tools []tool) []toolVersion {
	out := make([]toolVersion, len(tools))
	var wg sync.WaitGroup
	for i, t := range tools {
		if _, err := x.LookPath(t.name); err != nil {
			out[i].missing = true
			continue
		}
		wg.Go(func() { out[i].v, out[i].err = t.read(ctx, x) })
	}
	wg.Wait()
	return out
}

// toolsNamed picks the tools of those names, in the order of the tools list.
func toolsNamed(names []string) []tool {
	var out []tool
	for _, t := range tools {
		if slices.Contains(names, t.name) {
			out = append(out, t)
		}
	}
	return out
}

func (t tool) hint(goos string) string {
	if h, ok := t.install[goos]; ok {
		return h
	}
	return t.install["linux"]
}

func (t tool) read(ctx context.Context, x execx.Runner) (*semver.Version, error) {
	c := execx.Command(t.name, t.args...)
	res, err := x.Run(ctx, c)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, reason.Wrap(reason.OldBinary, err, fmt.Sprintf("Check that `%s` works; reinstall %s if it does not: %s", c, t.name, t.hint("linux")),
			"could not read the version of %s", t.name)
	}
	raw, err := t.version(res.Stdout)
	if err == nil {
		var v *semver.Version
		if v, err = semver.NewVersion(raw); err == nil {
			return v, nil
		}
	}
	return nil, reason.New(reason.OldBinary, fmt.Sprintf("Run `%s` yourself; svcgraph needs %s %s or newer.", c, t.name, t.min),
		"could not understand the version %s printed: %q", t.name, strings.TrimSpace(string(res.Stdout)))
}
