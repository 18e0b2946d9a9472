package chartmod

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/strvals"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/svcgraph/svcgraph/internal/reason"
)

// maxValuesFileBytes bounds one -f file: values files are kilobytes, and `-f /dev/zero` (or a
// pipe that never ends) must be a clear error, not an out-of-memory crash.
const maxValuesFileBytes = 8 << 20

// ReadValues reads the user's values as `helm install -f … --set …` does: the -f files in order
// (a path, "-" for stdin, or an http(s) URL), each merged over the ones before, then every --set
// with Helm's own syntax. Every read is bounded and ends with ctx.
func ReadValues(ctx context.Context, o Options) (map[string]any, error) {
	base := map[string]any{}
	var f *fetcher
	for _, file := range o.ValuesFiles {
		if f == nil && isHTTP(file) {
			f = newFetcher(o)
			defer f.close()
		}
		data, err := readValuesFile(ctx, f, file)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, reason.Wrap(reason.BadValues, err, "", "cannot read values file %s", RedactURL(file))
		}
		current := map[string]any{}
		if err := sigsyaml.Unmarshal(data, &current); err != nil {
			return nil, reason.Wrap(reason.BadValues, err, "Fix the YAML of the file named above.", "values file %s is not a YAML map", RedactURL(file))
		}
		base = mergeValues(base, current)
	}
	for _, set := range o.SetValues {
		if err := strvals.ParseInto(set, base); err != nil {
			return nil, reason.Wrap(reason.BadValues, err, "Write --set as helm takes it: key=value, a.b=c, list={a,b}, 'a=x\\,y'.", "cannot parse --set %s", set)
		}
	}
	return base, nil
}

func isHTTP(file string) bool {
	u, err := url.Parse(file)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

func readValuesFile(ctx context.Context, f *fetcher, file string) ([]byte, error) {
	if isHTTP(file) {
		return f.get(ctx, file, file, maxValuesFileBytes)
	}
	var r io.Reader
	if strings.TrimSpace(file) == "-" {
		r = os.Stdin
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		// A pipe or FIFO may never send anything: the read ends with ctx (regular files are
		// not pollable, and need not be).
		stop := context.AfterFunc(ctx, func() { _ = fh.SetReadDeadline(time.Now()) })
		defer stop()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, maxValuesFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxValuesFileBytes {
		return nil, fmt.Errorf("more than %d MiB; a values file is far smaller (is it the right file?)", maxValuesFileBytes>>20)
	}
	return data, nil
}
