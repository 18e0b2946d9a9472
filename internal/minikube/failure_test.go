package minikube

import (
	"context"
	"strings"
	"testing"

	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/reason"
)

const startLine = "minikube start -p svcgraph --cpus 4 --memory 8192"

// Each failure as minikube v1.37.0 / v1.38.1 print it (stderr), with the kind and the advice
// svcgraph must give. The e2e tests run the reachable ones against the real binaries.
var startFailures = []struct {
	name   string
	code   int
	driver string
	stderr string
	kind   reason.Kind
	msg    string // in svcgraph's message
	advice string // in svcgraph's advice
}{
	{"cpus over the driver's", 29, "", "X Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 4 is greater than the available cpus of 2",
		reason.MinikubeCPUs, "docker has only 2 CPUs, fewer than the 4 asked for", "Ask for at most --cpus 2"},
	{"driver with one cpu", 29, "", "X Exiting due to RSRC_INSUFFICIENT_CORES:  has less than 2 CPUs available, but Kubernetes requires at least 2 to be available",
		reason.MinikubeCPUs, "docker has fewer than 2 CPUs", "Kubernetes needs at least 2 CPUs"},
	{"docker's memory", 23, "", "X Exiting due to RSRC_INSUFFICIENT_CONTAINER_MEMORY: docker only has 1024MiB available, less than the required 1800MiB for Kubernetes",
		reason.MinikubeMemory, "docker has only 1024MiB of memory", "Give docker at least 1800mb of memory (Docker Desktop"},
	{"memory over the system's", 10, "", "X Exiting due to RSRC_OVER_ALLOC_MEM: Requested memory allocation 80000MB is more than your system limit 24105MB.\n* Suggestion: Start minikube with less memory allocated: 'minikube start --memory=6000mb'",
		reason.MinikubeMemory, "--memory 8G is more than this system's 24105mb", "minikube suggests: Start minikube with less memory allocated: 'minikube start --memory=6000mb'"},
	{"memory over docker's", 14, "", "X Exiting due to MK_USAGE: Docker has only 4096MB memory but you specified 8192MB",
		reason.MinikubeMemory, "docker has only 4G of memory, less than --memory 8G", "Ask for at most --memory 4G"},
	{"root", 57, "", "* The \"docker\" driver should not be used with root privileges. If you wish to continue as root, use --force.\nX Exiting due to DRV_AS_ROOT: The \"docker\" driver should not be used with root privileges.",
		reason.MinikubePerm, "the docker driver refuses to run as root", "Run svcgraph as your regular user"},
	{"no driver", 55, "", "X Exiting due to DRV_NOT_DETECTED: No possible driver was detected. Try specifying --driver, or see https://minikube.sigs.k8s.io/docs/start/",
		reason.MinikubeDriver, "no driver found", "Install Docker"},
	{"docker daemon down, auto", 55, "", "X Exiting due to DRV_DOCKER_NOT_RUNNING: Found docker, but the docker service isn't running. Try restarting the docker service.",
		reason.MinikubeDriver, "docker is installed but not running", "Start docker"},
	{"docker daemon down, asked", 63, "docker", "* Exiting due to PROVIDER_DOCKER_NOT_RUNNING: \"docker version --format {{.Server.Os}}-{{.Server.Version}}:{{.Server.Platform.Name}}\" exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n* Suggestion: Start the Docker service\n* Documentation: https://minikube.sigs.k8s.io/docs/drivers/docker/",
		reason.MinikubeDriver, "docker is installed but not running", "minikube suggests: Start the Docker service"},
	{"docker missing", 65, "docker", "* Exiting due to PROVIDER_DOCKER_NOT_FOUND: The 'docker' provider was not found: exec: \"docker\": executable file not found in $PATH\n* Suggestion: Install Docker",
		reason.MinikubeDriver, "the docker driver is not installed", "minikube suggests: Install Docker"},
	{"none without iptables", 65, "none", "* Exiting due to PROVIDER_NONE_NOT_FOUND: The 'none' provider was not found: exec: \"iptables\": executable file not found in $PATH\n* Suggestion: iptables must be installed",
		reason.MinikubeDriver, "the none driver is not installed", "minikube suggests: iptables must be installed"},
	{"unknown driver", 56, "hyperkit", "X Exiting due to DRV_UNSUPPORTED_OS: The driver 'hyperkit' is not supported on linux/amd64",
		reason.MinikubeDriver, `minikube has no driver "hyperkit" for this system`, "Choose a driver minikube supports"},
	{"other driver", 81, "qemu2", "! Exiting due to GUEST_DRIVER_MISMATCH: The existing \"svcgraph\" cluster was created using the \"docker\" driver, which is incompatible with requested \"qemu2\" driver.",
		reason.MinikubeDriverMis, "was created with another driver than qemu2", "svcgraph down --purge --profile svcgraph"},
	{"unreadable profile", 38, "", "X Exiting due to HOST_CONFIG_LOAD: Unable to load config: unmarshal: invalid character 'b' looking for beginning of value",
		reason.MinikubeBroken, "cannot read the profile's configuration", "svcgraph down --purge --profile svcgraph"},
	{"machine not created", 80, "", guestProvision,
		reason.MinikubeProvision, "the machine failed (GUEST_PROVISION)", "svcgraph down --purge --profile svcgraph"},
	{"kubernetes did not start", 102, "", "X Exiting due to K8S_APISERVER_MISSING: wait 6m0s for node: wait for apiserver proc: apiserver process never appeared",
		reason.MinikubeProvision, "Kubernetes in the machine failed (K8S_APISERVER_MISSING)", "minikube logs -p svcgraph"},
	{"home not writable", 37, "", "X Exiting due to HOST_HOME_PERMISSION: open /home/me/.minikube/profiles/svcgraph/config.json: permission denied\n* Suggestion: Your user lacks permissions to the minikube profile directory. Run: 'sudo chown -R $USER $HOME/.minikube; chmod -R u+wrx $HOME/.minikube' to fix",
		reason.MinikubePerm, "minikube may not write its own files", "sudo chown -R $USER ~/.minikube"},
	{"ssh driver without an address", 14, "ssh", "X Exiting due to MK_USAGE: No IP address provided. Try specifying --ssh-ip-address, or see https://minikube.sigs.k8s.io/docs/drivers/ssh/",
		reason.MinikubeRefused, "minikube refused the request (MK_USAGE)", "change the --cpus, --memory, --driver or --profile it names"},
	{"no reason given", 1, "", "panic: runtime error: invalid memory address or nil pointer dereference",
		reason.MinikubeFailed, "", "minikube logs"},
}

// guestProvision is v1.37.0's failed container creation: the reason line is followed by more
// than execx keeps of a failed command's output.
const guestProvision = `* Failed to start docker container. Running "minikube delete -p svcgraph" may fix it: recreate: creating host: create: creating: setting up container node: creating volume for svcgraph container: docker volume create svcgraph: exit status 1

X Exiting due to GUEST_PROVISION: error provisioning guest: Failed to start host: recreate: creating host: create: creating: setting up container node: creating volume for svcgraph container: docker volume create svcgraph --label name.minikube.sigs.k8s.io=svcgraph --label created_by.minikube.sigs.k8s.io=true: exit status 1
stdout:

stderr:
Cannot connect to the Docker daemon

* 
╭─────────────────────────────────────────────────────────────────────────────────────────────╮
│                                                                                             │
│    * If the above advice does not help, please let us know:                                 │
│      https://github.com/kubernetes/minikube/issues/new/choose                               │
│                                                                                             │
│    * Please run ` + "`minikube logs --file=logs.txt`" + ` and attach logs.txt to the GitHub issue.    │
│    * Please also attach the following file to the GitHub issue:                             │
│    * - /tmp/minikube_start_0.log                                                            │
│                                                                                             │
╰─────────────────────────────────────────────────────────────────────────────────────────────╯`

func TestStartFailuresGetTheirKindAndAdvice(t *testing.T) {
	for _, c := range startFailures {
		t.Run(c.name, func(t *testing.T) {
			o := StartOptions{Profile: "svcgraph", CPUs: 4, MemoryMB: 8192, Driver: c.driver}
			line := startLine
			if c.driver != "" {
				line += " --driver " + c.driver
			}
			stdout := "* [svcgraph] minikube v1.37.0 on Debian 12.11\n"
			if c.driver == "" {
				stdout += "* Automatically selected the docker driver\n"
			}
			x := execx.NewRecorder().On(line, execx.Response{Stdout: stdout, Stderr: c.stderr, ExitCode: c.code})
			err := Driver{Exec: x}.Start(context.Background(), o)
			e := reason.Of(err)
			if e.Kind != c.kind {
				t.Fatalf("kind %s, want %s: %v", e.Kind.ID, c.kind.ID, err)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.Contains(e.Advise(), c.advice) {
				t.Errorf("want %q in the message and %q in the advice:\n%v\nadvice: %s", c.msg, c.advice, err, e.Advise())
			}
			// The user sees minikube's own reason line, even where the tail would cut it.
			if i := strings.Index(c.stderr, "Exiting due to"); i >= 0 {
				reasonLine, _, _ := strings.Cut(c.stderr[i:], "\n")
				if !strings.Contains(err.Error(), reasonLine) {
					t.Errorf("minikube's line %q is not shown:\n%v", reasonLine, err)
				}
			}
			if !strings.Contains(err.Error(), line) {
				t.Errorf("the command is not shown:\n%v", err)
			}
		})
	}
}

func TestStatusReadsEveryAnswer(t *testing.T) {
	const cmd = "minikube status -p svcgraph -o json"
	for _, c := range []struct {
		name   string
		resp   execx.Response
		state  State
		kind   reason.Kind // for a failure
		advice string
	}{
		{"running", execx.Response{Stdout: `{"Name":"svcgraph","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}`}, Running, reason.Kind{}, ""},
		{"stopped", execx.Response{Stdout: `{"Name":"svcgraph","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Stopped","Worker":false}`, ExitCode: 7}, Stopped, reason.Kind{}, ""},
		{"absent", execx.Response{Stdout: `{"specversion":"1.0","type":"io.k8s.sigs.minikube.info","data":{"message":"Profile \"svcgraph\" not found."}}`, ExitCode: 85}, Absent, reason.Kind{}, ""},
		// A start that failed after saving the profile: v1.37 prints null and exits 0, v1.38 exits 7.
		{"no machine, v1.37", execx.Response{Stdout: "null", Stderr: "E1201 status.go:179] status error: host: state: unknown state \"svcgraph\""}, Unknown, reason.Kind{}, ""},
		{"no machine, v1.38", execx.Response{Stdout: "null", ExitCode: 7}, Unknown, reason.Kind{}, ""},
		{"unreadable profile", execx.Response{ExitCode: 38,
			Stdout: `{"specversion":"1.0","id":"8f8df620","source":"https://minikube.sigs.k8s.io/","type":"io.k8s.sigs.minikube.error","datacontenttype":"application/json","data":{"advice":"","exitcode":"38","issues":"","message":"Error getting cluster config: unmarshal: invalid character 'b' looking for beginning of value","name":"HOST_CONFIG_LOAD","url":""}}` + "\n"},
			"", reason.MinikubeBroken, "svcgraph down --purge --profile svcgraph"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := execx.NewRecorder().On(cmd, c.resp)
			st, err := Driver{Exec: x}.Status(context.Background(), "svcgraph")
			if c.kind != (reason.Kind{}) {
				if e := reason.Of(err); e.Kind != c.kind || !strings.Contains(e.Advise(), c.advice) {
					t.Fatalf("got %s: %v / %s", e.Kind.ID, err, e.Advise())
				}
				if !strings.Contains(err.Error(), "Exiting due to HOST_CONFIG_LOAD: Error getting cluster config") {
					t.Errorf("minikube's reason is not shown:\n%v", err)
				}
				return
			}
			if err != nil || st.State != c.state {
				t.Fatalf("state %q, err %v; want %q", st.State, err, c.state)
			}
		})
	}
}

// stop and unpause on a profile whose machine minikube cannot inspect (v1.37/v1.38 output).
func TestStopAndUnpauseFailures(t *testing.T) {
	const inspect = `docker container inspect svcgraph --format=<no value>: exec: "docker": executable file not found in $PATH`
	x := execx.NewRecorder().
		On("minikube stop -p svcgraph", execx.Response{ExitCode: 82, Stderr: "* Stopping node \"svcgraph\"  ...\nX Exiting due to GUEST_STOP_TIMEOUT: Unable to stop VM: " + inspect}).
		On("minikube unpause -p svcgraph", execx.Response{ExitCode: 80, Stderr: `X Exiting due to GUEST_STATUS: Unable to get control-plane node svcgraph host status: state: unknown state "svcgraph": ` + inspect})
	d := Driver{Exec: x}
	for _, c := range []struct {
		err  error
		kind reason.Kind
		msg  string
	}{
		{d.Stop(context.Background(), "svcgraph"), reason.MinikubeProvision, `minikube could not stop profile "svcgraph": the machine did not stop`},
		{d.Unpause(context.Background(), "svcgraph"), reason.MinikubeBroken, `minikube could not unpause profile "svcgraph": minikube cannot read the state of the profile's machine`},
	} {
		e := reason.Of(c.err)
		if e.Kind != c.kind || !strings.Contains(c.err.Error(), c.msg) || !strings.Contains(e.Advise(), "svcgraph down --purge --profile svcgraph") {
			t.Errorf("got %s: %v / %s", e.Kind.ID, c.err, e.Advise())
		}
	}
}
