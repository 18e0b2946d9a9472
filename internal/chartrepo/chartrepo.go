// Package chartrepo serves Helm chart repositories from a directory over HTTP on 127.0.0.1, for
// tests. By default it serves the shared fixture repositories (../shared/charts next to the
// module root; README.md there describes them), one repository per folder.
package chartrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/cli"
)

// EnvDir overrides where the fixture repositories are.
const EnvDir = "SVCGRAPH_CHARTS_DIR"

// Dir returns the fixture directory, or skips the test loudly when it is missing: a chart test
// that silently passes without charts would prove nothing.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Skipf("SKIPPED: cannot find the module root to locate chart fixtures (%v); set %s to the shared charts directory", err, EnvDir)
		}
		dir = filepath.Join(root, "..", "shared", "charts")
	}
	if _, err := os.Stat(filepath.Join(dir, "open-telemetry", "index.yaml")); err != nil {
		t.Skipf("SKIPPED: chart fixtures not found at %s (%v); set %s to a directory holding the open-telemetry/ and grafana-community/ repositories", dir, err, EnvDir)
	}
	return dir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Server is a running repository server. Each folder of its directory is one repository at
// RepoURL(folder).
type Server struct {
	URL string // http://127.0.0.1:port

	mu       sync.Mutex
	requests []string
}

// Serve serves dir until the test ends.
func Serve(t testing.TB, dir string) *Server {
	t.Helper()
	s := &Server{}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path)
		s.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// ServeFixtures serves the shared fixture repositories (see Dir) until the test ends.
func ServeFixtures(t testing.TB) *Server {
	t.Helper()
	return Serve(t, Dir(t))
}

// RepoURL is the URL of the repository in folder, e.g. "open-telemetry".
func (s *Server) RepoURL(folder string) string { return s.URL + "/" + folder }

// Requests returns the paths requested so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Tampered copies dir into a temporary directory and changes one byte in the middle of
// folder/file, leaving index.yaml (and so the digest it lists) as it was. It returns the copy.
func Tampered(t testing.TB, dir, folder, file string) string {
	t.Helper()
	out := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", dir, err)
	}
	target := filepath.Join(out, folder, file)
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
	if len(data) == 0 {
		t.Fatalf("tampering: %s is empty", target)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(target, data, 0o644); err != nil {
		t.Fatalf("tampering: %v", err)
	}
	return out
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("chart repositories at %s", s.URL) }

// HelmSettings points every Helm directory into a temporary one, so a test that adds these
// repositories never touches the user's ~/.config/helm or ~/.cache/helm.
func HelmSettings(t testing.TB) *cli.EnvSettings {
	h := t.TempDir()
	s := cli.New()
	s.RepositoryConfig = filepath.Join(h, "config", "repositories.yaml")
	s.RepositoryCache = filepath.Join(h, "cache", "repository")
	s.RegistryConfig = filepath.Join(h, "config", "registry", "config.json")
	s.PluginsDirectory = filepath.Join(h, "data", "plugins")
	s.KubeConfig = filepath.Join(h, "kubeconfig")
	return s
}
