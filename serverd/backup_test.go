package serverd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// A backup taken while the server runs, restored after more writes, takes
// a new epoch when the server opens it [SP-3-14]: the cursors issued
// before are cursor_expired, and the restored data set holds what the
// backup held.
func TestARestoredBackupTakesANewEpoch(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	now := hlcAt(time.Now())
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "1", 0, 0, now)})
	var p protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &p)
	atBackup := p.Cursor

	backup := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(backup)
	require.NoError(t, err)
	n, err := ts.srv.Backup(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Positive(t, n)

	ts.exchange(tok, "notes", []protocol.Upload{up("b", "2", 0, 0, now)})
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: atBackup}, &p)
	after := p.Cursor
	old := ts.srv.Epoch()

	_, err = Restore(ts.cfg.DataDir, backup)
	require.ErrorIs(t, err, ErrDataDirLocked, "no restore under a running server")
	ts.stop()
	replaced, err := Restore(ts.cfg.DataDir, backup)
	require.NoError(t, err)
	require.FileExists(t, replaced, "the replaced data set is kept")
	ts.start()
	require.NotEqual(t, old, ts.srv.Epoch())
	require.Equal(t, old, ts.srv.RestoredFrom())

	for _, cur := range []string{atBackup, after} {
		e := ts.call(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: cur}, &p)
		requireCode(t, protocol.CodeCursorExpired, e)
	}
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &p)
	require.Len(t, p.Changes, 1)
	require.Equal(t, "a", p.Changes[0].ID)

	// The epoch is new once: the next start keeps it.
	epoch := ts.srv.Epoch()
	ts.restart()
	require.Equal(t, epoch, ts.srv.Epoch())
	require.Empty(t, ts.srv.RestoredFrom())
}

// A copy of a stopped server's data directory (BackupDataDir) restores
// the same way; MarkRestored refuses a file that is not a data set.
func TestAnOfflineBackupRestoresIntoAnotherDirectory(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "1", 0, 0, hlcAt(time.Now()))})
	old := ts.srv.Epoch()
	var buf bytes.Buffer
	_, err := BackupDataDir(context.Background(), ts.cfg.DataDir, &buf)
	require.ErrorIs(t, err, ErrDataDirLocked)
	ts.stop()
	_, err = BackupDataDir(context.Background(), ts.cfg.DataDir, &buf)
	require.NoError(t, err)
	backup := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, os.WriteFile(backup, buf.Bytes(), 0o600))

	dir := filepath.Join(t.TempDir(), "restored")
	replaced, err := Restore(dir, backup)
	require.NoError(t, err)
	require.Empty(t, replaced)
	other := startServer(t, Config{DataDir: dir})
	require.NotEqual(t, old, other.srv.Epoch())
	var p protocol.ChangesResponse
	other.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &p)
	require.Len(t, p.Changes, 1, "the user's token and items came along")

	empty := filepath.Join(t.TempDir(), "empty.db")
	st, err := openLocked(empty) // a bbolt file without a data set
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = MarkRestored(empty)
	require.True(t, errors.Is(err, ErrNotDataSet), "%v", err)
	_, err = Restore(filepath.Join(t.TempDir(), "x"), empty)
	require.ErrorIs(t, err, ErrNotDataSet)
}
