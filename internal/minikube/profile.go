package minikube

import (
	"fmt"
	"regexp"
	"strings"
)

// profileNameRE is minikube's config.ProfileNameValid: dot-separated labels of letters, digits and
// '-', each starting and ending with a letter or digit. A name that matches has no path separator,
// so it is safe in file names too (svcgraph's forwarder state files carry it).
var profileNameRE = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$`)

// reservedProfileNames are minikube's own commands, which `minikube start -p` refuses as names.
var reservedProfileNames = []string{"start", "stop", "status", "delete", "config", "open", "profile", "addons", "cache", "logs"}

// ValidateProfileName refuses a profile name `minikube start` would refuse: at least 2 characters
// (docker volumes need it) matching minikube's pattern, and not one of its command names.
func ValidateProfileName(name string) error {
	if !profileNameRE.MatchString(name) || len(name) < 2 {
		return fmt.Errorf("minikube takes letters, digits, '-' and '.' only, at least 2 characters, starting and ending with a letter or digit")
	}
	for _, k := range reservedProfileNames {
		if strings.EqualFold(k, name) {
			return fmt.Errorf("%q is a minikube command, which minikube does not take as a profile name", name)
		}
	}
	return nil
}
