package faultstore_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/faultstore"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

func open(t *testing.T) (*faultstore.Faults, storage.Store) {
	t.Helper()
	inner, err := boltdb.Open(filepath.Join(t.TempDir(), "syncprint.db"), boltdb.Options{})
	require.NoError(t, err)
	f := faultstore.New()
	s := f.Wrap(inner)
	t.Cleanup(func() { _ = s.Close() })
	return f, s
}

// putThree writes three meta keys in one transaction.
func putThree(s storage.Store, prefix string) error {
	return s.Update(context.Background(), func(tx storage.Tx) error {
		for _, k := range []string{"1", "2", "3"} {
			if err := tx.PutMeta(prefix+k, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func meta(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	var v []byte
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		v, err = tx.Meta(key)
		return err
	}))
	return v
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      faultstore.Fault
		errno      syscall.Errno
		stored     bool // the failed transaction's data is in the store
		laterFails bool // the next transaction fails too
	}{
		{"a failed write rolls the transaction back", faultstore.Fault{Kind: faultstore.FailWrite, K: 2}, syscall.EIO, false, false},
		{"a failed commit stores nothing", faultstore.Fault{Kind: faultstore.FailCommit, K: 1}, syscall.EIO, false, false},
		{"a lost commit stores the data and reports an error", faultstore.Fault{Kind: faultstore.LostCommit, K: 1}, syscall.EIO, true, false},
		{"a full disk fails every write until healed", faultstore.Fault{Kind: faultstore.DiskFull, K: 3}, syscall.ENOSPC, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s := open(t)
			f.Arm(tc.fault)
			err := putThree(s, "a")
			require.ErrorIs(t, err, faultstore.ErrInjected)
			require.ErrorIs(t, err, tc.errno)
			require.Equal(t, 1, f.Injected())
			if tc.stored {
				require.Equal(t, []byte("3"), meta(t, s, "a3"))
			} else {
				require.Nil(t, meta(t, s, "a1"), "a rolled-back transaction left data")
			}
			err = putThree(s, "b")
			if tc.laterFails {
				require.ErrorIs(t, err, syscall.ENOSPC)
				f.Heal()
				require.NoError(t, putThree(s, "b"))
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, []byte("3"), meta(t, s, "b3"))
		})
	}
}

func TestCountsCoverItemPutsAndKeepTheContentAppender(t *testing.T) {
	f, s := open(t)
	f.Arm(faultstore.Fault{})
	fp := fingerprint.Of("a", false, []byte("alpha"))
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		c, err := tx.Collection("alice", "notes")
		if err != nil {
			return err
		}
		_, err = c.Put(changelog.Entry{ID: "a", Fingerprint: fp, HLC: 1, Replica: "alice/phone"}, []byte("alpha"))
		return err
	}))
	writes, commits := f.Counts()
	require.Equal(t, 1, writes)
	require.Equal(t, 1, commits)
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		c, err := tx.Collection("alice", "notes")
		require.NoError(t, err)
		a, ok := c.(storage.ContentAppender)
		require.True(t, ok, "the wrapper hides the backend's ContentAppender")
		got, err := a.AppendContent(nil, "a")
		require.Equal(t, "alpha", string(got))
		return err
	}))
}
