package chartmod

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Small yaml.v3 node helpers. Editing nodes rather than a decoded map keeps comments, key order
// and quoting of the chart's own files, so a patched values.yaml still reads like upstream's and
// a diff against it shows only the patch.

// parseYAMLDoc parses one YAML document whose top level must be a mapping.
func parseYAMLDoc(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("top level is not a mapping")
	}
	return &doc, nil
}

func encodeYAMLDoc(doc *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pathError says which path was missing or of the wrong kind, for ChartLayout errors.
type pathError struct {
	Path string
	Want string
}

func (e *pathError) Error() string { return fmt.Sprintf("%s is missing or not a %s", e.Path, e.Want) }

// lookup walks mapping keys from m. Aliases on the way are refused rather than followed: an edit
// through an alias would change every other place that shares the anchor.
func lookup(m *yaml.Node, want yaml.Kind, path ...string) (*yaml.Node, error) {
	_, n, err := lookupPair(m, want, path...)
	return n, err
}

// lookupPair is lookup that also returns the key node of the last step (nil for an empty path).
func lookupPair(m *yaml.Node, want yaml.Kind, path ...string) (*yaml.Node, *yaml.Node, error) {
	n := m
	var keyNode *yaml.Node
	for i, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil, nil, &pathError{strings.Join(path[:i], "."), "mapping"}
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Kind == yaml.ScalarNode && n.Content[j].Value == key {
				keyNode, next = n.Content[j], n.Content[j+1]
			}
		}
		if next == nil {
			k := yaml.MappingNode
			if i == len(path)-1 {
				k = want
			}
			return nil, nil, &pathError{strings.Join(path[:i+1], "."), kindName(k)}
		}
		n = next
	}
	if n.Kind != want {
		return nil, nil, &pathError{strings.Join(path, "."), kindName(want)}
	}
	return keyNode, n, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "node"
}

func hasKey(m *yaml.Node, key string) bool {
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return true
		}
	}
	return false
}

// addKey appends key: value to mapping m.
func addKey(m *yaml.Node, key string, value *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
}

// scalarIndex is the position of the scalar item s in sequence seq, or -1.
func scalarIndex(seq *yaml.Node, s string) int {
	for i, item := range seq.Content {
		if item.Kind == yaml.ScalarNode && item.Value == s {
			return i
		}
	}
	return -1
}

func insertAt(seq *yaml.Node, i int, item *yaml.Node) {
	seq.Content = append(seq.Content[:i], append([]*yaml.Node{item}, seq.Content[i:]...)...)
}

// node makes a node from a Go value. ordered builds a mapping whose keys keep the given order
// (a Go map would come out sorted).
func node(v any) *yaml.Node {
	if n, ok := v.(*yaml.Node); ok {
		return n
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		panic(fmt.Sprintf("chartmod: cannot encode %T: %v", v, err)) // only called with plain literals
	}
	return &n
}

type kv struct {
	K string
	V any
}

func ordered(pairs ...kv) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, p := range pairs {
		addKey(m, p.K, node(p.V))
	}
	return m
}

// setPath sets path to value under mapping m, creating mappings on the way.
func setPath(m *yaml.Node, path []string, value any) {
	for _, key := range path[:len(path)-1] {
		next, err := lookup(m, yaml.MappingNode, key)
		if err != nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			addKey(m, key, next)
		}
		m = next
	}
	addKey(m, path[len(path)-1], node(value))
}
