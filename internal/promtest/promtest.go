// Package promtest gives tests a real Prometheus on 127.0.0.1 with the remote-write receiver
// on, and a remote-write client, so tests can play Tempo's metrics-generator.
//
// The binary comes from SVCGRAPH_TEST_PROMETHEUS (`export SVCGRAPH_TEST_PROMETHEUS=$(scripts/prometheus)`;
// scripts/test does this). Without it a test is skipped loudly, or fails under CI=true.
package promtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/testenv"
)

// EnvBinary names the variable with the path of the Prometheus binary.
const EnvBinary = "SVCGRAPH_TEST_PROMETHEUS"

// Server is a running Prometheus.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	Log  string // its log file

	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the Prometheus binary, or skips the test (fails it under CI=true).
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		testenv.Missing(t, "no Prometheus for the tests; run scripts/test, or export "+EnvBinary+"=$(scripts/prometheus) and then go test")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v (scripts/prometheus prints a working path)", EnvBinary, bin, err)
	}
	return bin
}

// Options change how Prometheus is started.
type Options struct {
	// NoRemoteWrite leaves out --web.enable-remote-write-receiver (Prometheus then answers
	// remote writes with 404), for tests of the doctor.
	NoRemoteWrite bool
}

// Start runs a fresh Prometheus with its own storage in a temp dir and stops it when the test
// ends. It returns once /-/ready answers 200.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port is picked by the kernel and handed over; another process may take it in
	// between, so a bind failure is retried with a new port.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		s, err := start(t, bin, dir, cfg, addr, attempt, o)
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("start Prometheus: %v", lastErr)
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(t testing.TB, bin, dir, cfg, addr string, attempt int, o Options) (*Server, error) {
	logPath := filepath.Join(dir, "prometheus-"+strconv.Itoa(attempt)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data-"+strconv.Itoa(attempt)),
		"--web.listen-address=" + addr,
		"--enable-feature=exemplar-storage",
	}
	if !o.NoRemoteWrite {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + addr, Addr: addr, Log: logPath, cmd: cmd, done: make(chan struct{})}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-s.done
		}
	}
	// Poll readiness, but stop at once when the process exits (a bad flag, a busy port).
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("prometheus exited (%v): %s", waitErr, tail(logPath))
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("prometheus not ready after 60s: %s", tail(logPath))
		case <-tick.C:
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("Prometheus log (%s):\n%s", logPath, tail(logPath))
		}
	})
	return s, nil
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// Series is one time series to remote-write: its labels (with __name__) and samples in time order.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Sample is one value at one time.
type Sample struct {
	T time.Time
	V float64
}

// Write remote-writes the series to url (a Prometheus base URL) and returns Prometheus's
// status code and body; it fails the test only on transport errors.
func Write(t testing.TB, url string, series ...Series) (int, string) {
	t.Helper()
	body := snappyLiteral(encodeWriteRequest(series))
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(url, "/")+"/api/v1/write", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("remote write: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// MustWrite is Write that fails the test unless Prometheus accepts the write (2xx).
func MustWrite(t testing.TB, url string, series ...Series) {
	t.Helper()
	if code, msg := Write(t, url, series...); code/100 != 2 {
		t.Fatalf("remote write: HTTP %d: %s", code, msg)
	}
}

// The remote-write 1.0 message, encoded by hand (five small messages; this saves a dependency
// on the Prometheus module):
//
//	WriteRequest { repeated TimeSeries timeseries = 1; }
//	TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	Label        { string name = 1; string value = 2; }
//	Sample       { double value = 1; int64 timestamp = 2; } // milliseconds
func encodeWriteRequest(series []Series) []byte {
	var out []byte
	for _, s := range series {
		var ts []byte
		names := make([]string, 0, len(s.Labels))
		for n := range s.Labels {
			names = append(names, n)
		}
		slices.Sort(names) // Prometheus expects labels sorted by name
		for _, n := range names {
			var l []byte
			l = appendBytes(l, 1, []byte(n))
			l = appendBytes(l, 2, []byte(s.Labels[n]))
			ts = appendBytes(ts, 1, l)
		}
		for _, smp := range s.Samples {
			var m []byte
			m = binary.AppendUvarint(m, 1<<3|1) // field 1, fixed64
			m = binary.LittleEndian.AppendUint64(m, math.Float64bits(smp.V))
			m = binary.AppendUvarint(m, 2<<3|0) // field 2, varint
			m = binary.AppendUvarint(m, uint64(smp.T.UnixMilli()))
			ts = appendBytes(ts, 2, m)
		}
		out = appendBytes(out, 1, ts)
	}
	return out
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2) // length-delimited
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// snappyLiteral frames data in snappy's block format as literals only: valid snappy that any
// decoder reads, just not smaller. The format is the uncompressed length as a varint, then
// elements; a literal's tag byte holds (length-1)<<2 for lengths up to 60, or 60+k followed by
// length-1 in k+1 little-endian bytes.
func snappyLiteral(data []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(data)))
	const chunk = 1 << 16
	for len(data) > 0 {
		n := min(len(data), chunk)
		switch m := n - 1; {
		case m < 60:
			out = append(out, byte(m)<<2)
		case m < 1<<8:
			out = append(out, 60<<2, byte(m))
		default:
			out = append(out, 61<<2, byte(m), byte(m>>8))
		}
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}

// Counter is a counter series that grows by perSec every second, sampled every 15 s (Tempo's
// default remote-write interval) from the start of the window up to and including at. Read with
// rate(...[window]) at time at, it gives exactly perSec: the samples cover the window but for
// one interval, which Prometheus's extrapolation fills in.
func Counter(name string, labels map[string]string, perSec float64, at time.Time, window time.Duration) Series {
	l := map[string]string{"__name__": name}
	for k, v := range labels {
		l[k] = v
	}
	s := Series{Labels: l}
	start := at.Add(-window)
	for t := start.Add(15 * time.Second); !t.After(at); t = t.Add(15 * time.Second) {
		s.Samples = append(s.Samples, Sample{T: t, V: 100 + perSec*t.Sub(start).Seconds()})
	}
	return s
}

// Buckets is a histogram's _bucket series (name ends in _bucket), one Counter per le with the
// given cumulative rates.
func Buckets(name string, labels map[string]string, at time.Time, window time.Duration, les []string, perSec []float64) []Series {
	var out []Series
	for i, le := range les {
		l := map[string]string{"le": le}
		for k, v := range labels {
			l[k] = v
		}
		out = append(out, Counter(name, l, perSec[i], at, window))
	}
	return out
}
