package serverd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// An upload that loses under manual, sent again with a new batch ID (its
// first response was lost), names the record that keeps it instead of
// keeping it twice; another version, or the same one from another device
// or against another server version, gets its own record.
func TestAResentConflictUploadIsKeptOnce(t *testing.T) {
	ts := startServer(t, Config{DefaultRule: protocol.Manual})
	laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
	h := hlcAt(time.Now())
	ts.exchange(laptop, "notes", []protocol.Upload{up("x", "server", 0, 0, h)})

	first := ts.exchange(phone, "notes", []protocol.Upload{up("x", "mine", 0, 1, h)}).Results[0]
	require.Equal(t, protocol.StatusConflict, first.Status)
	again := ts.exchange(phone, "notes", []protocol.Upload{up("x", "mine", 0, 1, h)}).Results[0]
	require.Equal(t, protocol.StatusConflict, again.Status)
	require.Equal(t, first.Conflict, again.Conflict, "the resent upload got a second record")

	other := ts.exchange(phone, "notes", []protocol.Upload{up("x", "mine, edited", 0, 1, h)}).Results[0]
	require.NotEqual(t, first.Conflict, other.Conflict)
	byTablet := ts.exchange(ts.token("alice", "tablet"), "notes", []protocol.Upload{up("x", "mine", 0, 1, h)}).Results[0]
	require.NotEqual(t, first.Conflict, byTablet.Conflict)
	ts.exchange(laptop, "notes", []protocol.Upload{up("x", "server 2", 1, 1, h)})
	later := ts.exchange(phone, "notes", []protocol.Upload{up("x", "mine", 0, 2, h)}).Results[0]
	require.Equal(t, protocol.StatusConflict, later.Status)
	require.NotEqual(t, first.Conflict, later.Conflict, "against a newer server version, a new record")

	n := 0
	require.NoError(t, ts.srv.view(t.Context(), func(tx storage.Tx) error {
		return tx.Conflicts("alice", "notes", func(storage.Conflict) error { n++; return nil })
	}))
	require.Equal(t, 4, n)
}
