//go:build unix

package browsertest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the browser in a process group of its own, so that
// its helper processes can be killed with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
