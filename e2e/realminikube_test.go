package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/minikubetest"
	"github.com/svcgraph/svcgraph/internal/reason"
)

// TestUpMeetsRealMinikubeRefusals runs `up` against the real minikube v1.37.0 and v1.38.1 in
// each way a start is refused on a machine without a working driver: each ends with its own
// exit code, svcgraph's words and advice, and minikube's own reason line; nothing is
// downloaded or installed and no kubeconfig context is made.
func TestUpMeetsRealMinikubeRefusals(t *testing.T) {
	bins := minikubetest.Binaries(t)
	root := os.Geteuid() == 0
	stopped := &minikubetest.Docker{CPUs: 4, MemoryMB: 16384, Stopped: true}
	// Past minikube's CPU and memory checks, root is refused; a user meets Docker's memory.
	pastChecks := struct {
		kind   reason.Kind
		pieces []string
	}{reason.MinikubeMemory, []string{"docker has only 4G of memory, less than --memory 6G", "Exiting due to MK_USAGE: Docker has only 4096MB memory but you specified 6144MB",
		"What to do: Ask for at most --memory 4G"}}
	if root {
		pastChecks.kind, pastChecks.pieces = reason.MinikubePerm, []string{"the docker driver refuses to run as root",
			"Exiting due to DRV_AS_ROOT", "What to do: Run svcgraph as your regular user"}
	}
	for _, v := range minikubetest.Versions {
		for _, c := range []struct {
			name   string
			docker *minikubetest.Docker
			flags  []string
			kind   reason.Kind
			pieces []string
		}{
			{"no driver", nil, nil, reason.MinikubeDriver,
				[]string{"no driver found", "Exiting due to DRV_NOT_DETECTED", "What to do: Install Docker"}},
			{"docker not running", stopped, nil, reason.MinikubeDriver,
				[]string{"docker is installed but not running", "Exiting due to DRV_DOCKER_NOT_RUNNING", "What to do: Start docker"}},
			{"docker not running, asked for", stopped, []string{"--driver", "docker"}, reason.MinikubeDriver,
				[]string{"docker is installed but not running", "Exiting due to PROVIDER_DOCKER_NOT_RUNNING", "minikube suggests: Start the Docker service"}},
			{"docker missing, asked for", nil, []string{"--driver", "docker"}, reason.MinikubeDriver,
				[]string{"the docker driver is not installed", "Exiting due to PROVIDER_DOCKER_NOT_FOUND", "minikube suggests: Install Docker"}},
			{"none driver", nil, []string{"--driver", "none"}, reason.MinikubeDriver,
				[]string{"the none driver is not installed", "Exiting due to PROVIDER_NONE_NOT_FOUND", "minikube suggests: iptables must be installed"}},
			{"unknown driver", nil, []string{"--driver", "hyperkit"}, reason.MinikubeDriver,
				[]string{`minikube has no driver "hyperkit" for this system`, "Exiting due to DRV_UNSUPPORTED_OS"}},
			{"docker with one CPU", &minikubetest.Docker{CPUs: 1, MemoryMB: 16384}, nil, reason.MinikubeCPUs,
				[]string{"docker has fewer than 2 CPUs", "Exiting due to RSRC_INSUFFICIENT_CORES", "What to do: Kubernetes needs at least 2 CPUs"}},
			{"docker's memory", &minikubetest.Docker{CPUs: 4, MemoryMB: 1024}, nil, reason.MinikubeMemory,
				[]string{"docker has only 1024MiB of memory", "Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY", "What to do: Give docker at least 1800mb"}},
			{"past the checks", &minikubetest.Docker{CPUs: 4, MemoryMB: 4096}, []string{"--memory", "6G"}, pastChecks.kind, pastChecks.pieces},
		} {
			t.Run(v+"/"+c.name, func(t *testing.T) {
				w := newWorld(t, "real", withRealMinikube(bins[v]), withDocker(c.docker))
				r := w.run(t, 5*time.Minute, w.upArgs(append([]string{"--no-forward"}, c.flags...)...)...)
				expect(t, r, c.kind.ExitCode)
				mustContain(t, r, append([]string{"FAIL Starting minikube", "minikube start -p " + w.Profile,
					"(" + c.kind.ID + ", exit code"}, c.pieces...)...)
				// The charts were pulled and checked before minikube started (into svcgraph's cache);
				// the user's Helm configuration gains the repositories only after minikube runs.
				helmConfigUntouched(t, w)
				w.unchanged(t)
				if data, err := os.ReadFile(w.kubeconfig); err == nil && strings.Contains(string(data), "name: "+w.Profile) {
					t.Errorf("the refused start made a kubeconfig entry for %s:\n%s", w.Profile, data)
				}
			})
		}
	}
}

// TestBrokenProfileWithRealMinikube: profiles that a failed start leaves behind, with the real
// minikube v1.37.0 and v1.38.1. One has no machine (its creation failed): v1.37 reports it as
// status `null` with exit 0, which svcgraph once took for a running profile. `up` must try to
// start it and, when that fails, point at `down --purge`; `down --stop` has nothing to stop;
// `down --purge` deletes it. The other has a config minikube cannot load: `up` and `down` say
// so with the same way out, and `down --purge` takes it.
func TestBrokenProfileWithRealMinikube(t *testing.T) {
	bins := minikubetest.Binaries(t)
	for _, v := range minikubetest.Versions {
		t.Run(v+"/no machine", func(t *testing.T) {
			w := newWorld(t, "nomachine", withRealMinikube(bins[v]))
			// The fake docker cannot create a container: minikube saves the profile, then fails.
			if code, out := w.minikube(t, "start", "-p", w.Profile, "--cpus", "2", "--memory", "8192", "--force"); code != 80 {
				t.Fatalf("minikube start --force: exit %d, want 80 (GUEST_PROVISION)\n%s", code, out)
			}
			purge := "svcgraph down --purge --profile " + w.Profile
			r := w.run(t, 5*time.Minute, w.upArgs("--no-forward")...)
			if strings.Contains(r.output(), "reused running profile") {
				t.Fatalf("up took the profile without a machine for a running one\n%s", r)
			}
			// Starting it again fails too: as root at the root check, as a user creating the machine.
			want := reason.MinikubeProvision
			if os.Geteuid() == 0 {
				want = reason.MinikubePerm
			}
			expect(t, r, want.ExitCode)
			mustContain(t, r, "FAIL Starting minikube", "minikube could not start profile", purge)
			w.unchanged(t)

			r = w.run(t, 2*time.Minute, append([]string{"down", "--stop"}, w.names()...)...)
			expect(t, r, 0)
			mustContain(t, r, "minikube profile "+w.Profile+" is in a state minikube cannot read: nothing to uninstall",
				"skipped: minikube profile "+w.Profile+" is in a state minikube cannot read; "+"`"+purge+"` deletes it")

			r = w.run(t, 2*time.Minute, append([]string{"down", "--purge"}, w.names()...)...)
			expect(t, r, 0)
			mustContain(t, r, "profile "+w.Profile+" deleted")
			w.profileGone(t)
		})

		t.Run(v+"/unreadable config", func(t *testing.T) {
			w := newWorld(t, "badconfig", withRealMinikube(bins[v]))
			cfg := filepath.Join(w.home, ".minikube", "profiles", w.Profile, "config.json")
			if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg, []byte(`{"Name": broken`), 0o644); err != nil {
				t.Fatal(err)
			}
			purge := "svcgraph down --purge --profile " + w.Profile
			r := w.run(t, 2*time.Minute, w.upArgs("--no-forward")...)
			expect(t, r, reason.MinikubeBroken.ExitCode)
			mustContain(t, r, "minikube cannot read the profile's configuration", "Exiting due to HOST_CONFIG_LOAD", purge)
			r = w.run(t, 2*time.Minute, append([]string{"down"}, w.names()...)...)
			expect(t, r, reason.MinikubeBroken.ExitCode)
			mustContain(t, r, purge)
			r = w.run(t, 2*time.Minute, append([]string{"down", "--purge"}, w.names()...)...)
			expect(t, r, 0)
			mustContain(t, r, "profile "+w.Profile+" deleted")
			w.profileGone(t)
		})
	}
}

// minikube runs the world's minikube (here the real one) as the world's user would, and returns
// its exit code and stdout.
func (w *world) minikube(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r := w.runBinary(t, filepath.Join(w.bin, "minikube"), "minikube", minikubetest.Limit, nil, args...)
	return r.code, r.stdout
}

// profileGone asserts that minikube lists the world's profile neither as valid nor as invalid.
func (w *world) profileGone(t *testing.T) {
	t.Helper()
	code, out := w.minikube(t, "profile", "list", "-o", "json")
	var list struct{ Valid, Invalid []struct{ Name string } }
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("minikube profile list: exit %d, %v\n%s", code, err, out)
	}
	for _, p := range append(list.Valid, list.Invalid...) {
		if p.Name == w.Profile {
			t.Errorf("profile %s is still there:\n%s", w.Profile, out)
		}
	}
}
