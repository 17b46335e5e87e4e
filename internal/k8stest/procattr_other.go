//go:build !linux

package k8stest

import "syscall"

// procAttr: Pdeathsig is Linux-only; elsewhere a crashed test may leave
// the processes running.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
