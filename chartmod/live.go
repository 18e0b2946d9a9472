package chartmod

// Live wraps objects read from a running release (ConfigMaps, Services, Deployments, with kind
// and metadata.name set) so that the render checks that describe configuration can run on what
// is live: `svcgraph doctor` uses the collector, Tempo config and Grafana checks this way.
func Live(o Options, objects []Object) (*Rendered, error) {
	s, err := resolve(o)
	if err != nil {
		return nil, err
	}
	return &Rendered{Objects: objects, Names: s.Names, spec: s}, nil
}

// CheckCollector is render check 3 on r: the collector's Tempo exporter, its traces pipeline
// and its connectors.
func CheckCollector(r *Rendered) Result { return checkCollector(r) }

// CheckTempoConfig is render check 6 on r: Tempo's remote write and the service-graphs processor.
func CheckTempoConfig(r *Rendered) Result { return checkTempoConfig(r) }

// CheckGrafana is render check 5 on r: the Tempo datasource and its service map's Prometheus uid.
func CheckGrafana(r *Rendered) Result { return checkGrafana(r) }

// CheckDistributor is render check 1 on r: the distributor's OTLP Service port and receiver.
func CheckDistributor(r *Rendered) Result { return checkDistributor(r) }
