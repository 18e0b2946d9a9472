// Package chartrepo serves Helm chart repositories from a directory over HTTP on 127.0.0.1, for
// tests. By default it serves the shared fixture repositories (../shared/charts next to the
// module root; README.md there describes them), one repository per folder.
package chartrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/svcgraph/svcgraph/internal/testenv"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/repo"
)

// EnvDir overrides where the fixture repositories are.
const EnvDir = "SVCGRAPH_CHARTS_DIR"

// Dir returns the fixture directory, or skips the test loudly when it is missing (fails it under
// CI=true, where ../shared is always there): a chart test that silently passes without charts
// would prove nothing.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			testenv.Missing(t, fmt.Sprintf("cannot find the module root to locate chart fixtures (%v); set %s to the shared charts directory", err, EnvDir))
		}
		dir = filepath.Join(root, "..", "shared", "charts")
	}
	if _, err := os.Stat(filepath.Join(dir, "open-telemetry", "index.yaml")); err != nil {
		testenv.Missing(t, fmt.Sprintf("chart fixtures not found at %s (%v); set %s to a directory holding the open-telemetry/ and grafana-community/ repositories (CI has them in ../shared beside the checkout)", dir, err, EnvDir))
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
	close    func()
}

// Serve serves dir until the test ends (or Close).
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
	s.URL, s.close = srv.URL, srv.Close
	return s
}

// Close stops serving: the repository no longer answers.
func (s *Server) Close() { s.close() }

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
	out := copyDir(t, dir)
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

// WithVersions copies dir into a temporary directory and adds to folder, for each of versions,
// the package folder/file re-versioned (its Chart.yaml says that version, the rest is as it
// was), then indexes the folder afresh as `helm repo index` does. It returns the copy: a
// repository listing versions the fixtures do not have, e.g. above svcgraph's covered range.
func WithVersions(t testing.TB, dir, folder, file string, versions ...string) string {
	t.Helper()
	out := copyDir(t, dir)
	src, err := os.ReadFile(filepath.Join(dir, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		pkg, name, err := reversion(src, v)
		if err != nil {
			t.Fatalf("re-versioning %s as %s: %v", file, v, err)
		}
		if err := os.WriteFile(filepath.Join(out, folder, fmt.Sprintf("%s-%s.tgz", name, v)), pkg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := repo.IndexDirectory(filepath.Join(out, folder), "")
	if err != nil {
		t.Fatalf("indexing %s: %v", folder, err)
	}
	if err := idx.WriteFile(filepath.Join(out, folder, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

var chartVersion = regexp.MustCompile(`(?m)^version: .*$`)

// reversion rewrites the top-level Chart.yaml of a chart package to say version v.
func reversion(pkg []byte, v string) ([]byte, string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		return nil, "", err
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	name := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, "", err
		}
		if dir, base := path.Split(h.Name); base == "Chart.yaml" && strings.Count(dir, "/") == 1 {
			name = strings.TrimSuffix(dir, "/")
			data = chartVersion.ReplaceAll(data, []byte("version: "+v))
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, "", err
		}
	}
	if name == "" {
		return nil, "", errors.New("no top-level Chart.yaml")
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), name, nil
}

// copyDir copies dir into a new temporary directory and returns it.
func copyDir(t testing.TB, dir string) string {
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
