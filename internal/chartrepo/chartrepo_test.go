package chartrepo

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestServeCountsAndTamperedDiffersInOneByte(t *testing.T) {
	dir := Dir(t)
	const pkg = "tempo-distributed-1.9.4.tgz"
	tampered := Tampered(t, dir, "grafana-community", pkg)
	for _, tc := range []struct {
		dir       string
		wantDiffs int
	}{{dir, 0}, {tampered, 1}} {
		s := Serve(t, tc.dir)
		resp, err := http.Get(s.RepoURL("grafana-community") + "/" + pkg)
		if err != nil {
			t.Fatal(err)
		}
		served, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", pkg, resp.StatusCode, err)
		}
		orig, err := os.ReadFile(filepath.Join(dir, "grafana-community", pkg))
		if err != nil {
			t.Fatal(err)
		}
		diffs := 0
		for i := range orig {
			if i < len(served) && orig[i] != served[i] {
				diffs++
			}
		}
		if len(served) != len(orig) || diffs != tc.wantDiffs {
			t.Errorf("%s: served %d bytes with %d changed, want %d bytes with %d changed", tc.dir, len(served), diffs, len(orig), tc.wantDiffs)
		}
		if got := s.Requests(); len(got) != 1 || got[0] != "/grafana-community/"+pkg {
			t.Errorf("requests = %v", got)
		}
	}
	idx := func(d string) []byte {
		b, _ := os.ReadFile(filepath.Join(d, "grafana-community", "index.yaml"))
		return b
	}
	if !bytes.Equal(idx(dir), idx(tampered)) {
		t.Error("Tampered changed index.yaml, so the digest would not mismatch")
	}
}
