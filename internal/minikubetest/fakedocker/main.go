// Command docker is a stand-in for the Docker CLI that answers only the two questions minikube
// asks before it touches a container: `docker version` and `docker system info` (also spelled
// `docker info`). With it on PATH, the real minikube's driver check passes and its CPU, memory
// and root checks run against numbers a test chooses, with no Docker engine on the machine.
// Test-only: svcgraph never runs it.
//
// Environment:
//
//	FAKE_DOCKER_CPUS       NCPU that `docker system info` reports (default 4)
//	FAKE_DOCKER_MEMORY_MB  MemTotal in MiB (default 8192)
//	FAKE_DOCKER_DAEMON     "stopped": every command fails as the CLI does when the daemon
//	                       is not running (default: running)
//
// Any other command fails with exit 1 and says it is not implemented: minikube then fails where
// it would start to create its container, after its checks.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

const (
	serverVersion = "29.2.1"
	platformName  = "Docker Engine - Community"
	notRunning    = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)

func main() {
	args := os.Args[1:]
	format := ""
	var words []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "--format" || a == "-f") && i+1 < len(args):
			i++
			format = args[i]
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		default:
			words = append(words, a)
		}
	}
	// minikube sometimes quotes the template for a shell that is not there: '{{json .}}'.
	format = strings.Trim(format, "'")
	cmd := strings.Join(words, " ")
	if os.Getenv("FAKE_DOCKER_DAEMON") == "stopped" {
		// The CLI answers nothing that needs the daemon; `docker version` still shows the client.
		if cmd == "version" && format == "" {
			fmt.Printf("Client: Docker Engine - Community\n Version:           %s\n\n", serverVersion)
		}
		fmt.Fprintln(os.Stderr, notRunning)
		os.Exit(1)
	}
	switch cmd {
	case "version", "system info", "info":
	default:
		fmt.Fprintf(os.Stderr, "fake docker: `docker %s` is not implemented (this stand-in answers only `docker version` and `docker system info`)\n", strings.Join(args, " "))
		os.Exit(1)
	}
	if cmd == "version" {
		version(format)
		return
	}
	info(format)
}

// version answers the templates minikube uses; without one it prints a short human form.
func version(format string) {
	switch format {
	case "":
		fmt.Printf("Client: Docker Engine - Community\n Version:           %s\n\nServer: %s\n Engine:\n  Version:          %s\n  OS/Arch:          linux/amd64\n",
			serverVersion, platformName, serverVersion)
	case "{{.Server.Os}}-{{.Server.Version}}:{{.Server.Platform.Name}}":
		fmt.Printf("linux-%s:%s\n", serverVersion, platformName)
	case "{{.Server.Version}}", "{{.Client.Version}}":
		fmt.Println(serverVersion)
	case "{{.Server.Os}}":
		fmt.Println("linux")
	default:
		fmt.Fprintf(os.Stderr, "fake docker: version template %q is not implemented\n", format)
		os.Exit(1)
	}
}

func info(format string) {
	cpus := envInt("FAKE_DOCKER_CPUS", 4)
	memMB := envInt("FAKE_DOCKER_MEMORY_MB", 8192)
	// The fields minikube's oci.dockerSysInfo reads, with the values of a plain Linux engine.
	sys := map[string]any{
		"ID":                "FAKE:DOCKER",
		"Containers":        0,
		"Images":            0,
		"Driver":            "overlay2",
		"MemoryLimit":       true,
		"SwapLimit":         true,
		"CpuCfsPeriod":      true,
		"CpuCfsQuota":       true,
		"CPUShares":         true,
		"CPUSet":            true,
		"PidsLimit":         true,
		"IPv4Forwarding":    true,
		"LoggingDriver":     "json-file",
		"CgroupDriver":      "systemd",
		"CgroupVersion":     "2",
		"KernelVersion":     "6.12.0",
		"OperatingSystem":   "Debian GNU/Linux 13 (trixie)",
		"OSVersion":         "13",
		"OSType":            "linux",
		"Architecture":      "x86_64",
		"NCPU":              cpus,
		"MemTotal":          int64(memMB) << 20,
		"Name":              "fake-docker",
		"ServerVersion":     serverVersion,
		"SecurityOptions":   []string{"name=seccomp,profile=builtin", "name=cgroupns"},
		"Swarm":             map[string]any{"LocalNodeState": "inactive"},
		"Labels":            []string{},
		"ExperimentalBuild": false,
	}
	switch format {
	case "{{json .}}":
		b, _ := json.Marshal(sys)
		fmt.Println(string(b))
	case "{{json .SecurityOptions}}":
		b, _ := json.Marshal(sys["SecurityOptions"])
		fmt.Println(string(b))
	case "{{.CgroupDriver}}":
		fmt.Println(sys["CgroupDriver"])
	case "":
		fmt.Printf("Server:\n Server Version: %s\n CPUs: %d\n Total Memory: %dMiB\n", serverVersion, cpus, memMB)
	default:
		fmt.Fprintf(os.Stderr, "fake docker: info template %q is not implemented\n", format)
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
