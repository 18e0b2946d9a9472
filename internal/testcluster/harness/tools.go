package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ToolsDir is where the wrapper modules live, relative to the repository root. Each is its own
// Go module so that the main module's go.mod and `go build ./...` never see these programs.
const ToolsDir = "scripts/testcluster-tools"

// Versions of what the cluster runs. The wrapper modules' go.mod files pin the same versions;
// these strings key the binary cache and feed the version ldflags.
const (
	EtcdVersion       = "v3.7.3"
	KubernetesVersion = "v1.37.2"
	KwokVersion       = "v0.8.0"
	HelmVersion       = "v3.22.0"
)

// toolModule is one wrapper module and the binaries built from it.
type toolModule struct {
	dir      string            // under ToolsDir
	version  string            // cache key
	ldflags  string            // besides -s -w
	binaries map[string]string // binary name → package path
}

func toolModules() []toolModule {
	var kubeLD []string
	major, minor, _ := strings.Cut(strings.TrimPrefix(KubernetesVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	// Without these /version says v0.0.0-master and Helm's kubeVersion checks trip.
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		kubeLD = append(kubeLD, "-X "+p+".gitVersion="+KubernetesVersion, "-X "+p+".gitMajor="+major,
			"-X "+p+".gitMinor="+minor, "-X "+p+".gitTreeState=clean")
	}
	return []toolModule{
		{dir: "etcd", version: EtcdVersion, binaries: map[string]string{"etcd": "go.etcd.io/etcd/server/v3"}},
		{dir: "kwok", version: KwokVersion, binaries: map[string]string{"kwok": "sigs.k8s.io/kwok/cmd/kwok"}},
		{dir: "kubernetes", version: KubernetesVersion, ldflags: strings.Join(kubeLD, " "), binaries: map[string]string{
			"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
			"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
			"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
			"kubectl":                 "k8s.io/kubernetes/cmd/kubectl",
		}},
		{dir: "helm", version: HelmVersion, ldflags: "-X helm.sh/helm/v3/internal/version.version=" + HelmVersion +
			" -X helm.sh/helm/v3/internal/version.gitTreeState=clean",
			binaries: map[string]string{"helm": "helm.sh/helm/v3/cmd/helm"}},
	}
}

// Tools are the paths of the built binaries, by name, and the kwok module's source folder (its
// stage files and CRDs are read from there rather than copied into this repository).
type Tools struct {
	Bin     map[string]string
	KwokDir string
}

// EnsureTools builds every binary missing from cacheDir/bin (one `go build` per wrapper module)
// and returns their paths. Build output goes to progress.
func EnsureTools(ctx context.Context, repoRoot, cacheDir string, progress io.Writer) (Tools, error) {
	binDir := filepath.Join(cacheDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return Tools{}, err
	}
	// Two ups (say, two state directories) must not build into the cache at once.
	lock := flock.New(filepath.Join(binDir, ".build.lock"))
	if err := lock.Lock(); err != nil {
		return Tools{}, err
	}
	defer lock.Unlock()
	tools := Tools{Bin: map[string]string{}}
	for _, m := range toolModules() {
		var missing []string
		for name := range m.binaries {
			path := filepath.Join(binDir, name+"-"+m.version)
			tools.Bin[name] = path
			if _, err := os.Stat(path); err != nil {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if err := buildModule(ctx, repoRoot, binDir, m, missing, progress); err != nil {
			return Tools{}, err
		}
	}
	dir, err := kwokModuleDir(ctx, repoRoot)
	if err != nil {
		return Tools{}, err
	}
	tools.KwokDir = dir
	return tools, nil
}

func buildModule(ctx context.Context, repoRoot, binDir string, m toolModule, names []string, progress io.Writer) error {
	tmp, err := os.MkdirTemp(binDir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w " + m.ldflags), "-o", tmp + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, m.binaries[n])
	}
	fmt.Fprintf(progress, "testcluster: building %s %s (%s); the first build takes minutes, later runs reuse %s\n",
		strings.Join(names, ", "), m.version, m.dir, binDir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(repoRoot, ToolsDir, m.dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s in %s: %w", strings.Join(names, ", "), cmd.Dir, err)
	}
	for _, n := range names {
		built := filepath.Join(tmp, goBuildName(m.binaries[n]))
		if err := os.Rename(built, filepath.Join(binDir, n+"-"+m.version)); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "testcluster: built %s in %s\n", strings.Join(names, ", "), time.Since(start).Round(time.Second))
	return nil
}

// kwokModuleDir asks the kwok wrapper module where its kwok source is (downloading it if needed).
func kwokModuleDir(ctx context.Context, repoRoot string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kwok")
	cmd.Dir = filepath.Join(repoRoot, ToolsDir, "kwok")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate the kwok module (go mod download in %s): %w", cmd.Dir, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Dir == "" {
		return "", fmt.Errorf("locate the kwok module: %s", info.Error)
	}
	return info.Dir, nil
}

// goBuildName is the file name go build gives a main package: its last path element, skipping a
// major-version suffix (go.etcd.io/etcd/server/v3 → server).
func goBuildName(pkg string) string {
	dir, last := path.Split(pkg)
	if len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		return path.Base(strings.TrimSuffix(dir, "/"))
	}
	return last
}
