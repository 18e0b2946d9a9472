package steps

// UpPlan is `svcgraph up`, in order. Everything that can refuse the input comes before the first
// change: the charts are pulled (into svcgraph's own cache), patched, rendered with the user's
// -f/--set values and checked before minikube starts; the budget needs the nodes, so it follows
// minikube; the user's Helm configuration gains the repositories only once the release is known
// to fit the cluster it is installed into.
func UpPlan(c Config) Plan {
	t := c.Target()
	p := Plan{Preflight{}, PrepareCharts{}, t.Start(), CheckFit{}, CheckBudget{}, AddRepos{}, Install{}, WaitPods{}}
	if !c.NoForward {
		p = append(p, Forward{})
	}
	if !c.NoVerify {
		p = append(p, VerifyGraph{})
	}
	if c.Offline {
		p = offline(p)
	}
	return p
}

// DownPlan is `svcgraph down`, in order. Every step tolerates "already gone", so down twice works.
func DownPlan(c Config) Plan {
	t := c.Target()
	p := Plan{StopForwarder{}, t.Find(), Uninstall{}, DeleteNamespace{}}
	if c.PurgeCluster || c.StopCluster {
		p = append(p, t.Stop(c.PurgeCluster))
	}
	return p
}

// RenderPlan is `svcgraph render`: charts only, no cluster. --check-only adds the budget against
// a fresh minikube profile of the configured size (whatever the target: it is a question about
// the charts). Values that do not render, or a release that does not fit, leave the Helm
// configuration as it was.
func RenderPlan(c Config) Plan {
	p := Plan{PrepareCharts{}}
	if c.CheckOnly {
		p = append(p, CheckBudget{Offline: true})
	}
	return append(p, AddRepos{})
}
