package chartmod

import (
	"bytes"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Re-encoding a whole values.yaml with yaml.v3 keeps its values, keys and comments, but drops
// blank lines and comment alignment, so a diff against upstream shows far more than the patch.
// The splicer inserts the patch as text at positions the parsed nodes give, leaving every
// original byte in place. It handles the shapes the demo charts use; for anything else it gives
// up, and the re-encoded document is used (see patchDemoValues for how either is verified).

type insertion struct {
	at   int // byte offset in the original text
	text string
}

type splicer struct {
	src    []byte
	starts []int // byte offset of each line; starts[0] is line 1
	ins    []insertion
	ok     bool
}

func newSplicer(src []byte) *splicer {
	sp := &splicer{src: src, starts: []int{0}, ok: true}
	for i, b := range src {
		if b == '\n' {
			sp.starts = append(sp.starts, i+1)
		}
	}
	return sp
}

// lineStart is the offset of 1-based line n; the end of the text past the last line.
func (sp *splicer) lineStart(n int) int {
	if n-1 < len(sp.starts) {
		return sp.starts[n-1]
	}
	return len(sp.src)
}

func (sp *splicer) line(n int) string {
	end := sp.lineStart(n + 1)
	return strings.TrimRight(string(sp.src[sp.lineStart(n):end]), "\n")
}

func (sp *splicer) add(at int, text string) { sp.ins = append(sp.ins, insertion{at, text}) }

// scalarText is how a one-line scalar is written at its position, or "" when it is not plainly
// there (multi-line, escaped, or positions off because of wide characters).
func (sp *splicer) scalarText(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Line < 1 || n.Line > len(sp.starts) {
		return ""
	}
	var text string
	switch n.Style {
	case 0:
		text = n.Value
	case yaml.DoubleQuotedStyle:
		text = `"` + n.Value + `"`
	case yaml.SingleQuotedStyle:
		text = `'` + n.Value + `'`
	default:
		return ""
	}
	l := sp.line(n.Line)
	if n.Column < 1 || n.Column-1+len(text) > len(l) || l[n.Column-1:n.Column-1+len(text)] != text {
		return ""
	}
	return text
}

// quoteLike writes value in the style of an existing item, so the new item looks like its neighbours.
func quoteLike(item *yaml.Node, value string) string {
	switch item.Style {
	case yaml.DoubleQuotedStyle:
		return `"` + value + `"`
	case yaml.SingleQuotedStyle:
		return `'` + value + `'`
	}
	return value
}

// afterItem inserts scalar value into sequence seq right after its item i.
func (sp *splicer) afterItem(seq *yaml.Node, i int, value string) {
	item := seq.Content[i]
	text := sp.scalarText(item)
	if text == "" {
		sp.ok = false
		return
	}
	if seq.Style&yaml.FlowStyle != 0 {
		sp.add(sp.lineStart(item.Line)+item.Column-1+len(text), ", "+quoteLike(item, value))
		return
	}
	// Block style: the item must be alone on its line, "- value" with an optional comment.
	l := sp.line(item.Line)
	dash := item.Column - 3
	if dash < 0 || strings.TrimSpace(l[:dash]) != "" || l[dash:item.Column-1] != "- " {
		sp.ok = false
		return
	}
	if i+1 < len(seq.Content) && seq.Content[i+1].Line == item.Line {
		sp.ok = false
		return
	}
	sp.add(sp.lineStart(item.Line+1), strings.Repeat(" ", dash)+"- "+quoteLike(item, value)+"\n")
}

// firstKey inserts a block of "key: …" lines as the first entry of block mapping m, whose own key
// is parentKey.
func (sp *splicer) firstKey(parentKey, m *yaml.Node, entry *yaml.Node) {
	if m.Kind != yaml.MappingNode || m.Style&yaml.FlowStyle != 0 || len(m.Content) == 0 || m.Content[0].Line <= parentKey.Line {
		sp.ok = false
		return
	}
	sp.add(sp.lineStart(parentKey.Line+1), indentYAML(entry, m.Content[0].Column-1))
}

// appendItem appends node item to block sequence seq, after the last line of its last item.
func (sp *splicer) appendItem(seq *yaml.Node, item *yaml.Node) {
	if seq.Style&yaml.FlowStyle != 0 || len(seq.Content) == 0 {
		sp.ok = false
		return
	}
	last := seq.Content[len(seq.Content)-1]
	dash := last.Column - 3
	if l := sp.line(last.Line); dash < 0 || dash > len(l) || !strings.HasPrefix(l[dash:], "- ") {
		sp.ok = false
		return
	}
	// The last item ends before the first later line with content at or left of its dash.
	end := last.Line + 1
	lastContent := last.Line
	for ; end <= len(sp.starts); end++ {
		l := sp.line(end)
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(l)-len(strings.TrimLeft(l, " ")) <= dash {
			break
		}
		lastContent = end
	}
	seqDoc := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}}
	sp.add(sp.lineStart(lastContent+1), indentYAML(seqDoc, dash))
}

// indentYAML encodes n as block YAML indented by spaces.
func indentYAML(n *yaml.Node, spaces int) string {
	data, err := encodeYAMLDoc(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}})
	if err != nil {
		return ""
	}
	pad := strings.Repeat(" ", spaces)
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") {
		b.WriteString(pad + strings.TrimSuffix(l, "\n") + "\n")
	}
	return b.String()
}

// appendTopLevel adds a top-level entry at the end of the text.
func (sp *splicer) appendTopLevel(entry *yaml.Node) {
	prefix := ""
	if len(sp.src) > 0 && sp.src[len(sp.src)-1] != '\n' {
		prefix = "\n"
	}
	sp.add(len(sp.src), prefix+indentYAML(entry, 0))
}

// result applies the insertions, or returns nil when some edit could not be placed.
func (sp *splicer) result() []byte {
	if !sp.ok {
		return nil
	}
	ins := slices.Clone(sp.ins)
	slices.SortStableFunc(ins, func(a, b insertion) int { return a.at - b.at })
	var out bytes.Buffer
	prev := 0
	for _, in := range ins {
		out.Write(sp.src[prev:in.at])
		out.WriteString(in.text)
		prev = in.at
	}
	out.Write(sp.src[prev:])
	return out.Bytes()
}
