// Package kube is everything in svcgraph that talks to the Kubernetes API server: clients from a
// kubeconfig and context, Helm releases (install, upgrade, recovery, uninstall), namespace teardown,
// waiting for pods with a diagnosis of what holds them up, and a port-forward that survives its pod
// being replaced. It never runs external programs.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// Options say which cluster and namespace to use.
type Options struct {
	Kubeconfig string // path; "" means client-go's default loading rules (KUBECONFIG, then ~/.kube/config)
	Context    string // kubeconfig context; "" means the current context
	Namespace  string // namespace of the release and its pods
	// Debug receives Helm's progress messages (for -v); nil discards them.
	Debug func(format string, args ...any)
	// RequestTimeout bounds each request to the API server (see requestDeadline); 0 means no
	// bound, as with kubectl's --request-timeout.
	RequestTimeout time.Duration
}

// Client talks to one cluster, for one namespace. Creating it makes no API calls.
type Client struct {
	opts   Options
	flags  *genericclioptions.ConfigFlags // also the REST mapper (which kinds the cluster serves)
	config *rest.Config
	cs     kubernetes.Interface
	meta   metadata.Interface // metadata-only lists (Helm's storage Secrets without their payload)
	helm   *action.Configuration
}

// The Helm SDK issues a burst of requests per resource (conflict checks, creates); client-go's
// default 5 QPS would make installing a 30-service chart crawl.
const (
	clientQPS   = 50
	clientBurst = 100
)

// New builds the clients. It reads the kubeconfig but does not contact the cluster, so commands
// that end early (bad flags, render) stay fast.
func New(o Options) (*Client, error) {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &o.Kubeconfig
	flags.Context = &o.Context
	flags.Namespace = &o.Namespace
	// Every client below — ours and the Helm SDK's — is built from this config, so every request
	// they make carries the deadline.
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.QPS, c.Burst = clientQPS, clientBurst
		if o.RequestTimeout > 0 {
			c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
				return &requestDeadline{next: rt, timeout: o.RequestTimeout}
			})
		}
		return c
	}

	config, err := flags.ToRESTConfig()
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, kubeconfigAdvice(o), "cannot load the Kubernetes client configuration")
	}
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, kubeconfigAdvice(o), "cannot build a Kubernetes client")
	}
	meta, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, reason.Wrap(reason.Cluster, err, kubeconfigAdvice(o), "cannot build a Kubernetes client")
	}
	helmCfg := new(action.Configuration)
	debug := o.Debug
	if debug == nil {
		debug = func(string, ...any) {}
	}
	if err := helmCfg.Init(flags, o.Namespace, "secret", debug); err != nil {
		return nil, reason.Wrap(reason.Cluster, err, kubeconfigAdvice(o), "cannot set up the Helm client")
	}
	return &Client{opts: o, flags: flags, config: config, cs: cs, meta: meta, helm: helmCfg}, nil
}

func kubeconfigAdvice(o Options) string {
	where := "the default kubeconfig (KUBECONFIG, then ~/.kube/config)"
	if o.Kubeconfig != "" {
		where = o.Kubeconfig
	}
	if o.Context != "" {
		return fmt.Sprintf("Check that %s exists and has a context named %q (`kubectl config get-contexts` lists them; minikube writes its profile's when the profile starts).", where, o.Context)
	}
	return fmt.Sprintf("Check that %s exists and names a current context, or pass --kubeconfig.", where)
}

// Clientset gives callers (status, tests) the typed client this Client uses.
func (c *Client) Clientset() kubernetes.Interface { return c.cs }

// Host is the API server's URL, for messages.
func (c *Client) Host() string { return c.config.Host }

// Ping checks that the API server answers /version.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return interrupted(ctx, "asking the API server for its version")
		}
		return reason.Wrap(reason.Cluster, err, "", "the Kubernetes API server at %s does not answer", c.config.Host)
	}
	return nil
}

// interrupted is the error for work stopped by a cancelled context (Ctrl-C).
func interrupted(ctx context.Context, doing string) error {
	return reason.Wrap(reason.Interrupted, context.Cause(ctx), "", "interrupted while %s", doing)
}

// requestErr says why a request to verb ("list", "read") what failed: Ctrl-C, or the API server.
func (c *Client) requestErr(ctx context.Context, err error, verb, what string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return interrupted(ctx, verb+"ing "+what)
	}
	return reason.Wrap(reason.Cluster, err, "", "cannot %s %s at %s", verb, what, c.config.Host)
}
