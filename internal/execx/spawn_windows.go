//go:build windows

package execx

import (
	"os"
	"syscall"
)

const createNewProcessGroup = 0x00000200

// detached starts the child in its own process group so the console's Ctrl-C does not reach it.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: createNewProcessGroup}
}

func (OS) Terminate(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil // already gone
	}
	if err := p.Kill(); err != nil && err.Error() != "os: process already finished" {
		return err
	}
	return nil
}
