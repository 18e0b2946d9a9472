package steps

// UpPlan is `svcgraph up`, in order.
func UpPlan(c Config) Plan {
	return Plan{Preflight{}, StartMinikube{}}
}

// DownPlan is `svcgraph down`, in order.
func DownPlan(c Config) Plan {
	return Plan{}
}
