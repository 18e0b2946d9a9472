package chartmod

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// What svcgraph reads from a chart repository is bounded: a repository (or a proxy in front of
// it) that sends without end must not exhaust memory. Real indexes are a few MB, the largest
// package svcgraph pulls is under 1 MB.
const (
	maxIndexBytes   = 64 << 20
	maxPackageBytes = 32 << 20
)

// RepoStallTimeout is how long a chart repository may stay silent (no response, or no body
// bytes) before the request ends with CHART_REPO. A slow download that keeps moving is not cut.
const RepoStallTimeout = 30 * time.Second

// repoStall is RepoStallTimeout; tests shorten it.
var repoStall = RepoStallTimeout

const userAgent = "svcgraph (Helm SDK)"

var errStalled = errors.New("stalled")

// fetcher downloads from chart repositories over HTTP(S) with the command's context, so Ctrl-C
// ends a download at once, and with a stall deadline. Helm's getter takes neither. A repository
// the user already has in repositories.yaml (same URL) is reached with that entry's credentials
// and TLS settings, as `helm pull` would. One fetcher serves one command; close ends its
// kept-alive connections.
type fetcher struct {
	entries []*repo.Entry
	clients map[string]*http.Client // by repoKey
	indexes map[string]fetchedIndex // by repoKey, downloaded by this fetcher
}

type fetchedIndex struct {
	idx *repo.IndexFile
	raw []byte
}

func newFetcher(o Options) *fetcher {
	f := &fetcher{clients: map[string]*http.Client{}, indexes: map[string]fetchedIndex{}}
	if o.Helm != nil {
		if rf, err := repo.LoadFile(o.Helm.RepositoryConfig); err == nil {
			f.entries = rf.Repositories
		}
	}
	return f
}

func (f *fetcher) close() {
	for _, c := range f.clients {
		c.CloseIdleConnections()
	}
}

// entry is the user's repository entry for repoURL, or nil.
func (f *fetcher) entry(repoURL string) *repo.Entry {
	for _, e := range f.entries {
		if e != nil && sameURL(e.URL, repoURL) {
			return e
		}
	}
	return nil
}

func (f *fetcher) client(repoURL string) (*http.Client, error) {
	key := repoKey(repoURL)
	if c, ok := f.clients[key]; ok {
		return c, nil
	}
	tlsConf, err := tlsConfig(f.entry(repoURL))
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: repoStall, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: repoStall,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
	}}
	f.clients[key] = c
	return c, nil
}

// tlsConfig applies a repository entry's certFile/keyFile/caFile/insecure_skip_tls_verify.
func tlsConfig(e *repo.Entry) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e == nil {
		return c, nil
	}
	c.InsecureSkipVerify = e.InsecureSkipTLSverify // the user's own setting for this repository
	if e.CertFile != "" && e.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate of Helm repository %s: %w", e.Name, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file of Helm repository %s: %w", e.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s of Helm repository %s holds no certificate", e.CAFile, e.Name)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// get downloads target (a file of the repository at repoURL) and returns its body, refusing
// more than limit bytes. It returns ctx's error when ctx ends first, so an interrupted command
// stays an interruption.
func (f *fetcher) get(ctx context.Context, repoURL, target string, limit int64) ([]byte, error) {
	c, err := f.client(repoURL)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(repoStall, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if e := f.entry(repoURL); e != nil && e.Username != "" && req.URL.User == nil && (e.PassCredentialsAll || sameHost(target, repoURL)) {
		req.SetBasicAuth(e.Username, e.Password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, stallCause(ctx, rctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(&stallReader{resp.Body, stall}, limit+1))
	if err != nil {
		return nil, stallCause(ctx, rctx, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d MiB, more than svcgraph reads from there", limit>>20)
	}
	return data, nil
}

// stallCause names why a request ended: the caller's context, the stall deadline, or err.
func stallCause(ctx, rctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(context.Cause(rctx), errStalled) {
		return fmt.Errorf("no answer for %s", repoStall)
	}
	return err
}

// stallReader pushes the stall deadline back whenever bytes arrive.
type stallReader struct {
	r     io.Reader
	stall *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.stall.Reset(repoStall)
	}
	return n, err
}

// repoError is a CHART_REPO error, or ctx's error when the command was interrupted: Ctrl-C
// stays exit 130 however deep it ended a download.
func repoError(ctx context.Context, err error, advice, format string, args ...any) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return reason.Wrap(reason.ChartRepo, err, advice, format, args...)
}

// repoKey is a repository URL as svcgraph compares them: scheme and host in lower case, without
// credentials and without a trailing slash.
func repoKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.TrimSuffix(raw, "/")
	}
	u.User = nil
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/"), ""
	return u.String()
}

func sameURL(a, b string) bool { return repoKey(a) == repoKey(b) }

func sameHost(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && strings.EqualFold(ua.Host, ub.Host)
}

var userinfo = regexp.MustCompile(`//[^/@]*@`)

// RedactURL is how svcgraph shows a repository URL anywhere (messages, JSON events, the patched
// Chart.yaml stored in the release): a password in it becomes "xxxxx".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfo.ReplaceAllString(raw, "//xxxxx@")
	}
	return u.Redacted()
}

// checkRepoURL refuses a repository URL svcgraph cannot download from with a deadline and
// Ctrl-C: only http and https (Helm's getter plugins and OCI registries are not supported).
func checkRepoURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return reason.New(reason.Usage, "Give the repository's http:// or https:// URL, as for `helm repo add`.",
			"%s %q is not an http(s) URL of a Helm chart repository", flag, RedactURL(raw))
	}
	return nil
}
