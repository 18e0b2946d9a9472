package images

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platform is the OS and architecture of the minikube node images are pulled for.
type Platform struct {
	OS, Architecture string
}

// Platforms minikube's node runs on, and so the ones prepare accepts.
var Platforms = []Platform{{"linux", "amd64"}, {"linux", "arm64"}}

func (p Platform) String() string { return p.OS + "/" + p.Architecture }

// HostPlatform is the platform of the node `up` starts on a machine of that architecture: minikube
// runs a Linux node of the host's architecture (an Apple-silicon Mac gets linux/arm64).
func HostPlatform(goarch string) Platform { return Platform{"linux", goarch} }

// ParsePlatform reads "linux/amd64" or "linux/arm64" (an "arm64/v8" variant is the same node).
func ParsePlatform(s string) (Platform, error) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "/v8")
	for _, p := range Platforms {
		if s == p.String() {
			return p, nil
		}
	}
	var names []string
	for _, p := range Platforms {
		names = append(names, p.String())
	}
	return Platform{}, fmt.Errorf("platform %q is not one minikube runs (%s)", s, strings.Join(names, ", "))
}

// matches says whether an image built for q runs on p. An image whose config names no platform
// (some single-platform images) is taken as built for p.
func (p Platform) matches(q *v1.Platform) bool {
	if q == nil || (q.OS == "" && q.Architecture == "") {
		return true
	}
	return q.OS == p.OS && q.Architecture == p.Architecture
}

func (p Platform) v1() v1.Platform { return v1.Platform{OS: p.OS, Architecture: p.Architecture} }
