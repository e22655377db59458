package clientd_test

import (
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

func TestTuneProcessRaisesTheHeapTargetAndRestoresIt(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // as at GOGC unset
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
