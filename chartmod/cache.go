package chartmod

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Cache entries are checked, not trusted: a crash, a full disk or a hand edit can leave a file
// that is truncated or holds something else, and a cache that fails every later run is worse
// than none. Each entry svcgraph writes carries the sha256 and length of its payload, and an
// entry whose check fails counts as missing (the caller downloads or renders afresh).

// checkedHeader starts every checked cache entry: the format, then the payload's sha256 and
// length, then a newline and the payload.
const checkedHeader = "svcgraph-cache-v1"

// writeChecked stores data under path with its integrity header, atomically.
func writeChecked(path string, data []byte) error {
	sum := sha256.Sum256(data)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s sha256:%s %d\n", checkedHeader, hex.EncodeToString(sum[:]), len(data))
	b.Write(data)
	return writeAtomic(path, b.Bytes())
}

// readChecked returns the payload of a checked entry, and false when the file is missing,
// unreadable, or its header does not match what follows.
func readChecked(path string) ([]byte, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	header, data, ok := bytes.Cut(raw, []byte("\n"))
	if !ok {
		return nil, false
	}
	var format, digest, size string
	if n, err := fmt.Sscan(string(header), &format, &digest, &size); n != 3 || err != nil || format != checkedHeader {
		return nil, false
	}
	if l, err := strconv.Atoi(size); err != nil || l != len(data) {
		return nil, false
	}
	sum := sha256.Sum256(data)
	if digest != "sha256:"+hex.EncodeToString(sum[:]) {
		return nil, false
	}
	return data, true
}

// writeAtomic replaces path with data through a temporary file that is synced before the
// rename, so a crash or a full disk leaves the old file or the new one, never a torn one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the OS allows it; it is best effort (Windows
// cannot open a directory for syncing, and the file itself is already synced).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
