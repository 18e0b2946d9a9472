package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// style mirrors one entry of minikube's pkg/minikube/style table: the emoji prefix used when
// colour is wanted, the 7-bit prefix used otherwise (minikube's "low-fi" mode, which is what a
// program piping minikube's output sees), and whether minikube shows it through a spinner.
type style struct {
	prefix string
	low    string
	spin   bool
}

var (
	stHappy       = style{"😄  ", "* ", false}
	stSparkle     = style{"✨  ", "* ", false}
	stThumbsUp    = style{"👍  ", "* ", false}
	stPulling     = style{"🚜  ", "* ", false}
	stStartingVM  = style{"🔥  ", "* ", true}
	stRestarting  = style{"🔄  ", "* ", true}
	stRunning     = style{"🏃  ", "* ", true}
	stDocker      = style{"🐳  ", "* ", true}
	stCNI         = style{"🔗  ", "* ", false}
	stHealthCheck = style{"🔎  ", "* ", false}
	stOption      = style{"    ▪ ", "  - ", false}
	stAddon       = style{"🌟  ", "* ", false}
	stReady       = style{"🏄  ", "* ", false}
	stWarning     = style{"❗  ", "! ", false}
	stStopping    = style{"✋  ", "* ", false}
	stShutdown    = style{"🛑  ", "* ", false}
	stStopped     = style{"🛑  ", "* ", false}
	stMeh         = style{"🙄  ", "! ", false}
	stDeleting    = style{"🔥  ", "* ", false}
	stDeleted     = style{"💀  ", "* ", false}
	stShrug       = style{"🤷  ", "* ", false}
	stWorkaround  = style{"👉  ", "  ", false}
	stFatal       = style{"💣  ", "X ", false}
	stFailure     = style{"❌  ", "X ", false}
	stUnmet       = style{"⛔  ", "X ", false}
	stConflict    = style{"💢  ", "! ", false}
	stTip         = style{"💡  ", "* ", false}
	stDocs        = style{"📘  ", "* ", false}
	stCaching     = style{"🤹  ", "* ", false}
)

// printer writes the way minikube's pkg/minikube/out does: steps to stdout, warnings and
// failures to stderr, emoji only when colour is wanted.
type printer struct {
	stdout, stderr io.Writer
	color          bool // emoji prefixes instead of "* "
	spinner        bool // stdout is a terminal: spinner-styled lines are shown
	json           bool // -o json: failures are CloudEvents on stdout
}

func newPrinter() *printer {
	return &printer{stdout: os.Stdout, stderr: os.Stderr, color: wantsColor(), spinner: isTerminal(os.Stdout)}
}

// wantsColor follows minikube's out.wantsColor: MINIKUBE_IN_STYLE forces it either way;
// otherwise TERM or COLORTERM must claim colour and stderr must be a terminal.
func wantsColor() bool {
	if v := os.Getenv("MINIKUBE_IN_STYLE"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	if os.Getenv("WT_SESSION") != "" {
		return true
	}
	term, ct := os.Getenv("TERM"), os.Getenv("COLORTERM")
	if !strings.Contains(term, "color") && !strings.Contains(ct, "truecolor") &&
		!strings.Contains(ct, "24bit") && !strings.Contains(ct, "yes") {
		return false
	}
	return isTerminal(os.Stderr)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *printer) styled(st style, msg string) string {
	if p.color {
		return st.prefix + msg + "\n"
	}
	return st.low + msg + "\n"
}

// step is out.Step / out.Styled: stdout. minikube draws spinner styles with briandowns/spinner,
// which prints nothing at all when stdout is not a terminal, so piped output lacks those lines.
func (p *printer) step(st style, format string, a ...any) {
	if st.spin && !p.spinner {
		return
	}
	fmt.Fprint(p.stdout, p.styled(st, fmt.Sprintf(format, a...)))
}

// errT is out.ErrT: stderr.
func (p *printer) errT(st style, format string, a ...any) {
	fmt.Fprint(p.stderr, p.styled(st, fmt.Sprintf(format, a...)))
}

func (p *printer) warning(format string, a ...any) { p.errT(stWarning, format, a...) }

// kind is the part of minikube's reason.Kind that shows up in its output.
type kind struct {
	id     string
	code   int
	st     style
	advice string
	url    string
	// issueLink: minikube's exit.Error (rather than exit.Message) adds a box asking for a bug
	// report.
	issueLink bool
}

// exitWith is minikube's exit.Message: a blank line on stdout, "Exiting due to ID: msg", the
// suggestion and documentation on stderr, another blank line, then the exit code. Under
// -o json (p.json) the same goes to stdout as error CloudEvents, and the text to stderr.
func (p *printer) exitWith(k kind, msg string) {
	if k.st == (style{}) {
		k.st = stFailure
	}
	if p.json {
		data, _ := json.Marshal(map[string]string{"name": k.id, "exitcode": strconv.Itoa(k.code), "message": strings.TrimSpace(msg),
			"advice": k.advice, "url": k.url, "issues": ""})
		printEvent("io.k8s.sigs.minikube.error", data)
	} else {
		fmt.Fprintln(p.stdout)
	}
	p.errT(k.st, "Exiting due to %s: %s", k.id, msg)
	if k.advice != "" {
		p.errT(stTip, "Suggestion: %s", indentMultiLine(k.advice))
	}
	if k.url != "" {
		p.errT(stDocs, "Documentation: %s", k.url)
	}
	if k.issueLink {
		box := issueBox()
		if p.json {
			data, _ := json.Marshal(map[string]string{"message": box})
			printEvent("io.k8s.sigs.minikube.error", data)
		}
		p.errT(style{"", "* ", false}, "")
		fmt.Fprintln(p.stderr, box)
	}
	if !p.json {
		fmt.Fprintln(p.stdout)
	}
	os.Exit(k.code)
}

// issueBox is displayGitHubIssueMessage's box, drawn the way minikube's BoxedErr draws it.
func issueBox() string {
	lines := []string{"", "If the above advice does not help, please let us know:",
		"https://github.com/kubernetes/minikube/issues/new/choose", "",
		"Please run `minikube logs --file=logs.txt` and attach logs.txt to the GitHub issue.", ""}
	width := 0
	for _, l := range lines {
		width = max(width, len(l)+8)
	}
	var b strings.Builder
	b.WriteString("╭" + strings.Repeat("─", width) + "╮\n")
	for _, l := range lines {
		b.WriteString("│    " + l + strings.Repeat(" ", width-4-len(l)) + "│\n")
	}
	b.WriteString("╰" + strings.Repeat("─", width) + "╯")
	return b.String()
}

// printEvent is register's CloudEvent printer: one event per line, fields in the order of
// cloudevents' own marshaller.
func printEvent(typ string, data []byte) {
	fmt.Printf(`{"specversion":"1.0","id":%q,"source":"https://minikube.sigs.k8s.io/","type":%q,"datacontenttype":"application/json","data":%s}`+"\n", uuid(), typ, data)
}

// indentMultiLine is minikube's out.indentMultiLine for multi-line advice.
func indentMultiLine(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	cleaned := []string{"\n"}
	for _, l := range strings.Split(s, "\n") {
		cleaned = append(cleaned, "    "+strings.TrimSpace(l))
	}
	return strings.Join(cleaned, "\n")
}
