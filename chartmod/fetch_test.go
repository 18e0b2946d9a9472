package chartmod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// silentRepo accepts connections and never answers: a chart repository behind a dead proxy or
// a hung server. accepted gets each connection when it arrives, closed when the client hangs up.
type silentRepo struct {
	url              string
	accepted, closed chan struct{}
}

func newSilentRepo(t *testing.T) *silentRepo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentRepo{url: "http://" + ln.Addr().String() + "/charts", accepted: make(chan struct{}, 16), closed: make(chan struct{}, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- struct{}{}
			go func() {
				_, _ = io.Copy(io.Discard, c) // the request, then nothing until the client closes
				c.Close()
				s.closed <- struct{}{}
			}()
		}
	}()
	return s
}

// within waits for ch, failing the test after limit.
func within(t *testing.T, ch <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(limit):
		t.Fatalf("%s: not within %s", what, limit)
	}
}

func shortStall(t *testing.T, d time.Duration) {
	saved := repoStall
	repoStall = d
	t.Cleanup(func() { repoStall = saved })
}

// A repository that accepts and never answers ends Pull and AddRepos with CHART_REPO after the
// stall deadline (shortened here from RepoStallTimeout), and the connection is closed.
func TestStalledRepositoryIsAChartRepoError(t *testing.T) {
	shortStall(t, 300*time.Millisecond)
	silent := newSilentRepo(t)
	o, _ := fixtureOptions(t, "", "", "demo")
	o.DemoRepoURL = silent.url
	_, err := Pull(context.Background(), o)
	wantKind(t, err, reason.ChartRepo, silent.url, "no answer for 300ms")
	within(t, silent.closed, 5*time.Second, "Pull's connection closed")

	err = AddRepos(context.Background(), o)
	wantKind(t, err, reason.ChartRepo, silent.url, "no answer for 300ms")
	within(t, silent.closed, 5*time.Second, "AddRepos's connection closed")
	if got := reposByNameIfAny(t, o); len(got) != 0 {
		t.Errorf("AddRepos added %v although a repository did not answer", got)
	}
}

func reposByNameIfAny(t *testing.T, o Options) map[string]string {
	if _, err := os.Stat(o.Helm.RepositoryConfig); err != nil {
		return nil
	}
	return reposByName(t, o)
}

// Ctrl-C while a repository is silent, or in the middle of a body that stopped coming, ends the
// command at once as an interruption (exit 130), with the connection closed: the full stall
// deadline is not waited out.
func TestCtrlCDuringADownload(t *testing.T) {
	for _, tc := range []struct {
		name string
		repo func(t *testing.T) (url string, arrived, closed chan struct{})
	}{
		{"waiting for the answer", func(t *testing.T) (string, chan struct{}, chan struct{}) {
			s := newSilentRepo(t)
			return s.url, s.accepted, s.closed
		}},
		{"in the middle of the body", func(t *testing.T) (string, chan struct{}, chan struct{}) {
			arrived, closed := make(chan struct{}, 4), make(chan struct{}, 4)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100000")
				_, _ = w.Write([]byte("apiVersion: v1\nentries:\n"))
				w.(http.Flusher).Flush()
				arrived <- struct{}{}
				<-r.Context().Done() // the rest never comes; the client hangs up
				closed <- struct{}{}
			}))
			t.Cleanup(srv.Close)
			return srv.URL + "/charts", arrived, closed
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, arrived, closed := tc.repo(t)
			for _, call := range []struct {
				name string
				run  func(context.Context, Options) error
			}{
				{"Pull", func(ctx context.Context, o Options) error { _, err := Pull(ctx, o); return err }},
				{"AddRepos", AddRepos},
				{"Offers", func(ctx context.Context, o Options) error { _, err := Offers(ctx, o); return err }},
			} {
				o, _ := fixtureOptions(t, "", "", "demo")
				o.DemoRepoURL = url
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- call.run(ctx, o) }()
				within(t, arrived, 10*time.Second, call.name+" reached the repository")
				start := time.Now()
				cancel()
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) || reason.Of(err).Kind.ExitCode != 130 {
						t.Errorf("%s after Ctrl-C = %v (%s), want an interruption (exit 130)", call.name, err, reason.Of(err).Kind.ID)
					}
					t.Logf("%s returned %s after Ctrl-C", call.name, time.Since(start).Round(time.Millisecond))
				case <-time.After(5 * time.Second):
					t.Fatalf("%s still runs 5 s after Ctrl-C", call.name)
				}
				within(t, closed, 5*time.Second, call.name+"'s connection closed")
			}
		})
	}
}

// Endless answers stop at the stated bounds with a clear CHART_REPO error.
func TestRepositoryAnswersAreBounded(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("# padding\n", 100_000))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		mention string
	}{
		{"an endless index", endless, fmt.Sprintf("larger than %d MiB", maxIndexBytes>>20)},
		{"an endless package", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/index.yaml") {
				fmt.Fprintf(w, "apiVersion: v1\nentries:\n  %s:\n  - name: %s\n    version: %s\n    apiVersion: v2\n    digest: %s\n    urls: [pkg.tgz]\n",
					DemoChart, DemoChart, DefaultDemoVersion, strings.Repeat("0", 64))
				return
			}
			endless(w, r)
		}, fmt.Sprintf("larger than %d MiB", maxPackageBytes>>20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			o, _ := fixtureOptions(t, "", "", "demo")
			o.DemoRepoURL = srv.URL + "/charts"
			_, err := Pull(context.Background(), o)
			wantKind(t, err, reason.ChartRepo, tc.mention)
		})
	}
}

// -f files are read with a bound: /dev/zero is a clear BAD_VALUES error; a URL is fetched like a
// chart file; files merge in Helm's order.
func TestValuesFilesAreBounded(t *testing.T) {
	o, srv := fixtureOptions(t, "", "", "demo")
	o.ValuesFiles = []string{"/dev/zero"}
	_, err := ReadValues(context.Background(), o)
	wantKind(t, err, reason.BadValues, "/dev/zero", "more than 8 MiB")

	// Helm's order and merge: files in order, maps merged key by key, then --set.
	dir := t.TempDir()
	first := filepath.Join(dir, "my,values.yaml") // a comma is part of the name
	if err := os.WriteFile(first, []byte("a: {b: 1, c: 2}\nlist: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.ValuesFiles = []string{first, srv.URL + "/open-telemetry/index.yaml"}
	o.SetValues = []string{"a.c=3", "list={y,z}", `esc=x\,y`}
	got, err := ReadValues(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %v %v %v", got["a"], got["list"], got["esc"], got["apiVersion"]); s != "map[b:1 c:3] [y z] x,y v1" {
		t.Errorf("merged values = %s", s)
	}
}

// A repository URL with user:password@ works, and the password appears in no message, in no
// -v line, and not in the patched Chart.yaml the release stores.
func TestCredentialsNeverShown(t *testing.T) {
	const secret = "s3cret-pw"
	withCreds := func(u string) string { return strings.Replace(u, "http://", "http://user:"+secret+"@", 1) }
	o, _ := fixtureOptions(t, "0.30.2", "2.26.2", "demo")
	o.DemoRepoURL, o.TempoRepoURL = withCreds(o.DemoRepoURL), withCreds(o.TempoRepoURL)
	said := listen(&o)
	p, r := prepare(t, o)
	f := rawFile(p.Chart, "Chart.yaml")
	if strings.Contains(string(f.Data), secret) || strings.Contains(fmt.Sprint(p.Chart.Metadata.Dependencies), secret) {
		t.Errorf("the patched Chart.yaml holds the password:\n%s", f.Data)
	}
	if !strings.Contains(string(f.Data), "user:xxxxx@") {
		t.Errorf("the patched Chart.yaml does not name the repository (redacted):\n%s", f.Data)
	}
	if strings.Contains(r.Manifest, secret) || strings.Contains(said.String(), secret) {
		t.Errorf("the password shows in the manifest or in what svcgraph said:\n%s", said)
	}

	dead := httptest.NewServer(nil)
	deadURL := withCreds(dead.URL) + "/charts"
	dead.Close()
	bad, _ := fixtureOptions(t, "", "", "demo")
	bad.DemoRepoURL = deadURL
	said = listen(&bad)
	_, pullErr := Pull(context.Background(), bad)
	addErr := AddRepos(context.Background(), bad)
	bad.ValuesFiles = []string{deadURL + "/values.yaml"}
	_, valuesErr := ReadValues(context.Background(), bad)
	bad.DemoRepoURL = "ftp://user:" + secret + "@example.com/charts"
	for _, err := range []error{pullErr, addErr, valuesErr, bad.ValidateCharts()} {
		if err == nil {
			t.Fatalf("no error from an unreachable or unsupported repository")
		}
		e := reason.Of(err)
		if strings.Contains(err.Error(), secret) || strings.Contains(e.Advise(), secret) {
			t.Errorf("the password shows in %q (advice %q)", err, e.Advise())
		}
		t.Logf("%s: %v", e.Kind.ID, err)
	}
	if strings.Contains(said.String(), secret) {
		t.Errorf("the password shows in what svcgraph said:\n%s", said)
	}
}
