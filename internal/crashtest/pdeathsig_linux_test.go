package crashtest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the child with SIGKILL when the test
// process dies, so that an interrupted soak leaves no server running.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
