package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// An operator backs up a running server, the devices write more, the
// server's data set is restored from the backup and the server started
// again: it takes a new epoch (SP-3-14), the devices pull everything again,
// upload what only they still hold, and every replica ends with every
// write, nothing lost.
func TestARestoredBackupLosesNothingTheDevicesStillHold(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServe(t, data)
	epochRe := regexp.MustCompile(`epoch ([0-9a-f]{16})\)`)
	m := epochRe.FindStringSubmatch(srv.stdout.String())
	require.NotNil(t, m, "the banner names the epoch:\n%s", srv.stdout)
	oldEpoch := m[1]
	tokL, tokT := tokenFor(t, data, "alice", "laptop"), tokenFor(t, data, "alice", "tablet")
	laptop := newDevice(t, dir, "laptop", srv.url, tokL)
	tablet := newDevice(t, dir, "tablet", srv.url, tokT)
	laptop.ok("put", "notes", "a", "A")
	laptop.ok("sync")
	tablet.ok("sync")

	backup := filepath.Join(dir, "backup.db")
	r := runCLI(t, "", nil, "backup", "--data", data, backup)
	require.Equal(t, 0, r.code, "backup of a running server: %s", r.stderr)
	require.Contains(t, r.stdout, "taken from the running server")
	require.FileExists(t, backup)

	// Written after the backup: lost by the restore, held by the laptop.
	laptop.ok("put", "notes", "b", "B")
	laptop.ok("sync")

	r = runCLI(t, "", nil, "restore", "--data", data, backup)
	require.Equal(t, 1, r.code, "no restore under a running server")
	require.Contains(t, r.stderr, "stop it first")
	srv.stop(t)
	r = runCLI(t, "", nil, "backup", "--data", data, filepath.Join(dir, "cold.db"))
	require.Equal(t, 0, r.code, "backup of a stopped server: %s", r.stderr)
	require.Contains(t, r.stdout, "copied from the stopped server's data directory")
	r = runCLI(t, "", nil, "restore", "--data", data, backup)
	require.Equal(t, 0, r.code, "restore: %s", r.stderr)
	require.Contains(t, r.stdout, "new epoch")

	srv = startServe(t, data)
	require.Contains(t, srv.stdout.String(), "restored from a backup of epoch "+oldEpoch)
	m = epochRe.FindStringSubmatch(srv.stdout.String())
	require.NotNil(t, m)
	require.NotEqual(t, oldEpoch, m[1], "a restored data set takes a new epoch")

	laptop = newDevice(t, dir, "laptop", srv.url, tokL)
	tablet = newDevice(t, dir, "tablet", srv.url, tokT)
	// The tablet, which never saw b, writes first: the head passes the
	// version of the laptop's cursor again, which only the new epoch tells
	// apart from the lost history.
	tablet.ok("put", "notes", "x", "X")
	tablet.ok("put", "notes", "y", "Y")
	tablet.ok("sync")
	laptop.ok("sync")
	tablet.ok("sync")
	want := map[string]string{"a": "A", "b": "B", "x": "X", "y": "Y"}
	for _, d := range []*device{laptop, tablet} {
		for id, v := range want {
			require.Equal(t, v, d.get("notes", id), "%s of %s", id, d.store)
		}
		require.Contains(t, d.ok("status"), "pending:    0")
		require.Empty(t, conflictsOf(t, d), "nothing in conflict: the devices agreed")
	}
}
