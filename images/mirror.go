package images

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Mirror sends pulls meant for one registry to another (a pull-through cache, a company's Harbor,
// the tests' registry on loopback), the way containerd's registry mirrors do: the repository path
// is kept, under the mirror's own path prefix.
type Mirror struct {
	Registry string // as in full references: docker.io, ghcr.io, quay.io
	Host     string // host[:port] of the mirror
	Prefix   string // repository prefix on the mirror ("" or e.g. "ghcr")
	Insecure bool   // plain http
}

// ParseMirror reads --registry-mirror REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000 or
// ghcr.io=https://harbor.corp/v2/ghcr (a leading /v2 is the registry API's root, not a prefix).
func ParseMirror(s string) (Mirror, error) {
	reg, raw, ok := strings.Cut(s, "=")
	reg = strings.ToLower(strings.TrimSpace(reg))
	if !ok || reg == "" || raw == "" {
		return Mirror{}, fmt.Errorf("%q is not REGISTRY=URL", s)
	}
	if reg == name.DefaultRegistry || reg == "registry-1.docker.io" {
		reg = dockerHub
	}
	if _, err := name.NewRegistry(reg, name.StrictValidation); err != nil || strings.Contains(reg, "/") {
		return Mirror{}, fmt.Errorf("%q is not a registry host (such as docker.io or ghcr.io)", reg)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Mirror{}, fmt.Errorf("mirror URL %q is not http(s)://host[:port][/path]", raw)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "v2" {
		prefix = ""
	}
	prefix = strings.TrimPrefix(prefix, "v2/")
	m := Mirror{Registry: reg, Host: u.Host, Prefix: prefix, Insecure: u.Scheme == "http"}
	if _, err := m.repository(name.MustParseReference("busybox").Context()); err != nil {
		return Mirror{}, fmt.Errorf("mirror URL %q: %v", raw, err)
	}
	return m, nil
}

func (m Mirror) String() string {
	scheme := "https"
	if m.Insecure {
		scheme = "http"
	}
	u := scheme + "://" + m.Host
	if m.Prefix != "" {
		u += "/" + m.Prefix
	}
	return u
}

// repository is where repo lives on the mirror.
func (m Mirror) repository(repo name.Repository) (name.Repository, error) {
	path := repo.RepositoryStr()
	if m.Prefix != "" {
		path = m.Prefix + "/" + path
	}
	opts := []name.Option{name.StrictValidation}
	if m.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(m.Host+"/"+path, opts...)
}

// source is where an image is pulled from: its own registry, or the mirror configured for it.
type source struct {
	repo   name.Repository // where the blobs and manifests are fetched
	mirror *Mirror
}

func sourceFor(ref name.Reference, mirrors []Mirror) (source, error) {
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	for i := range mirrors {
		if mirrors[i].Registry == reg {
			repo, err := mirrors[i].repository(ref.Context())
			return source{repo: repo, mirror: &mirrors[i]}, err
		}
	}
	return source{repo: ref.Context()}, nil
}

// String says where the pull went, for errors and -v.
func (s source) String() string {
	if s.mirror != nil {
		return fmt.Sprintf("mirror %s (%s)", s.mirror, s.repo.Name())
	}
	return s.repo.Name()
}
