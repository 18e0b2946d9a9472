package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/chartrepo"
)

// tooNew is a kubeVersion no loopback cluster meets.
const tooNew = ">= 1.99.0-0"

// TestKubeVersionRefused: a demo chart whose kubeVersion excludes the cluster's Kubernetes is
// refused by the fit step, with the constraint and the server's version named and nothing
// installed. The chart is the fixture's, its Chart.yaml changed, in a repository of the test's
// own (the shared fixtures stay as they are).
func TestKubeVersionRefused(t *testing.T) {
	repoDir := t.TempDir()
	fixtures := chartrepo.Dir(t)
	if err := os.CopyFS(filepath.Join(repoDir, "grafana-community"), os.DirFS(filepath.Join(fixtures, "grafana-community"))); err != nil {
		t.Fatal(err)
	}
	demoRepo := filepath.Join(repoDir, "open-telemetry")
	if err := os.MkdirAll(demoRepo, 0o755); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(filepath.Join(fixtures, "open-telemetry", "opentelemetry-demo-"+chartmod.DefaultDemoVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.KubeVersion = tooNew
	if _, err := chartutil.Save(ch, demoRepo); err != nil {
		t.Fatal(err)
	}
	srv := chartrepo.Serve(t, repoDir)
	idx, err := repo.IndexDirectory(demoRepo, srv.RepoURL("open-telemetry"))
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(demoRepo, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}

	w := newWorld(t, "kubeversion", without("minikube"), withEnv("SVCGRAPH_DEMO_REPO="+srv.RepoURL("open-telemetry"), "SVCGRAPH_TEMPO_REPO="+srv.RepoURL("grafana-community")))
	w.useContext(t, "old-cluster", nil)
	server, err := w.cluster.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	r := w.run(t, upLimit, w.upArgs("--no-forward")...)
	expect(t, r, 80)
	mustContain(t, r, "CLUSTER_UNSUPPORTED_VERSION", "nothing was installed",
		"opentelemetry-demo "+chartmod.DefaultDemoVersion+" requires Kubernetes "+tooNew+"; the cluster runs "+server.GitVersion)
	w.unchanged(t)
}
