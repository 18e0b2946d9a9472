package chartmod

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
)

// renderCacheKeep is how many rendered manifests the cache keeps (one per release, namespace and
// values a user switches between), the least recently used going first.
const renderCacheKeep = 8

// renderKey names everything a client-only render's output depends on, or "" when one of them
// is unknown and nothing may be cached. The running executable stands for the Helm SDK and the
// render code: a rebuilt or upgraded svcgraph renders afresh.
func renderKey(p *Patched, o Options, kube *chartutil.KubeVersion) string {
	if p.Hash == "" || o.CacheDir == "" {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "render v2\x00%s\x00%s\x00%s\x00%s\x00", p.Hash, o.Release, o.Namespace, kube.String())
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00", exe, fi.Size(), fi.ModTime().UnixNano())
	return hex.EncodeToString(h.Sum(nil))
}

func renderCacheDir(cacheDir string) string { return filepath.Join(cacheDir, "rendered") }

// cachedRender returns the manifest kept under key, and marks it as just used. An entry whose
// integrity check fails (truncated, edited) is a miss.
func cachedRender(cacheDir, key string) (string, bool) {
	if key == "" {
		return "", false
	}
	file := filepath.Join(renderCacheDir(cacheDir), key+".yaml")
	data, ok := readChecked(file)
	if !ok {
		return "", false
	}
	now := time.Now()
	_ = os.Chtimes(file, now, now)
	return string(data), true
}

// keepRender stores a manifest under key and drops the least recently used beyond
// renderCacheKeep. A cache that cannot be written only costs the next run a render.
func keepRender(cacheDir, key, manifest string) {
	if key == "" {
		return
	}
	dir := renderCacheDir(cacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	if err := writeChecked(filepath.Join(dir, key+".yaml"), []byte(manifest)); err != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type kept struct {
		name string
		used time.Time
	}
	var all []kept
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".yaml") {
			all = append(all, kept{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b kept) int { return b.used.Compare(a.used) })
	for _, k := range all[min(len(all), renderCacheKeep):] {
		_ = os.Remove(filepath.Join(dir, k.name))
	}
}
