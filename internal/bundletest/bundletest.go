// Package bundletest makes svcgraph bundles that another svcgraph could have written, for tests:
// a real bundle re-tarred with its manifest edited and its sum made to match, so the only thing
// wrong with it is what the edit changed.
package bundletest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
)

// The entries a bundle's format fixes (images/bundle.go): its manifest first, the manifest's
// sha256 last. The images package's own refusal tests fail if these part from its names.
const (
	manifestName = "svcgraph-bundle.json"
	sumName      = "svcgraph-bundle.sha256"
)

// RewriteManifest returns bundle with its manifest (decoded as an M, images.BundleManifest)
// edited and the sum at its end recomputed.
func RewriteManifest[M any](t testing.TB, bundle []byte, edit func(*M)) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(bundle))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var manifest []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the bundle to rewrite: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s of the bundle to rewrite: %v", h.Name, err)
		}
		switch h.Name {
		case manifestName:
			var m M
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("the bundle's manifest: %v", err)
			}
			edit(&m)
			if data, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			manifest = data
		case sumName:
			if manifest == nil {
				t.Fatalf("the bundle has no %s before its sum", manifestName)
			}
			sum := sha256.Sum256(manifest)
			data = []byte(hex.EncodeToString(sum[:]) + "\n")
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
