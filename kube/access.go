package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Access is one permission: a verb on a resource, in a namespace or, for cluster-scoped
// resources, cluster-wide.
type Access struct {
	Verb        string
	Group       string // "" for the core group
	Resource    string // plural, as in RBAC rules: deployments, clusterroles
	Subresource string // log, portforward
	Namespace   string // "" for cluster-scoped resources
}

// What is the resource as kubectl and RBAC errors spell it: pods/portforward,
// deployments.apps, clusterroles.rbac.authorization.k8s.io.
func (a Access) What() string {
	s := a.Resource
	if a.Group != "" {
		s += "." + a.Group
	}
	if a.Subresource != "" {
		s += "/" + a.Subresource
	}
	return s
}

func (a Access) String() string {
	s := "cannot " + a.Verb + " " + a.What()
	if a.Namespace != "" {
		s += " in namespace " + a.Namespace
	}
	return s
}

// ObjectKind is the apiVersion and kind of an object the release holds.
type ObjectKind struct{ APIVersion, Kind string }

func (k ObjectKind) String() string { return k.Kind + " (" + k.APIVersion + ")" }

// The verbs Helm uses on the release's own objects: get (install's conflict check, upgrade's
// diff), create, patch (upgrade's three-way merge) and delete (upgrade, uninstall).
var releaseVerbs = []string{"get", "create", "patch", "delete"}

// readsInNamespace is what svcgraph itself does in the release's namespace besides Helm's work on
// the objects: Helm's release records (Secrets), waiting for pods and diagnosing them (informers
// on pods, workloads, claims and events; container logs), forwarding (services, pods,
// portforward) and the doctor (configmaps).
var readsInNamespace = []Access{
	{Verb: "get", Resource: "secrets"}, {Verb: "list", Resource: "secrets"}, {Verb: "create", Resource: "secrets"},
	{Verb: "update", Resource: "secrets"}, {Verb: "delete", Resource: "secrets"},
	{Verb: "get", Resource: "pods"}, {Verb: "list", Resource: "pods"}, {Verb: "watch", Resource: "pods"},
	{Verb: "get", Resource: "pods", Subresource: "log"},
	{Verb: "create", Resource: "pods", Subresource: "portforward"},
	{Verb: "get", Resource: "services"}, {Verb: "list", Resource: "services"},
	{Verb: "list", Resource: "configmaps"},
	{Verb: "list", Resource: "events"}, {Verb: "watch", Resource: "events"},
	{Verb: "list", Resource: "persistentvolumeclaims"}, {Verb: "watch", Resource: "persistentvolumeclaims"},
	{Verb: "list", Group: "apps", Resource: "deployments"}, {Verb: "watch", Group: "apps", Resource: "deployments"},
	{Verb: "list", Group: "apps", Resource: "statefulsets"}, {Verb: "watch", Group: "apps", Resource: "statefulsets"},
	{Verb: "list", Group: "apps", Resource: "daemonsets"}, {Verb: "watch", Group: "apps", Resource: "daemonsets"},
}

// Needs lists every access svcgraph's up, down, forward, status and doctor use for a release of
// these object kinds in namespace ns: Helm's verbs on each kind (cluster-wide for cluster-scoped
// ones such as ClusterRoles), what svcgraph reads there, and the namespace itself (get; create
// when up creates it, delete when down will). Kinds the cluster does not serve come back apart.
func (c *Client) Needs(ns string, kinds []ObjectKind, createNamespace, deleteNamespace bool) (needs []Access, unserved []ObjectKind, err error) {
	mapper, err := c.flags.ToRESTMapper()
	if err != nil {
		return nil, nil, reason.Wrap(reason.Cluster, err, "", "cannot read which APIs the cluster at %s serves", c.config.Host)
	}
	seen := map[Access]bool{}
	add := func(a Access) {
		if !seen[a] {
			seen[a] = true
			needs = append(needs, a)
		}
	}
	add(Access{Verb: "get", Resource: "namespaces"})
	if createNamespace {
		add(Access{Verb: "create", Resource: "namespaces"})
	}
	if deleteNamespace { // and down watches it go
		add(Access{Verb: "delete", Resource: "namespaces"})
		add(Access{Verb: "list", Resource: "namespaces"})
		add(Access{Verb: "watch", Resource: "namespaces"})
	}
	for _, a := range readsInNamespace {
		a.Namespace = ns
		add(a)
	}
	for _, k := range kinds {
		a, served, err := accessTo(mapper, k, ns)
		if err != nil {
			return nil, nil, reason.Wrap(reason.Cluster, err, "", "cannot read which APIs the cluster at %s serves", c.config.Host)
		}
		if !served {
			unserved = append(unserved, k)
			continue
		}
		for _, a.Verb = range releaseVerbs {
			add(a)
		}
	}
	return needs, unserved, nil
}

// accessTo is access (its Verb left for the caller) to objects of kind k in namespace ns —
// cluster-wide for a cluster-scoped kind — with the kind resolved to its resource by the
// cluster's RESTMapper. served is false for a kind the cluster does not serve (or an apiVersion
// that does not parse).
func accessTo(mapper meta.RESTMapper, k ObjectKind, ns string) (a Access, served bool, err error) {
	gv, err := schema.ParseGroupVersion(k.APIVersion)
	if err != nil {
		return Access{}, false, nil
	}
	m, err := mapper.RESTMapping(gv.WithKind(k.Kind).GroupKind(), gv.Version)
	if meta.IsNoMatchError(err) {
		return Access{}, false, nil
	}
	if err != nil {
		return Access{}, false, err
	}
	if m.Scope.Name() == meta.RESTScopeNameRoot {
		ns = ""
	}
	return Access{Group: m.Resource.Group, Resource: m.Resource.Resource, Namespace: ns}, true, nil
}

// accessTimeout bounds the whole round of access reviews; reviewsInFlight keeps it from
// bursting past the client's rate limit.
const (
	accessTimeout   = 30 * time.Second
	reviewsInFlight = 16
)

// Missing asks the API server which of the accesses the context's user lacks, one
// SelfSubjectAccessReview each (every authorizer answers those, unlike RulesReview, which
// webhook authorizers such as EKS's and GKE's IAM leave incomplete). A user who may do
// everything everywhere (cluster-admin) is known after one review.
func (c *Client) Missing(ctx context.Context, needs []Access) ([]Access, error) {
	ctx, cancel := context.WithTimeout(ctx, accessTimeout)
	defer cancel()
	if ok, err := c.allowed(ctx, Access{Verb: "*", Group: "*", Resource: "*"}); err != nil || ok {
		return nil, err
	}
	var (
		mu      sync.Mutex
		missing []Access
		first   error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, reviewsInFlight)
	)
	for _, a := range needs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			ok, err := c.allowed(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && first == nil:
				first = err
			case err == nil && !ok:
				missing = append(missing, a)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].String() < missing[j].String() })
	return missing, nil
}

func (c *Client) allowed(ctx context.Context, a Access) (bool, error) {
	review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource,
		},
	}}
	res, err := c.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return false, interrupted(ctx, "asking the API server what this user may do")
		}
		return false, reason.Wrap(reason.Cluster, err, "", "cannot ask the API server at %s what this user may do (SelfSubjectAccessReview)", c.config.Host)
	}
	return res.Status.Allowed, nil
}

// DescribeMissing folds the missing accesses into one line per resource and place, verbs
// together: "cannot get, create, patch, delete clusterroles.rbac.authorization.k8s.io".
func DescribeMissing(missing []Access) []string {
	type place struct{ what, ns string }
	verbs := map[place][]string{}
	var order []place
	for _, a := range missing {
		p := place{a.What(), a.Namespace}
		if _, ok := verbs[p]; !ok {
			order = append(order, p)
		}
		verbs[p] = append(verbs[p], a.Verb)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].ns != order[j].ns {
			return order[i].ns < order[j].ns // cluster-wide first
		}
		return order[i].what < order[j].what
	})
	out := make([]string, len(order))
	for i, p := range order {
		out[i] = fmt.Sprintf("cannot %s %s", strings.Join(verbOrder(verbs[p]), ", "), p.what)
		if p.ns != "" {
			out[i] += " in namespace " + p.ns
		}
	}
	return out
}

// verbOrder sorts verbs as a user thinks of them: read, write, remove.
func verbOrder(vs []string) []string {
	rank := map[string]int{"get": 0, "list": 1, "watch": 2, "create": 3, "update": 4, "patch": 5, "delete": 6}
	sort.SliceStable(vs, func(i, j int) bool { return rank[vs[i]] < rank[vs[j]] })
	return vs
}
