package clientd

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// storedInfo reads what the store holds of the server's Info: the replica
// and the full Info kept for its tag (nil: none).
func storedInfo(t *testing.T, c *Client) (replica string, held *protocol.Info) {
	t.Helper()
	require.NoError(t, c.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bktMeta)
		replica = string(m.Get(keyReplica))
		if v := m.Get(keyInfo); v != nil {
			held = new(protocol.Info)
			return protocol.Unmarshal(v, held)
		}
		return nil
	}))
	return replica, held
}

// A session that gets an Info the store does not hold stores it with its
// first write, not in a commit of its own before it goes on, unless an
// exchange with uploads leaves first (the sent log names the replica);
// Close stores it when the session wrote nothing, and a process that
// ends without either only fetches it again.
func TestANewInfoIsStoredWithTheSessionsFirstWrite(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{})
	var commits atomic.Int64
	count := func(c *Client) { c.failCommit = func() error { commits.Add(1); return nil } }

	// A new device with an edit: the Info is stored before the exchange
	// leaves.
	a := ls.client(t, "a", nil)
	count(a)
	require.NoError(t, a.Put("notes", "n1", []byte("v1")))
	require.EqualValues(t, 1, commits.Load())
	replica, held := storedInfo(t, a)
	require.Empty(t, replica)
	require.Nil(t, held)
	rep := syncOK(t, a)
	require.Equal(t, 1, rep.Uploaded)
	require.EqualValues(t, 3, commits.Load(), "the Info before the exchange left, then the exchange's results")
	replica, held = storedInfo(t, a)
	require.Equal(t, string(a.replica), replica)
	require.NotEmpty(t, replica)
	require.NotNil(t, held, "the full Info, kept for its tag (SP-3-16)")
	require.NotEmpty(t, held.Tag)
	require.False(t, held.IsShort())

	// A new device that only pulls: the page's transaction carries it,
	// and nothing else commits.
	commits.Store(0)
	b := ls.client(t, "b", nil)
	count(b)
	rep = syncOK(t, b)
	require.Equal(t, 1, rep.Downloaded)
	require.EqualValues(t, 1, commits.Load())
	replica, held = storedInfo(t, b)
	require.Equal(t, string(b.replica), replica)
	require.NotNil(t, held)

	// A new device with nothing to move: Close stores it.
	tok, err := ls.srv.CreateToken("bob", "laptop")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "bob.db")
	c, err := Open(path, Config{ServerURL: ls.url, Token: tok})
	require.NoError(t, err)
	commits.Store(0)
	count(c)
	rep = syncOK(t, c)
	require.Zero(t, rep.Uploaded+rep.Downloaded)
	require.Zero(t, commits.Load(), "nothing to store but the Info: no commit")
	replica, held = storedInfo(t, c)
	require.Empty(t, replica)
	require.Nil(t, held)
	// A copy of the file as it is now is the store of a process that
	// ended without Close: it holds no Info, and its next session fetches
	// the full one again and syncs.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(crashed, data, 0o600))
	require.NoError(t, c.Close())
	require.EqualValues(t, 1, commits.Load(), "Close's commit")
	c, err = Open(path, Config{ServerURL: ls.url, Token: tok})
	require.NoError(t, err)
	require.NotEmpty(t, c.replica, "Open loads what Close stored")
	require.NotNil(t, c.tagged)
	require.NoError(t, c.Close())

	d, err := Open(crashed, Config{ServerURL: ls.url, Token: tok})
	require.NoError(t, err)
	defer d.Close()
	require.Empty(t, d.replica)
	require.Nil(t, d.tagged)
	require.NoError(t, d.Put("notes", "m1", []byte("w1")))
	rep = syncOK(t, d)
	require.Equal(t, 1, rep.Uploaded)
	replica, held = storedInfo(t, d)
	require.NotEmpty(t, replica)
	require.NotNil(t, held)
}
