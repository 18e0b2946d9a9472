// Command minikube is a test double for the minikube CLI. svcgraph's end-to-end tests put it
// first on PATH because minikube cannot create a cluster on the test machines (no Docker, no
// VM). It keeps profiles as JSON files in $MINIKUBE_DOUBLE_STATE and answers start, status,
// stop, delete, profile list and version with the JSON, messages and exit codes of minikube
// v1.38.1 or v1.37.0 (MINIKUBE_DOUBLE_VERSION), checked against the real binaries by
// conformance_test.go; start hands out the cluster of $MINIKUBE_DOUBLE_SOURCE_KUBECONFIG under
// a context named after the profile. See README.md for the contract.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

const (
	dockerVersion  = "29.2.1" // the Docker inside kicbase; only shown in a message
	defaultProfile = "minikube"
	minUsableMem   = 1800 // minikube's start_flags.go
	minCPUs        = 2

	exProgramUsage = 14 // reason.ExProgramUsage: cobra errors and MK_USAGE
	exGuestNotFund = 85 // reason.ExGuestNotFound
)

// flagKind says whether a flag takes a value.
type flagKind int

const (
	valueFlag flagKind = iota
	boolFlag
)

type flagSpec struct {
	long  string
	short string
	kind  flagKind
}

// Flags every command accepts (minikube's persistent flags, the ones a script may pass).
var globalFlags = []flagSpec{
	{"profile", "p", valueFlag},
	{"alsologtostderr", "", boolFlag},
	{"logtostderr", "", boolFlag},
	{"v", "v", valueFlag},
	{"user", "", valueFlag},
	{"skip-audit", "", boolFlag},
	{"rootless", "", boolFlag},
	{"help", "h", boolFlag},
}

var commandFlags = map[string][]flagSpec{
	"start": {
		{"cpus", "", valueFlag}, {"memory", "m", valueFlag}, {"driver", "d", valueFlag},
		{"vm-driver", "", valueFlag}, {"kubernetes-version", "", valueFlag},
		{"container-runtime", "", valueFlag}, {"wait", "", valueFlag}, {"wait-timeout", "", valueFlag},
		{"addons", "", valueFlag}, {"force", "", boolFlag}, {"interactive", "", boolFlag},
		{"delete-on-failure", "", boolFlag}, {"output", "o", valueFlag},
	},
	"status":       {{"output", "o", valueFlag}, {"format", "f", valueFlag}, {"layout", "l", valueFlag}, {"node", "n", valueFlag}},
	"stop":         {{"all", "", boolFlag}, {"keep-context-active", "", boolFlag}, {"output", "o", valueFlag}},
	"delete":       {{"all", "", boolFlag}, {"purge", "", boolFlag}, {"output", "o", valueFlag}},
	"profile list": {{"output", "o", valueFlag}, {"light", "l", boolFlag}, {"detailed", "d", boolFlag}},
	"version":      {{"output", "o", valueFlag}, {"short", "", boolFlag}, {"components", "", boolFlag}},
	"pause":        {{"namespaces", "n", valueFlag}, {"all-namespaces", "A", boolFlag}, {"output", "o", valueFlag}},
	"unpause":      {{"namespaces", "n", valueFlag}, {"all-namespaces", "A", boolFlag}, {"output", "o", valueFlag}},
}

// invocation is a parsed command line.
type invocation struct {
	command string
	args    []string          // positionals after the command
	values  map[string]string // by long name
	set     map[string]bool   // flags given on the command line (cobra's Changed)
}

func (in invocation) profile() string {
	if v, ok := in.values["profile"]; ok && v != "" {
		return v
	}
	return defaultProfile
}

// usageError ends the way cobra does under minikube: "Error: …" on stderr, exit 14
// (root.go: a failed RootCmd.Execute exits with reason.ExProgramUsage).
func usageError(msg, hint string) {
	fmt.Fprintf(os.Stderr, "Error: %s\n%s\n", msg, hint)
	os.Exit(exProgramUsage)
}

// parse finds the command among the positionals, then checks every flag against that command's
// flags, as cobra does (flags may come before or after the command).
func parse(argv []string) invocation {
	all := append([]flagSpec{}, globalFlags...)
	for _, fs := range commandFlags {
		all = append(all, fs...)
	}
	var positionals []string
	type rawFlag struct{ name, value string }
	var raws []rawFlag
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			positionals = append(positionals, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positionals = append(positionals, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		long := strings.HasPrefix(a, "--")
		if !long && len(name) > 1 && !hasValue {
			// -pfoo: a shorthand with its value attached.
			name, value, hasValue = name[:1], name[1:], true
		}
		spec, ok := lookup(all, name, long)
		if ok && spec.kind == valueFlag && !hasValue {
			if i+1 >= len(argv) {
				usageError(fmt.Sprintf("flag needs an argument: %s", a), "See 'minikube --help' for usage.")
			}
			i++
			value, hasValue = argv[i], true
		}
		if ok {
			name = spec.long
		} else if long {
			name = "--" + name
		} else {
			name = "-" + name
		}
		raws = append(raws, rawFlag{name, value})
	}

	in := invocation{values: map[string]string{}, set: map[string]bool{}}
	if len(positionals) == 0 {
		fmt.Print(rootHelp)
		os.Exit(0)
	}
	in.command, in.args = positionals[0], positionals[1:]
	if in.command == "profile" && len(in.args) > 0 && in.args[0] == "list" {
		in.command, in.args = "profile list", in.args[1:]
	}
	if in.command == "image" && len(in.args) > 0 {
		in.command, in.args = "image "+imageCommand(in.args[0]), in.args[1:]
	}
	specs, known := commandFlags[in.command]
	if !known {
		usageError(fmt.Sprintf("unknown command %q for \"minikube\"", positionals[0]), "Run 'minikube --help' for usage.")
	}
	specs = append(specs, globalFlags...)
	for _, r := range raws {
		if strings.HasPrefix(r.name, "-") {
			flagError(in.command, r.name)
		}
		spec, ok := lookup(specs, r.name, true)
		if !ok {
			flagError(in.command, "--"+r.name)
		}
		in.values[spec.long] = r.value
		in.set[spec.long] = true
	}
	return in
}

// flagError is cobra's answer to a flag the command does not take: the error, then the
// command's usage (minikube does not silence it), all on stderr, exit 14.
func flagError(command, name string) {
	msg := "unknown flag: " + name
	if !strings.HasPrefix(name, "--") {
		msg = fmt.Sprintf("unknown shorthand flag: '%s' in %s", strings.TrimPrefix(name, "-"), name)
	}
	usageError(msg, commandUsage(command))
}

// commandUsage follows the shape of minikube's usage template, listing only the flags the
// double knows (the real list is much longer).
func commandUsage(command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  minikube %s [flags] [options]\n\nFlags:\n", command)
	for _, f := range commandFlags[command] {
		fmt.Fprintf(&b, "  %s\n", flagUsage(f))
	}
	b.WriteString("\nGlobal Flags:\n")
	for _, f := range globalFlags {
		fmt.Fprintf(&b, "  %s\n", flagUsage(f))
	}
	return b.String()
}

func flagUsage(f flagSpec) string {
	s := "    --" + f.long
	if f.short != "" {
		s = "-" + f.short + ", --" + f.long
	}
	if f.kind == valueFlag {
		s += " string"
	}
	return s
}

func lookup(specs []flagSpec, name string, long bool) (flagSpec, bool) {
	for _, s := range specs {
		if (long && s.long == name) || (!long && s.short == name) {
			return s, true
		}
	}
	return flagSpec{}, false
}

const rootHelp = `minikube provisions and manages local Kubernetes clusters optimized for development workflows.

(This is svcgraph's minikube test double: start, status, stop, delete, pause, unpause,
profile list, image load, image ls, version.)
`

func main() {
	logInvocation()
	in := parse(os.Args[1:])
	if in.set["help"] {
		fmt.Printf("minikube %s: svcgraph's minikube test double\n", in.command)
		os.Exit(0)
	}
	p := newPrinter()
	if in.command == "version" {
		version(p, in)
		return
	}
	st, err := openStore()
	if err != nil {
		fatal(err)
	}
	switch in.command {
	case "start":
		start(p, st, in)
	case "status":
		status(p, st, in)
	case "stop":
		stop(p, st, in)
	case "delete":
		deleteCmd(p, st, in)
	case "profile list":
		profileList(p, st, in)
	case "pause":
		pause(p, st, in, true)
	case "unpause":
		pause(p, st, in, false)
	case "image load":
		imageLoad(p, st, in)
	case "image ls":
		imageList(p, st, in)
	}
}

// fatal reports a fault of the double itself (not something minikube would say), exit 1.
func fatal(err error) {
	fmt.Fprintf(os.Stderr, "minikube-double: %v\n", err)
	os.Exit(1)
}

// logInvocation appends argv (without the program name) as one line to $MINIKUBE_DOUBLE_LOG,
// so end-to-end tests can assert what was run. Arguments that would not survive a split on
// spaces are Go-quoted.
func logInvocation() {
	path := os.Getenv("MINIKUBE_DOUBLE_LOG")
	if path == "" {
		return
	}
	parts := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n\"\\") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fatal(fmt.Errorf("MINIKUBE_DOUBLE_LOG: %w", err))
	}
	defer f.Close()
	// One write per line: O_APPEND keeps lines whole when invocations overlap.
	if _, err := f.WriteString(strings.Join(parts, " ") + "\n"); err != nil {
		fatal(fmt.Errorf("MINIKUBE_DOUBLE_LOG: %w", err))
	}
}
