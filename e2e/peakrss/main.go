//go:build linux

// Command peakrss runs a command and writes the command's own peak RSS (KiB) to a file: the
// benchmark's figure. The benchmark cannot read it from its own wait4: Go starts a child with
// clone(CLONE_VM|CLONE_VFORK), so until exec the child shares the parent's memory, and Linux's
// exec keeps the old memory's high-water RSS in the child's rusage (setmax_mm_hiwater_rss), so
// ru_maxrss is max(parent, child) — the test process's hundreds of MB. Started from this small
// process instead, the figure is max(this process at the fork, a few MB, the child): the floor is
// measured by running `true` through it.
//
//	peakrss FILE COMMAND [ARG...]
//
// The command inherits stdin, stdout, stderr and the environment; peakrss exits with its code.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: peakrss FILE COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The benchmark kills peakrss on its deadline: the command must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "peakrss: no rusage")
		os.Exit(127)
	}
	if err := os.WriteFile(os.Args[1], []byte(strconv.FormatInt(ru.Maxrss, 10)+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
