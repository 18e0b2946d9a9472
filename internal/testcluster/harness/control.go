//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Down and Status act on a running cluster through its saved PIDs and its API server's /readyz.

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// readyz asks the API server's /readyz with the admin credentials.
func readyz(ctx context.Context, l Layout) error {
	cfg, err := RESTConfig(l.AdminKubeconfig())
	if err != nil {
		return err
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, body)
	}
	return nil
}

// allRunning says whether every component's saved PID is alive.
func allRunning(l Layout) bool {
	for _, c := range Components {
		if _, ok := savedPID(l, c); !ok {
			return false
		}
	}
	return true
}

// Down stops every component by its saved PID, in reverse start order, and removes the PID
// files and state; logs stay for a post-mortem. Stopping a cluster that is not running is fine.
func Down(l Layout, progress io.Writer) error {
	var errs []error
	for i := len(Components) - 1; i >= 0; i-- {
		c := Components[i]
		if pid, ok := savedPID(l, c); ok {
			fmt.Fprintf(progress, "testcluster: stopping %s (pid %d)\n", c, pid)
		}
		if err := stopComponent(l, c, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(l.StateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Status describes each component and whether the API server is ready. It returns an error
// when the cluster is not fully running.
func Status(ctx context.Context, l Layout, w io.Writer) error {
	st, stateErr := readState(l)
	down := 0
	for _, c := range Components {
		if pid, ok := savedPID(l, c); ok {
			fmt.Fprintf(w, "%-24s running (pid %d)\n", c, pid)
		} else {
			fmt.Fprintf(w, "%-24s stopped\n", c)
			down++
		}
	}
	if stateErr != nil {
		return fmt.Errorf("no cluster state in %s: run scripts/testcluster up", l.Dir)
	}
	fmt.Fprintf(w, "%-24s %s\n", "api server", st.APIServer)
	if err := readyz(ctx, l); err != nil {
		return fmt.Errorf("api server not ready: %w", err)
	}
	if down > 0 {
		return fmt.Errorf("%d component(s) stopped: run scripts/testcluster up to replace the cluster", down)
	}
	fmt.Fprintf(w, "%-24s ready\n", "cluster")
	return nil
}
