package clientd

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/serverd"
)

// storedLastSync reads the end of the last successful session as the
// store holds it (0: none).
func storedLastSync(t *testing.T, c *Client) uint64 {
	t.Helper()
	var ms uint64
	require.NoError(t, c.view(func(tx *bolt.Tx) error {
		ms = getU64(tx.Bucket(bktMeta), keyLastSync)
		return nil
	}))
	return ms
}

// A session's end (the LastSync of Status, the clock it observed) costs
// no durable commit of its own: the next write transaction carries it,
// or Close does. A sync that stores its results commits once per
// exchange; a sync with nothing to do commits nothing.
func TestASessionEndsWithoutACommitOfItsOwn(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{})
	c := ls.client(t, "a", nil)
	require.NoError(t, c.Put("notes", "n1", []byte("v1")))
	syncOK(t, c) // the first session also stores the server's Info

	var commits atomic.Int64
	c.failCommit = func() error { commits.Add(1); return nil }

	require.NoError(t, c.Put("notes", "n1", []byte("v2")))
	require.EqualValues(t, 1, commits.Load())
	first := storedLastSync(t, c)
	require.NotZero(t, first, "the put carried the first session's end")

	time.Sleep(5 * time.Millisecond) // a later millisecond for the next end
	rep := syncOK(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.EqualValues(t, 2, commits.Load(), "an exchange's results, and no commit for the session's end")
	st, err := c.Status()
	require.NoError(t, err)
	require.Greater(t, uint64(st.LastSync.UnixMilli()), first)
	require.Equal(t, first, storedLastSync(t, c), "not written yet")

	time.Sleep(5 * time.Millisecond)
	syncOK(t, c)
	require.EqualValues(t, 2, commits.Load(), "a sync with nothing to move commits nothing")
	st, err = c.Status()
	require.NoError(t, err)
	last := uint64(st.LastSync.UnixMilli())

	// The next write carries it, whatever it is.
	require.NoError(t, c.Put("notes", "n2", []byte("x")))
	require.EqualValues(t, 3, commits.Load())
	require.Equal(t, last, storedLastSync(t, c))

	// Close writes what no write carried.
	time.Sleep(5 * time.Millisecond)
	syncOK(t, c)
	st, err = c.Status()
	require.NoError(t, err)
	last = uint64(st.LastSync.UnixMilli())
	path := c.db.Path()
	require.NoError(t, c.Close())
	require.EqualValues(t, 5, commits.Load(), "n2's upload, then Close's record of the session's end")
	c2, err := Open(path, Config{ServerURL: ls.url})
	require.NoError(t, err)
	defer c2.Close()
	st2, err := c2.Status()
	require.NoError(t, err)
	require.Equal(t, last, uint64(st2.LastSync.UnixMilli()), "the session's end survives Close")
	require.Equal(t, filepath.Clean(path), filepath.Clean(c2.db.Path()))
}

// A failed session leaves the last successful one's end in place.
func TestAFailedSessionKeepsTheLastSuccessfulEnd(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{})
	c := ls.client(t, "a", nil)
	syncOK(t, c)
	st, err := c.Status()
	require.NoError(t, err)
	ok := uint64(st.LastSync.UnixMilli())
	c.cfg.Token = "sp_not-a-token"
	_, err = c.Sync(t.Context())
	require.Error(t, err)
	require.NoError(t, c.Put("notes", "n1", []byte("v1")))
	require.Equal(t, ok, storedLastSync(t, c))
	st, err = c.Status()
	require.NoError(t, err)
	require.Equal(t, ok, uint64(st.LastSync.UnixMilli()))
	require.NotEmpty(t, st.LastError)
}
