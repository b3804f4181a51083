//go:build !unix

package browsertest

import "os/exec"

func setProcessGroup(cmd *exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {
	cmd.Process.Kill()
}
