package serverd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// A data set put back to an earlier copy without a new epoch (a plain file
// copy, which keeps the epoch) has a head
// below the versions of cursors it issued. Such a cursor is cursor_expired
// [SP-6.1-7], on the change info and on the watch, so the client pulls
// from the beginning instead of silently missing the versions assigned
// again.
func TestACursorPastTheCollectionsHeadIsExpired(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	now := hlcAt(time.Now())
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "1", 0, 0, now)})
	db := filepath.Join(ts.cfg.DataDir, DBFile)
	ts.stop()
	saved, err := os.ReadFile(db)
	require.NoError(t, err)
	ts.start()
	epoch := ts.srv.Epoch()
	ts.exchange(tok, "notes", []protocol.Upload{up("b", "2", 0, 0, now), up("c", "3", 0, 0, now)})
	var p protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &p)
	require.EqualValues(t, 3, p.Head)
	ahead := p.Cursor

	ts.stop()
	require.NoError(t, os.WriteFile(db, saved, 0o600))
	ts.start()
	require.Equal(t, epoch, ts.srv.Epoch(), "a plain copy keeps its epoch")

	e := ts.call(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: ahead}, &p)
	requireCode(t, protocol.CodeCursorExpired, e)
	var w protocol.WatchResponse
	e = ts.call(protocol.PathWatch, tok, protocol.WatchRequest{Cursors: map[string]string{"notes": ahead}, TimeoutMillis: 1}, &w)
	requireCode(t, protocol.CodeCursorExpired, e)
	// A collection the restored data set does not hold has head 0.
	e = ts.call(protocol.PathWatch, tok, protocol.WatchRequest{Cursors: map[string]string{"notes": "", "tasks": ts.srv.cursors.issue("alice", "tasks", 1)}, TimeoutMillis: 1}, &w)
	requireCode(t, protocol.CodeCursorExpired, e)

	// A cursor at the head is still valid, and a pull from "" works.
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &p)
	require.EqualValues(t, 1, p.Head)
	atHead := p.Cursor
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: atHead}, &p)
	require.Empty(t, p.Changes)
	ts.mustCall(protocol.PathWatch, tok, protocol.WatchRequest{Cursors: map[string]string{"notes": atHead}, TimeoutMillis: 1}, &w)
	require.Empty(t, w.Changed)
}
