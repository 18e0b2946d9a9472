package steps

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ReadHostMemoryMB reads MemTotal from /proc/meminfo: preflight's default Session.HostMemoryMB.
func ReadHostMemoryMB() (int, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.Atoi(fields[1])
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
