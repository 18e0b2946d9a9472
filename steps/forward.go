package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

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
	s.warnExposedAddress()
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
	names, err := s.names(ctx)
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
func (s *Session) names(ctx context.Context) (chartmod.Names, error) {
	if s.Patched != nil {
		return s.Patched.Names, nil
	}
	o, err := s.releaseOptions(ctx)
	if err != nil {
		return chartmod.Names{}, err
	}
	return o.Names()
}

// releaseOptions are the chart options of the installed release: this run's, or the versions
// the release records (forward, graph and doctor run without pulling the charts).
func (s *Session) releaseOptions(ctx context.Context) (chartmod.Options, error) {
	o := s.Config.ChartOptions()
	if s.Patched != nil {
		o.DemoVersion, o.TempoVersion = s.Patched.Pair.Demo, s.Patched.Pair.Tempo
		return o, nil
	}
	k, err := s.Kube()
	if err != nil {
		return o, err
	}
	demo, deps, ok, err := k.ReleaseCharts(ctx, s.Config.Release)
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

// pidFile is where `up --detach` records its forwarder. Config.Validate has checked the names in
// it (no path separators can get in).
func (s *Session) pidFile() string {
	c := s.Config
	return filepath.Join(c.StateDir, fmt.Sprintf("forward-%s-%s-%s.json", s.target().key(), c.Namespace, c.Release))
}

// lockFile is held (flock) by the background forwarder for its whole life. A pid alone proves
// nothing — once the forwarder is gone the system hands its pid to any other program — but a
// lock that can be taken proves no forwarder runs, so nothing is signalled on a stale pid file.
func (s *Session) lockFile() string { return strings.TrimSuffix(s.pidFile(), ".json") + ".lock" }

// backgroundForwarder reads the pid file: found says there is one, alive that its forwarder still
// holds the lock (and so still has the recorded pid).
func (s *Session) backgroundForwarder() (rec forwarderRecord, found, alive bool) {
	data, err := os.ReadFile(s.pidFile())
	if err != nil {
		return rec, false, false
	}
	if json.Unmarshal(data, &rec) != nil || rec.PID <= 0 {
		return rec, true, false
	}
	lock := flock.New(s.lockFile())
	defer lock.Close()
	took, err := lock.TryLock()
	if err != nil || took {
		_ = lock.Unlock()
		return rec, true, false
	}
	return rec, true, true
}

// liveForwarder returns the background forwarder's record if the forwarder still runs.
func (s *Session) liveForwarder() (forwarderRecord, bool) {
	rec, _, alive := s.backgroundForwarder()
	return rec, alive
}

// forwarderStopWait bounds the wait for a signalled forwarder to let go of its lock.
const forwarderStopWait = 10 * time.Second

// stopForwarder signals the forwarder of rec (alive: it holds the lock) and waits until it has
// let go of the lock, so a new forwarder can take its place at once.
func (s *Session) stopForwarder(ctx context.Context, rec forwarderRecord) error {
	if err := s.Spawner.Terminate(rec.PID); err != nil {
		return reason.Wrap(reason.Forward, err, "", "cannot stop the background forwarder (pid %d)", rec.PID)
	}
	lock := flock.New(s.lockFile())
	defer lock.Close()
	wait, cancel := context.WithTimeout(ctx, forwarderStopWait)
	defer cancel()
	took, err := lock.TryLockContext(wait, 20*time.Millisecond)
	if took {
		return lock.Unlock()
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return reason.Wrap(reason.Interrupted, ctx.Err(), "", "interrupted while stopping the background forwarder (pid %d)", rec.PID)
	}
	return reason.Wrap(reason.Forward, err, fmt.Sprintf("Stop it yourself (pid %d), then run the command again.", rec.PID),
		"the background forwarder (pid %d) did not stop within %s", rec.PID, forwarderStopWait)
}

func (s *Session) detachForward(ctx context.Context) error {
	c := s.Config
	if rec, ok := s.liveForwarder(); ok {
		if rec.Port == c.Port && rec.Address == c.Address {
			s.Result(rec.URL + " (already forwarded in the background, pid " + strconv.Itoa(rec.PID) + ")")
			return nil
		}
		if err := s.stopForwarder(ctx, rec); err != nil {
			return err
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
	args = append(args, "--namespace", c.Namespace, "--release", c.Release, "--port", strconv.Itoa(c.Port),
		"--address", c.Address, "--request-timeout", c.RequestTimeout.String())
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

func (StopForwarder) Run(ctx context.Context, s *Session) error {
	rec, found, alive := s.backgroundForwarder()
	switch {
	case alive:
		if err := s.stopForwarder(ctx, rec); err != nil {
			return err
		}
		s.Result(fmt.Sprintf("stopped pid %d (%s)", rec.PID, rec.URL))
	case found:
		// Its process is gone; whatever has its pid now is not ours to signal.
		s.Result(fmt.Sprintf("none running (removed the stale pid file of pid %d)", rec.PID))
	default:
		s.Result("none running")
	}
	for _, f := range []string{s.pidFile(), s.lockFile()} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return reason.Wrap(reason.Forward, err, "", "cannot remove the forwarder's state file %s", f)
		}
	}
	return nil
}

// ForwardInBackground is the process `up --detach` starts: it prints one ready line on stdout
// (the parent reads it and goes), then reports on stderr, which goes to the log file. Writing to
// stdout after the parent has gone would kill it with SIGPIPE.
func ForwardInBackground(ctx context.Context, s *Session, stdout, stderr io.Writer) error {
	// Held until the process ends: it is what tells `down` that this pid is still the forwarder.
	if err := os.MkdirAll(s.Config.StateDir, 0o755); err != nil {
		return reason.Wrap(reason.Forward, err, "", "cannot create svcgraph's state directory")
	}
	lock := flock.New(s.lockFile())
	defer lock.Close()
	took, err := lock.TryLock()
	if err == nil && !took {
		err = errors.New("locked by another process")
	}
	if err != nil {
		return reason.Wrap(reason.Forward, err, "Run `svcgraph down` to stop the forwarder that runs.", "cannot take the forwarder's lock %s", s.lockFile())
	}
	names, err := s.names(ctx)
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
