package clientd_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// conflicted returns laptop and phone after a concurrent edit of notes/n
// under rule: the laptop's "laptop" reached the server first.
func conflicted(t *testing.T, rule protocol.Rule) (*testServer, *clientd.Client, *clientd.Client) {
	t.Helper()
	srv := startServer(t, serverd.Config{DefaultRule: rule})
	laptop := srv.client(t, "alice", "laptop")
	phone := srv.client(t, "alice", "phone")
	require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
	mustSync(t, laptop)
	mustSync(t, phone)
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	mustSync(t, laptop)
	mustSync(t, phone)
	mustSync(t, laptop)
	return srv, laptop, phone
}

func TestResolveALocalConflictOfflineWithTheLosingVersion(t *testing.T) {
	_, laptop, phone := conflicted(t, protocol.ServerWins)
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, clientd.KindLocal, cs[0].Kind)

	require.ErrorIs(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{UseConflict: "nope"}), clientd.ErrNotFound)
	require.NoError(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{UseConflict: cs[0].ConflictID}))
	require.Equal(t, "phone", mustGet(t, phone, "notes", "n"))
	cs, err = phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs)
	st, err := phone.Status()
	require.NoError(t, err)
	require.Equal(t, 1, st.Pending, "the resolution goes up at the next sync")

	rep := mustSync(t, phone)
	require.Equal(t, 1, rep.Uploaded)
	require.Zero(t, rep.Conflicts, "the resolution is based on the server's version")
	mustSync(t, laptop)
	require.Equal(t, "phone", mustGet(t, laptop, "notes", "n"))
}

func TestResolveAServerConflictWithNewContent(t *testing.T) {
	srv, laptop, phone := conflicted(t, protocol.Manual)
	cs, err := laptop.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, clientd.KindServer, cs[0].Kind)
	require.Equal(t, protocol.ReasonManual, cs[0].Reason)
	require.Equal(t, "phone", string(cs[0].Content))

	require.NoError(t, laptop.Resolve(context.Background(), "notes", "n", clientd.Resolution{Content: []byte("merged")}))
	require.Equal(t, "merged", mustGet(t, laptop, "notes", "n"))
	cs, err = laptop.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs)
	st, err := laptop.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending, "the resolution was written on the server")

	mustSync(t, phone)
	require.Equal(t, "merged", mustGet(t, phone, "notes", "n"))
	cs, err = phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs, "the record is closed for every device")

	// A fresh device sees the resolved item and no conflict.
	tablet := srv.client(t, "alice", "tablet")
	mustSync(t, tablet)
	require.Equal(t, "merged", mustGet(t, tablet, "notes", "n"))
}

func TestResolveAServerConflictByKeepingTheCurrentVersion(t *testing.T) {
	_, laptop, phone := conflicted(t, protocol.ClientWins)
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, protocol.ReasonOverwritten, cs[0].Reason)
	require.NoError(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{KeepCurrent: true}))
	require.Equal(t, "phone", mustGet(t, phone, "notes", "n"))
	mustSync(t, laptop)
	cs, err = laptop.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs)
}

func TestResolveByDeleting(t *testing.T) {
	_, laptop, phone := conflicted(t, protocol.Manual)
	require.NoError(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{Delete: true}))
	_, err := phone.Get("notes", "n")
	require.ErrorIs(t, err, clientd.ErrNotFound)
	mustSync(t, laptop)
	_, err = laptop.Get("notes", "n")
	require.ErrorIs(t, err, clientd.ErrNotFound)
}

func TestResolveOfAnItemThatMovedOnSyncsAndAsksAgain(t *testing.T) {
	_, laptop, phone := conflicted(t, protocol.Manual)
	// The laptop changes the item after the phone's last sync.
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop 2")))
	mustSync(t, laptop)

	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	err = phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{UseConflict: cs[0].ConflictID})
	require.ErrorIs(t, err, clientd.ErrStale)
	require.Equal(t, protocol.CodeStaleBase, protocol.CodeOf(err))
	require.Equal(t, "laptop 2", mustGet(t, phone, "notes", "n"), "Resolve synced")

	require.NoError(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{UseConflict: cs[0].ConflictID}))
	mustSync(t, laptop)
	require.Equal(t, "phone", mustGet(t, laptop, "notes", "n"))
}

func TestResolveOfAServerConflictNeedsAServer(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop := srv.client(t, "alice", "laptop")
	path := t.TempDir() + "/phone.db"
	phone := openStore(t, path, clientd.Config{ServerURL: srv.url, Token: srv.token("alice", "phone")})
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	mustSync(t, laptop)
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	mustSync(t, phone)
	require.NoError(t, phone.Close())
	require.ErrorIs(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{KeepCurrent: true}), clientd.ErrClosed)

	offline := openStore(t, path, clientd.Config{})
	cs, err := offline.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1, "the cache survives a restart")
	require.ErrorIs(t, offline.Resolve(context.Background(), "notes", "n", clientd.Resolution{KeepCurrent: true}), clientd.ErrOffline)
}
