package kube

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A pod end that takes a request and never answers nor closes (kwok's tunnel to a Prometheus out
// of connections did that) keeps its relay open until the session goes, as kubectl's does: the
// local client may have only half-closed. Closing the forwarder must still end such a relay at
// once rather than wait for the pod.
func TestShutdownEndsARelayOnASilentPod(t *testing.T) {
	noLeaks(t)
	f := testForwarder(t)
	took := make(chan struct{})
	s := memSession("prometheus-1", newMemConn(func(_, data *memStream) {
		close(took)
		_, _ = io.Copy(io.Discard, data) // read everything, answer nothing, close nothing
	}))
	f.setCurrent(s)
	local, remote := net.Pipe()
	f.wg.Add(1)
	go f.serve(remote)
	req, _ := http.NewRequest(http.MethodGet, "http://forward/api/v1/status/flags", nil)
	if err := req.Write(local); err != nil {
		t.Fatal(err)
	}
	<-took
	_ = local.Close() // the client gives up, as graph.Prom does at its deadline

	served := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(served)
	}()
	// What supervise does when the forwarder is closed.
	f.cancel()
	f.retire(s)
	select {
	case <-served:
	case <-time.After(time.Minute): // a bound for a failing test, far above the microseconds it takes
		t.Fatal("the relay to a silent pod outlived the forwarder's shutdown")
	}
}
