package clientd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

func TestLocalWritesReadBackWithoutAServer(t *testing.T) {
	c := openStore(t, filepath.Join(t.TempDir(), "s.db"), clientd.Config{})
	require.NoError(t, c.Put("notes", "b", []byte("bee")))
	require.NoError(t, c.PutMany("notes", map[string][]byte{"a": []byte("ay"), "c": {}}))
	require.Equal(t, "bee", mustGet(t, c, "notes", "b"))
	require.Equal(t, "", mustGet(t, c, "notes", "c"))

	items, err := c.List("notes")
	require.NoError(t, err)
	require.Len(t, items, 3)
	require.Equal(t, []string{"a", "b", "c"}, []string{items[0].ID, items[1].ID, items[2].ID})
	require.Equal(t, 3, items[1].Size)
	require.Equal(t, fingerprint.Of("b", false, []byte("bee")), items[1].Fingerprint)
	require.True(t, items[1].Pending)
	require.Equal(t, "local", items[1].Author)
	require.Zero(t, items[1].Version)

	info, err := c.Stat("notes", "b")
	require.NoError(t, err)
	require.Equal(t, items[1], info)
	require.NoError(t, c.Delete("notes", "b"))
	_, err = c.Stat("notes", "b")
	require.ErrorIs(t, err, clientd.ErrNotFound)
	_, err = c.Get("notes", "b")
	require.ErrorIs(t, err, clientd.ErrNotFound)
	require.ErrorIs(t, c.Delete("notes", "b"), clientd.ErrNotFound, "deleting a deleted item")
	require.ErrorIs(t, c.Delete("notes", "zzz"), clientd.ErrNotFound, "deleting a missing item")
	_, err = c.Get("other", "x")
	require.ErrorIs(t, err, clientd.ErrNotFound)

	colls, err := c.Collections()
	require.NoError(t, err)
	require.Equal(t, []string{"notes"}, colls)

	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, 3, st.Pending, "a, c and the tombstone of b")

	_, err = c.Sync(context.Background())
	require.ErrorIs(t, err, clientd.ErrOffline)
	require.NoError(t, c.Start(), "an offline client starts no loop")
	c.Trigger()
}

func TestWritesAreValidated(t *testing.T) {
	c := openStore(t, filepath.Join(t.TempDir(), "s.db"), clientd.Config{})
	require.Equal(t, protocol.CodeInvalidCollection, protocol.CodeOf(c.Put("Bad Name", "x", nil)))
	require.Equal(t, protocol.CodeInvalidID, protocol.CodeOf(c.Put("notes", "", nil)))
	require.Equal(t, protocol.CodeInvalidID, protocol.CodeOf(c.Put("notes", "a\x00b", nil)))
	require.Equal(t, protocol.CodeItemTooLarge, protocol.CodeOf(c.Put("notes", "big", make([]byte, protocol.DefaultMaxItemBytes+1))))
	err := c.PutMany("notes", map[string][]byte{"ok": []byte("1"), "": []byte("2")})
	require.Equal(t, protocol.CodeInvalidID, protocol.CodeOf(err))
	items, err := c.List("notes")
	require.NoError(t, err)
	require.Empty(t, items, "PutMany is all or nothing")
}

func TestOfflineEditsAndTheClockSurviveCloseAndOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	wall := time.UnixMilli(1_800_000_000_000)
	c, err := clientd.Open(path, clientd.Config{Now: func() time.Time { return wall }})
	require.NoError(t, err)
	require.NoError(t, c.Put("notes", "a", []byte("one")))
	require.NoError(t, c.Put("notes", "a", []byte("two")))
	before, err := c.List("notes")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Close(), clientd.ErrClosed)
	require.ErrorIs(t, c.Put("notes", "a", nil), clientd.ErrClosed)

	// The wall clock stepped back an hour while the app was closed.
	wall = wall.Add(-time.Hour)
	c, err = clientd.Open(path, clientd.Config{Now: func() time.Time { return wall }})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "two", mustGet(t, c, "notes", "a"))
	require.NoError(t, c.Put("notes", "b", []byte("three")))
	after, err := c.List("notes")
	require.NoError(t, err)
	require.True(t, after[0].Pending)
	require.Greater(t, after[1].HLC, before[0].HLC, "the HLC never goes backwards across restarts")

	h, err := c.History("notes", "a", 0)
	require.NoError(t, err)
	require.Len(t, h, 2)
	require.Equal(t, fingerprint.Of("a", false, []byte("two")), h[0].Fingerprint, "newest first")
	require.Equal(t, clientd.SourceLocal, h[0].Source)
	all, err := c.History("", "", 2)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "b", all[0].ID)
}

func TestHistoryIsBounded(t *testing.T) {
	c := openStore(t, filepath.Join(t.TempDir(), "s.db"), clientd.Config{HistoryLimit: 3})
	for i := 0; i < 5; i++ {
		require.NoError(t, c.Put("notes", "a", []byte{byte('0' + i)}))
	}
	h, err := c.History("", "", 0)
	require.NoError(t, err)
	require.Len(t, h, 3)
	require.Equal(t, fingerprint.Of("a", false, []byte("4")), h[0].Fingerprint)
	require.Equal(t, fingerprint.Of("a", false, []byte("2")), h[2].Fingerprint)
}

func TestPutOfTheSameContentIsNotAnEdit(t *testing.T) {
	c := openStore(t, filepath.Join(t.TempDir(), "s.db"), clientd.Config{})
	require.NoError(t, c.Put("notes", "a", []byte("x")))
	require.NoError(t, c.Put("notes", "a", []byte("x")))
	h, err := c.History("notes", "a", 0)
	require.NoError(t, err)
	require.Len(t, h, 1)
}

func TestASecondOpenOfTheSameStoreFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	openStore(t, path, clientd.Config{})
	_, err := clientd.Open(path, clientd.Config{})
	require.Error(t, err)
}

func TestConfigIsChecked(t *testing.T) {
	_, err := clientd.Open(filepath.Join(t.TempDir(), "s.db"), clientd.Config{ServerURL: "ftp://x"})
	require.Error(t, err)
	_, err = clientd.Open(filepath.Join(t.TempDir(), "s.db"), clientd.Config{SyncInterval: -1})
	require.Error(t, err)
}

func TestResolutionNeedsExactlyOneChoice(t *testing.T) {
	c := openStore(t, filepath.Join(t.TempDir(), "s.db"), clientd.Config{})
	require.ErrorIs(t, c.Resolve(context.Background(), "notes", "a", clientd.Resolution{}), clientd.ErrResolution)
	require.ErrorIs(t, c.Resolve(context.Background(), "notes", "a", clientd.Resolution{Delete: true, KeepCurrent: true}), clientd.ErrResolution)
	require.ErrorIs(t, c.Resolve(context.Background(), "notes", "a", clientd.Resolution{KeepCurrent: true}), clientd.ErrNotFound)
}

// A session that moves nothing still keeps the server time it observed: a
// new process's first session spares the Info commit when the store holds
// the same replica and limits, and the clock is stored when the session
// ends instead.
func TestTheServerTimeASessionObservesSurvivesARestart(t *testing.T) {
	serverNow := time.UnixMilli(1_800_000_000_000)
	var mu sync.Mutex
	srv := startServer(t, serverd.Config{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return serverNow }})
	wall := serverNow.Add(-time.Hour) // the phone's clock is an hour behind
	path := filepath.Join(t.TempDir(), "phone.db")
	cfg := clientd.Config{ServerURL: srv.url, Token: srv.token("alice", "phone"), Now: func() time.Time { return wall }}
	open := func() *clientd.Client {
		c, err := clientd.Open(path, cfg)
		require.NoError(t, err)
		return c
	}
	c := open()
	mustSync(t, c) // stores the replica and the limits
	require.NoError(t, c.Close())

	mu.Lock()
	serverNow = serverNow.Add(2 * time.Hour)
	observed := serverNow
	mu.Unlock()
	c = open()
	rep := mustSync(t, c) // nothing to move
	require.Zero(t, rep.Uploaded+rep.Downloaded)
	require.NoError(t, c.Close())

	c = open()
	defer c.Close()
	require.NoError(t, c.Put("notes", "a", []byte("offline")))
	ls, err := c.List("notes")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	require.GreaterOrEqual(t, ls[0].HLC.Time().UnixMilli(), observed.UnixMilli(), "the edit is stamped after the server time the last session saw")
}

// Opening a store made before, and reading it, writes nothing: no commit,
// no fsync, the file unchanged byte for byte.
func TestOpeningAndReadingAStoreWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	c, err := clientd.Open(path, clientd.Config{})
	require.NoError(t, err)
	require.NoError(t, c.Put("notes", "a", []byte("one")))
	require.NoError(t, c.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	c, err = clientd.Open(path, clientd.Config{})
	require.NoError(t, err)
	require.Equal(t, "one", mustGet(t, c, "notes", "a"))
	_, err = c.List("notes")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after), "the store file changed")
}
