package otelcoltest

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// address is an endpoint as collector configs write them: an optional scheme, a host (a name, an
// IP or an ${env:…} reference) and a port, and an optional path.
var address = regexp.MustCompile(`^([a-z]+://)?([A-Za-z0-9._-]+|\$\{(?:env:)?[A-Za-z0-9_]+\}|\[[0-9a-fA-F:]+\]):([0-9]+)(/.*)?$`)

// Loopback rewrites every address the config's receivers, exporters, extensions and the
// collector's own telemetry name (host:port, with or without a scheme and a path) to 127.0.0.1,
// and nothing else: the collector then listens and dials on loopback only. An address in targets
// (keyed by host:port as the config writes it) becomes that target; every other one a free
// loopback port, the same port wherever the config repeats it (the prometheus receiver scraping
// the collector's own metrics). It returns the new config and the address each old one became.
func Loopback(config string, targets map[string]string) (string, map[string]string, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		return "", nil, fmt.Errorf("collector config does not parse: %w", err)
	}
	moved := map[string]string{}
	for k, v := range targets {
		moved[k] = v
	}
	var err error
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			m := address.FindStringSubmatch(x)
			if m == nil {
				return x
			}
			old := m[2] + ":" + m[3]
			to, ok := moved[old]
			if !ok {
				port, e := freePort()
				if e != nil {
					err = e
					return x
				}
				to = "127.0.0.1:" + strconv.Itoa(port)
				moved[old] = to
			}
			return m[1] + to + m[4]
		}
		return v
	}
	for _, section := range []string{"receivers", "exporters", "extensions"} {
		if v, ok := cfg[section]; ok {
			cfg[section] = walk(v)
		}
	}
	if tel, ok := dig(cfg, "service", "telemetry"); ok {
		cfg["service"].(map[string]any)["telemetry"] = walk(tel)
	}
	if err != nil {
		return "", nil, err
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", nil, err
	}
	return string(out), moved, nil
}

// freePort is a port the kernel just had free on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is 127.0.0.1 with a port the kernel just had free.
func FreeAddr() (string, error) {
	p, err := freePort()
	return "127.0.0.1:" + strconv.Itoa(p), err
}

// Unchanged reports whether two configs differ only in the strings Loopback rewrites: the proof
// that nothing but addresses changed.
func Unchanged(before, after string, moved map[string]string) error {
	var a, b any
	if err := yaml.Unmarshal([]byte(before), &a); err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(after), &b); err != nil {
		return err
	}
	return same(a, b, moved, "")
}

func same(a, b any, moved map[string]string, path string) error {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return fmt.Errorf("%s: keys differ", path)
		}
		for k := range x {
			if err := same(x[k], y[k], moved, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Errorf("%s: lists differ", path)
		}
		for i := range x {
			if err := same(x[i], y[i], moved, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case string:
		y, _ := b.(string)
		if x == y {
			return nil
		}
		if m := address.FindStringSubmatch(x); m != nil && strings.Replace(x, m[2]+":"+m[3], moved[m[2]+":"+m[3]], 1) == y {
			return nil
		}
		return fmt.Errorf("%s: %q became %q", path, x, y)
	default:
		if fmt.Sprint(a) != fmt.Sprint(b) {
			return fmt.Errorf("%s: %v became %v", path, a, b)
		}
	}
	return nil
}

func dig(m map[string]any, path ...string) (any, bool) {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, true
}
