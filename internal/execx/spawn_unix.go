//go:build !windows

package execx

import (
	"errors"
	"syscall"
)

// detached puts the child in its own session so the terminal's Ctrl-C and hang-up do not reach it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func (OS) Terminate(pid int) error {
	err := syscall.Kill(pid, syscall.SIGTERM)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
