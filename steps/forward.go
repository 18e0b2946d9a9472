package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/internal/execx"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/kube"
)

// Forward port-forwards the frontend proxy to the local port: in this process (up then stays in
// the foreground until Ctrl-C) or, with --detach, in a background `svcgraph forward`.
type Forward struct{}

func (Forward) ID() string    { return "forward" }
func (Forward) Title() string { return "Forwarding the frontend proxy" }

func (Forward) Run(ctx context.Context, s *Session) error {
	c := s.Config
	if c.Detach {
		return s.detachForward(ctx)
	}
	if rec, ok := s.liveForwarder(); ok {
		if rec.Port == c.Port && rec.Address == c.Address {
			s.Result(rec.URL + " (already forwarded in the background, pid " + strconv.Itoa(rec.PID) + ")")
			s.detached = true
			return nil
		}
	}
	names, err := s.names()
	if err != nil {
		return err
	}
	f, err := s.forward(ctx, names, s.Info)
	if err != nil {
		return err
	}
	s.Forwarder = f
	s.Result(BaseURL(c.Address, c.Port))
	return nil
}

// forward starts a port-forward of the frontend proxy Service in this process; events says
// "reconnecting…" and "forwarding again".
func (s *Session) forward(ctx context.Context, names chartmod.Names, events func(string)) (*kube.Forwarder, error) {
	k, err := s.Kube()
	if err != nil {
		return nil, err
	}
	c := s.Config
	return k.Forward(ctx, kube.ForwardOptions{
		Namespace: c.Namespace, Service: names.FrontendProxyService, Port: names.FrontendProxyPort,
		LocalPort: c.Port, Addresses: c.forwardAddresses(), Events: events,
	})
}

// forwardAddresses is nil for the default (kube then listens on 127.0.0.1 and ::1 and warns
// about any other address), else the one address asked for.
func (c Config) forwardAddresses() []string {
	if c.Address == DefaultAddress {
		return nil
	}
	return []string{c.Address}
}

// checkForwardPort refuses a busy local port before `up` changes anything, unless it is our own
// background forwarder that holds it (a second `up --detach` reuses it).
func (s *Session) checkForwardPort() error {
	c := s.Config
	if c.NoForward {
		return nil
	}
	if rec, ok := s.liveForwarder(); ok && rec.Port == c.Port && rec.Address == c.Address {
		return nil
	}
	return kube.CheckLocalPort(c.forwardAddresses(), c.Port)
}

// DefaultAddress is --address's default: loopback only (and ::1 where the host has IPv6).
const DefaultAddress = "127.0.0.1"

// names returns the in-cluster names of the installed release: from the charts this run
// prepared, or from the release itself when this command did not prepare them.
func (s *Session) names() (chartmod.Names, error) {
	if s.Patched != nil {
		return s.Patched.Names, nil
	}
	o, err := s.releaseOptions()
	if err != nil {
		return chartmod.Names{}, err
	}
	return o.Names()
}

// releaseOptions are the chart options of the installed release: this run's, or the versions
// the release records (forward, graph and doctor run without pulling the charts).
func (s *Session) releaseOptions() (chartmod.Options, error) {
	o := s.Config.ChartOptions()
	if s.Patched != nil {
		o.DemoVersion, o.TempoVersion = s.Patched.Pair.Demo, s.Patched.Pair.Tempo
		return o, nil
	}
	k, err := s.Kube()
	if err != nil {
		return o, err
	}
	demo, deps, ok, err := k.ReleaseCharts(s.Config.Release)
	if err != nil {
		return o, err
	}
	if !ok {
		return o, reason.New(reason.NotInstalled, "",
			"release %s is not installed in namespace %s", s.Config.Release, s.Config.Namespace)
	}
	o.DemoVersion, o.TempoVersion = demo, deps[chartmod.TempoChart]
	return o, nil
}

// BaseURL is where the frontend proxy answers locally.
func BaseURL(address string, port int) string {
	return "http://" + net.JoinHostPort(address, strconv.Itoa(port))
}

// URLs lists what the demo serves through the frontend proxy.
func URLs(base string) [][2]string {
	explore := `{"a":{"datasource":"tempo","queries":[{"refId":"A","datasource":{"type":"tempo","uid":"tempo"},"queryType":"serviceMap"}],"range":{"from":"now-1h","to":"now"}}}`
	return [][2]string{
		{"Web store", base + "/"},
		{"Grafana", base + "/grafana/"},
		{"Service graph", base + "/grafana/explore?schemaVersion=1&panes=" + url.QueryEscape(explore)},
		{"Jaeger", base + "/jaeger/ui/"},
		{"Load generator", base + "/loadgen/"},
	}
}

// PrintURLs shows the user where to go.
func (s *Session) PrintURLs() {
	base := BaseURL(s.Config.Address, s.Config.Port)
	var b strings.Builder
	for _, u := range URLs(base) {
		fmt.Fprintf(&b, "  %-15s %s\n", u[0]+":", u[1])
	}
	s.Info(strings.TrimRight(b.String(), "\n"))
}

// Hold keeps `up` in the foreground while it forwards, until Ctrl-C or the forward fails.
func (s *Session) Hold(ctx context.Context) error {
	if s.detached {
		s.PrintURLs()
		s.Info("The forwarder runs in the background; `svcgraph down` stops it.")
		return nil
	}
	if s.Forwarder == nil {
		return nil
	}
	s.PrintURLs()
	s.Info("Forwarding; press Ctrl-C to stop (the demo keeps running; `svcgraph down` removes it).")
	select {
	case <-ctx.Done():
		s.Forwarder.Close()
		<-s.Forwarder.Done()
		return nil
	case <-s.Forwarder.Done():
		return s.Forwarder.Err()
	}
}

// forwarderRecord is the pid file of a background forwarder.
type forwarderRecord struct {
	PID     int    `json:"pid"`
	URL     string `json:"url"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

func (s *Session) pidFile() string {
	c := s.Config
	return filepath.Join(c.StateDir, fmt.Sprintf("forward-%s-%s-%s.json", s.target().key(), c.Namespace, c.Release))
}

// liveForwarder returns the background forwarder's record if its process still runs.
func (s *Session) liveForwarder() (forwarderRecord, bool) {
	var rec forwarderRecord
	data, err := os.ReadFile(s.pidFile())
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.PID <= 0 || s.Spawner == nil {
		return rec, false
	}
	return rec, s.Spawner.Alive(rec.PID)
}

func (s *Session) detachForward(ctx context.Context) error {
	c := s.Config
	if rec, ok := s.liveForwarder(); ok {
		if rec.Port == c.Port && rec.Address == c.Address {
			s.Result(rec.URL + " (already forwarded in the background, pid " + strconv.Itoa(rec.PID) + ")")
			return nil
		}
		if err := s.Spawner.Terminate(rec.PID); err != nil {
			return reason.Wrap(reason.Forward, err, "", "cannot stop the old background forwarder (pid %d)", rec.PID)
		}
	}
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return reason.Wrap(reason.Forward, err, "", "cannot create svcgraph's state directory")
	}
	self, err := os.Executable()
	if err != nil {
		return reason.Wrap(reason.Internal, err, "", "cannot find the svcgraph executable")
	}
	args := append([]string{"forward", "--background"}, s.target().flags()...)
	args = append(args, "--namespace", c.Namespace, "--release", c.Release, "--port", strconv.Itoa(c.Port), "--address", c.Address)
	if c.Kubeconfig != "" {
		args = append(args, "--kubeconfig", c.Kubeconfig)
	}
	logFile := strings.TrimSuffix(s.pidFile(), ".json") + ".log"
	pid, _, err := s.Spawner.Spawn(ctx, execx.Command(self, args...), logFile)
	if err != nil {
		return reason.Wrap(reason.Forward, err, "Run `svcgraph forward` in the foreground to see why.", "the background forwarder did not start (log: %s)", logFile)
	}
	rec := forwarderRecord{PID: pid, URL: BaseURL(c.Address, c.Port), Address: c.Address, Port: c.Port}
	data, _ := json.Marshal(rec)
	if err := os.WriteFile(s.pidFile(), data, 0o644); err != nil {
		_ = s.Spawner.Terminate(pid)
		return reason.Wrap(reason.Forward, err, "", "cannot write the forwarder's pid file")
	}
	s.detached = true
	s.Result(fmt.Sprintf("%s (background, pid %d; log %s)", rec.URL, pid, logFile))
	return nil
}

// StopForwarder stops a background forwarder left by `up --detach`.
type StopForwarder struct{}

func (StopForwarder) ID() string    { return "forwarder" }
func (StopForwarder) Title() string { return "Stopping the background forwarder" }

func (StopForwarder) Run(_ context.Context, s *Session) error {
	rec, alive := s.liveForwarder()
	if alive {
		if err := s.Spawner.Terminate(rec.PID); err != nil {
			return reason.Wrap(reason.Forward, err, "", "cannot stop the background forwarder (pid %d)", rec.PID)
		}
		s.Result(fmt.Sprintf("stopped pid %d (%s)", rec.PID, rec.URL))
	} else {
		s.Result("none running")
	}
	if err := os.Remove(s.pidFile()); err != nil && !os.IsNotExist(err) {
		return reason.Wrap(reason.Forward, err, "", "cannot remove the forwarder's pid file")
	}
	return nil
}

// ForwardInBackground is the process `up --detach` starts: it prints one ready line on stdout
// (the parent reads it and goes), then reports on stderr, which goes to the log file. Writing to
// stdout after the parent has gone would kill it with SIGPIPE.
func ForwardInBackground(ctx context.Context, s *Session, stdout, stderr io.Writer) error {
	names, err := s.names()
	if err != nil {
		return err
	}
	f, err := s.forward(ctx, names, func(msg string) { fmt.Fprintln(stderr, msg) })
	if err != nil {
		return err
	}
	c := s.Config
	fmt.Fprintln(stdout, "forwarding "+BaseURL(c.Address, c.Port))
	select {
	case <-ctx.Done():
		f.Close()
		<-f.Done()
		return nil
	case <-f.Done():
		return f.Err()
	}
}
