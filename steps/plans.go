package steps

// UpPlan is `svcgraph up`, in order.
func UpPlan(c Config) Plan {
	t := c.Target()
	p := Plan{Preflight{}, t.Start(), AddRepos{}, PrepareCharts{}, CheckFit{}, CheckBudget{}, Install{}, WaitPods{}}
	if !c.NoForward {
		p = append(p, Forward{})
	}
	if !c.NoVerify {
		p = append(p, VerifyGraph{})
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

// RenderPlan is `svcgraph render`: charts only, no cluster. --check-only adds the budget
// against a fresh minikube profile of the configured size (whatever the target: it is a
// question about the charts).
func RenderPlan(c Config) Plan {
	p := Plan{AddRepos{}, PrepareCharts{}}
	if c.CheckOnly {
		p = append(p, CheckBudget{Offline: true})
	}
	return p
}
