package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Profile is what the double remembers about one minikube profile: one JSON file per profile in
// the state directory, so tests can read it, or write one (e.g. Status "Paused") to set a scene.
type Profile struct {
	Name              string
	Status            string // Running, Stopped, Paused, Nonexistent or Invalid
	CPUs              int
	Memory            int // MB
	Driver            string
	KubernetesVersion string
}

const (
	running = "Running"
	stopped = "Stopped"
	paused  = "Paused"
	// nonexistent: the profile is saved but has no machine, as a start leaves it that failed
	// while creating the machine (libmachine's state None).
	nonexistent = "Nonexistent"
	// invalid: only the profile's directory exists, as any start leaves it that was refused
	// before it saved the profile; minikube lists it under "invalid" and otherwise ignores it.
	invalid = "Invalid"
)

// configError is a profile file that does not parse: minikube's config.Load fails on it with
// "unmarshal: …" (HOST_CONFIG_LOAD, exit 38). Tests make one by writing garbage into it.
type configError struct{ err error }

func (e configError) Error() string { return "unmarshal: " + e.err.Error() }

type store struct{ dir string }

func openStore() (store, error) {
	dir := os.Getenv("MINIKUBE_DOUBLE_STATE")
	if dir == "" {
		return store{}, errors.New("MINIKUBE_DOUBLE_STATE is not set: it must name the directory where the minikube double keeps its profiles")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return store{}, fmt.Errorf("state directory: %w", err)
	}
	return store{dir: dir}, nil
}

func (s store) path(name string) string { return filepath.Join(s.dir, name+".json") }

// load returns nil, nil when the profile does not exist.
func (s store) load(name string) (*Profile, error) {
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, configError{err}
	}
	return &p, nil
}

// markInvalid records a profile directory without a profile, unless there is a profile.
func (s store) markInvalid(name string) error {
	if _, err := os.Stat(s.path(name)); err == nil {
		return nil
	}
	return s.save(&Profile{Name: name, Status: invalid})
}

// save writes through a temporary file and a rename so a reader never sees half a profile.
func (s store) save(p *Profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".profile-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), s.path(p.Name))
}

func (s store) remove(name string) error {
	_ = os.Remove(s.imagesPath(name)) // the node's images go with the profile
	err := os.Remove(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// list returns the profiles sorted by name, as minikube lists its profile directories. A
// profile whose file does not parse is listed as invalid.
func (s store) list() ([]*Profile, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue
		}
		names = append(names, strings.TrimSuffix(n, ".json"))
	}
	sort.Strings(names)
	var ps []*Profile
	for _, n := range names {
		p, err := s.load(n)
		if _, bad := err.(configError); bad {
			p, err = &Profile{Name: n, Status: invalid}, nil
		}
		if err != nil {
			return nil, err
		}
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps, nil
}
