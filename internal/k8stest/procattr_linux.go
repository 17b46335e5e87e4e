package k8stest

import "syscall"

// procAttr makes the kernel kill a process when the thread that started it
// exits, so a crashed or killed `go test` leaves no control plane behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
