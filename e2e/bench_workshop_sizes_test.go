//go:build bench

package e2e

import (
	"fmt"
	"strconv"

	"github.com/svcgraph/svcgraph/internal/registrytest"
)

// The default pair's images as the workshop benchmark serves them: each image's compressed layer
// sizes for linux/amd64, in MB (10^6 bytes), largest layers as the real images have them. The
// registries are unreachable from the benchmark's machine, so these are estimates, and
// BENCHMARKS.md ("Issue 17: workshop mode") says where each comes from: Docker Hub's compressed
// sizes for the images or their near versions where the library holds a tag page, and the demo's
// own image sizes (opentelemetry-demo issue #251, `docker container ls -s`, uncompressed) at the
// usual ≈ 0.4 gzip ratio otherwise. Layers named by a base (a non-empty base) are the same blob in
// every image that names it, as the demo's services built on one base image share its layers;
// the third-party images share nothing (their bases are different versions).
type sizedLayer struct {
	base string // "" = this image's own layer
	mb   float64
}

var (
	demoAlpine = sizedLayer{"alpine-3.19", 3.4}
	demoDebian = []sizedLayer{{"debian-12-slim", 29.1}}
	demoJRE    = []sizedLayer{{"ubuntu-22.04", 28.6}, {"temurin-jre-21", 17.0}, {"temurin-jre-21-b", 47.0}}
	demoNode   = []sizedLayer{demoAlpine, {"node-20-alpine", 40.1}, {"node-20-alpine-b", 1.2}}
)

func own(mb ...float64) []sizedLayer {
	out := make([]sizedLayer, len(mb))
	for i, m := range mb {
		out[i] = sizedLayer{mb: m}
	}
	return out
}

func with(base []sizedLayer, mine ...float64) []sizedLayer {
	return append(append([]sizedLayer{}, base...), own(mine...)...)
}

// defaultPairSizes covers every reference `svcgraph images` lists for the default pair
// (opentelemetry-demo 0.30.2 + tempo-distributed 1.9.4); the benchmark fails if it lists another.
var defaultPairSizes = map[string][]sizedLayer{
	"docker.io/grafana/grafana:10.4.0":                        own(3.4, 1.2, 12.5, 0.002, 103.0, 0.2, 0.001),
	"docker.io/grafana/tempo:2.4.1":                           own(3.4, 0.6, 40.1),
	"docker.io/jaegertracing/all-in-one:1.53.0":               own(3.4, 0.3, 25.2),
	"docker.io/library/busybox:latest":                        own(2.2),
	"docker.io/library/memcached:1.6.23-alpine":               own(3.4, 0.001, 0.1, 0.6, 2.2, 0.001),
	"docker.io/library/redis:7.2-alpine":                      own(3.4, 0.001, 0.4, 0.9, 11.6, 0.001, 0.1),
	"docker.io/opensearchproject/opensearch:2.13.0":           own(52.4, 0.3, 0.002, 741.0, 0.01, 0.1),
	"docker.io/otel/opentelemetry-collector-contrib:0.97.0":   own(0.1, 61.8),
	"ghcr.io/open-feature/flagd:v0.9.0":                       own(0.8, 0.3, 17.1),
	"ghcr.io/open-telemetry/demo:1.9.0-accountingservice":     with([]sizedLayer{demoAlpine}, 8.9),
	"ghcr.io/open-telemetry/demo:1.9.0-adservice":             with(demoJRE, 0.001, 20.3, 37.5),
	"ghcr.io/open-telemetry/demo:1.9.0-cartservice":           own(12.1, 14.2, 18.4, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-checkoutservice":       with([]sizedLayer{demoAlpine}, 6.1),
	"ghcr.io/open-telemetry/demo:1.9.0-currencyservice":       with([]sizedLayer{demoAlpine}, 4.2, 30.6),
	"ghcr.io/open-telemetry/demo:1.9.0-emailservice":          with(demoDebian, 3.1, 19.8, 18.0, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-frauddetectionservice": with(demoJRE, 20.3, 16.2),
	"ghcr.io/open-telemetry/demo:1.9.0-frontend":              with(demoNode, 0.002, 125.3),
	"ghcr.io/open-telemetry/demo:1.9.0-frontendproxy":         with(demoDebian, 26.4, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-kafka":                 with(demoJRE, 20.3, 118.6, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-loadgenerator":         with(demoDebian, 3.1, 12.0, 281.4, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-paymentservice":        with(demoNode, 18.2, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-productcatalogservice": with([]sizedLayer{demoAlpine}, 6.0, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-quoteservice":          with([]sizedLayer{demoAlpine}, 30.2, 6.1),
	"ghcr.io/open-telemetry/demo:1.9.0-recommendationservice": with(demoDebian, 3.1, 12.0, 16.3, 0.001),
	"ghcr.io/open-telemetry/demo:1.9.0-shippingservice":       with([]sizedLayer{demoAlpine}, 11.7),
	"quay.io/prometheus/prometheus:v2.51.1":                   own(1.3, 0.5, 44.2, 38.1, 0.001, 0.001, 0.1),
}

// scaledLayers turns an image's sizes into generated layers at 1/scale of the real bytes (at least
// 1 KiB each, as a real layer's tar is never smaller), seeded so that shared bases share a blob.
func scaledLayers(ref string, sizes []sizedLayer, scale float64) []registrytest.Layer {
	out := make([]registrytest.Layer, len(sizes))
	for i, s := range sizes {
		seed := s.base
		if seed == "" {
			seed = ref + "#" + strconv.Itoa(i)
		}
		out[i] = registrytest.Layer{Seed: "workshop " + seed, Size: max(int64(s.mb*1e6/scale), 1024)}
	}
	return out
}

// realBytes is the real-world total of the set (each shared base counted once), in bytes.
func realBytes(sizes map[string][]sizedLayer) (total int64, layers int) {
	seen := map[string]bool{}
	for ref, ls := range sizes {
		for i, l := range ls {
			key := l.base
			if key == "" {
				key = fmt.Sprintf("%s#%d", ref, i)
			}
			if !seen[key] {
				seen[key] = true
				total += int64(l.mb * 1e6)
				layers++
			}
		}
	}
	return total, layers
}
