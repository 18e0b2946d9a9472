package steps

// UpPlan is `svcgraph up`, in order.
func UpPlan(c Config) Plan {
	p := Plan{Preflight{}, StartMinikube{}, AddRepos{}, PrepareCharts{}, CheckBudget{}, Install{}, WaitPods{}}
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
	p := Plan{StopForwarder{}, FindCluster{}, Uninstall{}, DeleteNamespace{}}
	switch {
	case c.PurgeCluster:
		p = append(p, StopMinikube{Delete: true})
	case c.StopCluster:
		p = append(p, StopMinikube{})
	}
	return p
}

// RenderPlan is `svcgraph render`: charts only, no cluster. --check-only adds the budget
// against a fresh minikube profile of the configured size.
func RenderPlan(c Config) Plan {
	p := Plan{AddRepos{}, PrepareCharts{}}
	if c.CheckOnly {
		p = append(p, CheckBudget{Offline: true})
	}
	return p
}
