package clientd_test

import (
	"os"
	"os/exec"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
)

// gcPercent returns the collector's GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestTuneProcessRaisesTheHeapTargetAndRestoresIt runs in a process of its
// own, as an app's main would call TuneProcess: the floor matters to a
// process whose live heap is small, and this package's other tests leave
// theirs large.
func TestTuneProcessRaisesTheHeapTargetAndRestoresIt(t *testing.T) {
	if os.Getenv("CLIENTD_TUNE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTuneProcessRaisesTheHeapTargetAndRestoresIt$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CLIENTD_TUNE_CHILD=1", "GOGC=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "PASS")
		return
	}
	require.Equal(t, 100, gcPercent(), "a new process without GOGC")
	restore, err := clientd.TuneProcess()
	require.NoError(t, err)
	require.Greater(t, gcPercent(), 100, "a process with a small live heap collects at the floor, not at twice its live heap")
	restore()
	require.Equal(t, 100, gcPercent())

	// A GOGC the user chose is left alone.
	debug.SetGCPercent(50)
	restore, err = clientd.TuneProcess()
	require.NoError(t, err)
	require.Equal(t, 50, gcPercent())
	restore()
	require.Equal(t, 50, gcPercent())
}
