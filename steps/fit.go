package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/english"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// CheckFit checks, before anything is installed, that the cluster can take the release, and
// names every problem at once: the Kubernetes version against every chart's kubeVersion, the
// user's permissions for every verb × resource the release and svcgraph use (cluster-scoped
// ones included), the storage the release's claims want, the nodes' architectures against the
// platforms the images are built for (fit_arch.go), and the namespace (one holding
// objects that are not the release's is refused: down would delete them). Claims of Tempo's
// components on a cluster without a default StorageClass would stay Pending for ever: Tempo
// then keeps its data in emptyDirs, and the summary says so.
type CheckFit struct{}

func (CheckFit) ID() string    { return "fit" }
func (CheckFit) Title() string { return "Checking that the cluster fits" }

// misfit is one reason the release does not fit the cluster.
type misfit struct {
	kind   reason.Kind
	lines  []string
	advice string
}

func (CheckFit) Run(ctx context.Context, s *Session) error {
	k, err := s.Kube()
	if err != nil {
		return err
	}
	facts, err := s.clusterFacts(ctx)
	if err != nil {
		return err
	}
	var misfits []misfit
	summary := []string{"Kubernetes " + facts.Version}
	if m := s.versionMisfit(); m != nil {
		misfits = append(misfits, *m)
	}

	s.Progress("reading the namespace")
	ns, err := k.Namespace(ctx, s.Config.Namespace, s.Config.Release)
	if err != nil {
		return err
	}

	s.Progress("asking what this user may do")
	ms, perms, err := s.accessMisfits(ctx, k, ns)
	if err != nil {
		return err
	}
	misfits = append(misfits, ms...)
	summary = append(summary, perms)

	s.Progress("looking at storage")
	m, storage, ephemeral, err := s.storageMisfit(ctx, k)
	if err != nil {
		return err
	}
	if m != nil {
		misfits = append(misfits, *m)
	}
	summary = append(summary, storage)

	s.Progress("asking the registries which platforms the images are built for")
	m, arch, err := s.archMisfit(ctx, facts)
	if err != nil {
		return err
	}
	if m != nil {
		misfits = append(misfits, *m)
	}
	summary = append(summary, arch)

	if m := namespaceMisfit(s.Config, ns); m != nil {
		misfits = append(misfits, *m)
	}
	summary = append(summary, fmt.Sprintf("namespace %s %s", s.Config.Namespace, ns))
	if len(misfits) > 0 {
		return misfitError(misfits)
	}
	if ephemeral {
		o := s.chartOptions()
		o.Storage.Ephemeral = true
		if err := s.patch(ctx, o); err != nil {
			return err
		}
	}
	s.Result(strings.Join(summary, "; "))
	return nil
}

// misfitError is one error naming every misfit, of the first one's kind.
func misfitError(ms []misfit) error {
	var lines, advice []string
	for _, m := range ms {
		for _, l := range m.lines {
			lines = append(lines, "  "+l)
		}
		advice = append(advice, m.advice)
	}
	return reason.New(ms[0].kind, strings.Join(advice, "\n"), "the cluster cannot take the demo; nothing was installed:\n%s", strings.Join(lines, "\n"))
}

// versionMisfit compares the API server's version with every chart's kubeVersion.
func (s *Session) versionMisfit() *misfit {
	refused := chartmod.Refuses(s.Patched.KubeVersions(s.Rendered), s.facts.Version)
	if len(refused) == 0 {
		return nil
	}
	m := &misfit{kind: reason.ClusterVersion,
		advice: "Use a cluster whose Kubernetes version every chart accepts, or chart versions that accept " + s.facts.Version + " (--demo-version, --tempo-version)."}
	for _, r := range refused {
		m.lines = append(m.lines, fmt.Sprintf("%s requires Kubernetes %s; the cluster runs %s", r.Chart, r.Constraint, s.facts.Version))
	}
	return m
}

// accessMisfits asks the API server for every access the release needs and lists the missing
// ones; the kinds the cluster does not serve at all count against its version.
func (s *Session) accessMisfits(ctx context.Context, k *kube.Client, ns kube.NamespaceState) ([]misfit, string, error) {
	var kinds []kube.ObjectKind
	for _, ok := range s.Rendered.Kinds() {
		kinds = append(kinds, kube.ObjectKind{APIVersion: ok.APIVersion, Kind: ok.Kind})
	}
	needs, unserved, err := k.Needs(s.Config.Namespace, kinds, !ns.Exists, !ns.Exists || ns.Ours)
	if err != nil {
		return nil, "", err
	}
	missing, err := k.Missing(ctx, needs)
	if err != nil {
		return nil, "", err
	}
	var ms []misfit
	if len(unserved) > 0 {
		m := misfit{kind: reason.ClusterVersion,
			advice: "The cluster lacks APIs the charts use: use a newer cluster, or chart versions made for this one (--demo-version, --tempo-version)."}
		for _, u := range unserved {
			m.lines = append(m.lines, "the cluster does not serve "+u.String())
		}
		ms = append(ms, m)
	}
	if len(missing) > 0 {
		ms = append(ms, misfit{kind: reason.ClusterForbidden, lines: kube.DescribeMissing(missing),
			advice: fmt.Sprintf("Ask the cluster's admin for these permissions for the user of context %s (the demo creates ClusterRoles and ClusterRoleBindings), or use a context whose user has them.",
				s.target().Context())})
	}
	return ms, fmt.Sprintf("all %d permissions", len(needs)), nil
}

// storageMisfit looks at the claims the release makes. Without a default StorageClass, Tempo's
// claims would stay Pending: then ephemeral says to patch the charts again with Tempo on
// emptyDirs. Claims of other charts, or naming classes the cluster lacks, are misfits.
func (s *Session) storageMisfit(ctx context.Context, k *kube.Client) (m *misfit, summary string, ephemeral bool, err error) {
	c := s.Config
	claims := s.Rendered.Claims()
	if len(claims) == 0 && c.StorageClass == "" {
		return nil, "no volume claims", false, nil
	}
	classes, def, err := k.StorageClasses(ctx)
	if apierrors.IsForbidden(err) {
		return nil, "StorageClasses hidden from this user: claims not checked", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	m = &misfit{kind: reason.StorageClass,
		advice: "Name a StorageClass the cluster has with --storage-class (`kubectl get storageclass` lists them), or give the claims named above one in your -f/--set values."}
	has := func(name string) bool { return slices.Contains(classes, name) }
	if c.StorageClass != "" && !has(c.StorageClass) {
		m.lines = append(m.lines, fmt.Sprintf("StorageClass %s does not exist (the cluster has: %s)", c.StorageClass, orNone(classes)))
	}
	var pendingTempo []string
	for _, cl := range claims {
		switch {
		case cl.Class == nil && def == "" && cl.Tempo:
			pendingTempo = append(pendingTempo, cl.Owner)
		case cl.Class == nil && def == "":
			m.lines = append(m.lines, fmt.Sprintf("claim %s of %s asks for the default StorageClass and the cluster has none: it would stay Pending", cl.Name, cl.Owner))
		case cl.Class != nil && *cl.Class != "" && !has(*cl.Class) && *cl.Class != c.StorageClass:
			m.lines = append(m.lines, fmt.Sprintf("claim %s of %s asks for StorageClass %s, which the cluster does not have", cl.Name, cl.Owner, *cl.Class))
		}
	}
	switch {
	case len(m.lines) > 0:
		return m, "", false, nil
	case len(pendingTempo) > 0:
		return nil, fmt.Sprintf("no default StorageClass: Tempo keeps its data in emptyDirs (%s), lost when its pods restart; --storage-class NAME persists it",
			strings.Join(dedupe(pendingTempo), ", ")), true, nil
	case c.StorageClass != "":
		return nil, fmt.Sprintf("%s on StorageClass %s", english.Count(len(claims), "claim"), c.StorageClass), false, nil
	case def != "":
		return nil, fmt.Sprintf("%s on the default StorageClass %s", english.Count(len(claims), "claim"), def), false, nil
	}
	return nil, english.Count(len(claims), "claim"), false, nil
}

// namespaceMisfit refuses a namespace that holds objects that are not the release's, or that
// is being deleted.
func namespaceMisfit(c Config, ns kube.NamespaceState) *misfit {
	if ns.Terminating {
		return &misfit{kind: reason.NamespaceNotOurs,
			lines:  []string{"namespace " + c.Namespace + " is being deleted"},
			advice: "Wait until `kubectl get namespace " + c.Namespace + "` finds it no more (`svcgraph down` waits for it), then run `svcgraph up` again."}
	}
	if len(ns.Foreign) == 0 {
		return nil
	}
	const listed = 5
	shown := ns.Foreign[:min(listed, len(ns.Foreign))]
	line := fmt.Sprintf("namespace %s holds %s that %s not release %s's: %s", c.Namespace, english.Count(len(ns.Foreign), "object"),
		english.Be(len(ns.Foreign)), c.Release, strings.Join(shown, ", "))
	if len(ns.Foreign) > listed {
		line += fmt.Sprintf(", … and %d more", len(ns.Foreign)-listed)
	}
	return &misfit{kind: reason.NamespaceNotOurs, lines: []string{line},
		advice: fmt.Sprintf("Install into a namespace of the demo's own with --namespace NAME (svcgraph creates it, and `svcgraph down` deletes it again); "+
			"namespace %s and what is in it stay as they are.", c.Namespace)}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
