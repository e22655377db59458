package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/changelog/boltstore"
	"github.com/syncprint/syncprint/changelog/changelogtest"
)

func TestBoltLogContract(t *testing.T) {
	changelogtest.Run(t, func(t *testing.T, fn func(changelog.Log)) {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "log.db"), 0o600, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("coll"))
			if err != nil {
				return err
			}
			fn(boltstore.New(b))
			return nil
		}))
		// The committed log reads back in a read-only transaction.
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			l := boltstore.New(tx.Bucket([]byte("coll")))
			_, err := l.Head()
			return err
		}))
	})
}

func TestBoltLogSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("c"))
		l := boltstore.New(b)
		for _, id := range []string{"x", "y", "x"} {
			if _, err := l.Append(changelog.Entry{ID: id, Replica: "r"}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	db, err = bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		l := boltstore.New(tx.Bucket([]byte("c")))
		h, err := l.Head()
		require.NoError(t, err)
		require.Equal(t, changelog.Seq(3), h)
		var ids []string
		require.NoError(t, l.Since(0, 0, func(e changelog.Entry) error { ids = append(ids, e.ID); return nil }))
		require.Equal(t, []string{"y", "x"}, ids)
		return nil
	}))
}
