//go:build unix

package dockerhost

import "syscall"

// detached puts dockerd in its own session so it outlives the command that
// started it (CI starts it once and every later step uses it).
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
