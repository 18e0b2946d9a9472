package main

import (
	"fmt"
	"os"
)

// release is what differs between the minikube versions the double imitates, each read from
// kubernetes/minikube at its tag and checked against the real binary by conformance_test.go.
type release struct {
	version    string
	commit     string
	k8sVersion string // constants.DefaultKubernetesVersion (also NewestKubernetesVersion)
	kicVersion string // pkg/drivers/kic/types.go Version
	// statusNoMachine is status's exit code when the profile exists but none of its machines'
	// state can be read: v1.37.0's exitCode(nil) is 0, v1.38.1 returns 7 for an empty list.
	statusNoMachine int
	// stopNoMachine is the message of GUEST_STOP_TIMEOUT when the machine's container cannot
	// be inspected (%s is the profile, %s the docker error).
	stopNoMachine string
}

var releases = map[string]release{
	"v1.37.0": {
		version: "v1.37.0", commit: "65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3",
		k8sVersion: "v1.34.0", kicVersion: "v0.0.48", statusNoMachine: 0,
		stopNoMachine: "Unable to stop VM: docker container inspect %[1]s --format=<no value>: %[2]s",
	},
	"v1.38.1": {
		version: "v1.38.1", commit: "c93a4cb9311efc66b90d33ea03f75f2c4120e9b0",
		k8sVersion: "v1.35.1", kicVersion: "v0.0.50", statusNoMachine: 7,
		stopNoMachine: "Unable to stop VM: ssh power off: unknown state %[1]q: docker container inspect %[1]s --format=<no value>: %[2]s",
	},
}

// defaultRelease is the version the double imitates unless MINIKUBE_DOUBLE_VERSION says another.
const defaultRelease = "v1.38.1"

// rel is the release this invocation imitates.
var rel = currentRelease()

func currentRelease() release {
	v := os.Getenv("MINIKUBE_DOUBLE_VERSION")
	if v == "" {
		v = defaultRelease
	}
	r, ok := releases[v]
	if !ok {
		fmt.Fprintf(os.Stderr, "minikube-double: MINIKUBE_DOUBLE_VERSION=%s: the double imitates v1.37.0 and v1.38.1\n", v)
		os.Exit(1)
	}
	return r
}
