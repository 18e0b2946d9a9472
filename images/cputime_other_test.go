//go:build !unix

package images

import "time"

// processCPU is not measured off unix: the benchmarks then report 0 CPU.
func processCPU() time.Duration { return 0 }
