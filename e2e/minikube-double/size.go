package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// sizeRe is docker/go-units' size syntax, which minikube's util.CalculateSizeInMB uses through
// units.RAMInBytes: a number, an optional space, an optional unit, optional "i", optional "b".
var sizeRe = regexp.MustCompile(`^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// parseMemoryMB parses a --memory value as minikube does: a bare number is MB, every unit is
// binary (1G = 1024 MB), the unit letter is case-insensitive and may end in "b" or "ib".
func parseMemoryMB(s string) (int, error) {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		s += "mb"
	}
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("FromHumanSize: invalid size: '%s'", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("FromHumanSize: invalid size: '%s'", s)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[strings.ToLower(m[3])]
	return int(int64(n*mult) / (1 << 20)), nil
}
