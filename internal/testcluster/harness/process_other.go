//go:build !linux

package harness

import "errors"

var errLinuxOnly = errors.New("the loopback test cluster runs on Linux only")

// StopComponent is Linux-only, like the cluster.
func StopComponent(Layout, string) error { return errLinuxOnly }

// StartComponent is Linux-only, like the cluster.
func StartComponent(Layout, string) error { return errLinuxOnly }
