package boltdb_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
	"github.com/syncprint/syncprint/serverd/storage/storagetest"
)

func TestBoltStoreContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, func() storage.Store) {
		path := filepath.Join(t.TempDir(), "syncprint.db")
		s, err := boltdb.Open(path, boltdb.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s, func() storage.Store {
			require.NoError(t, s.Close())
			s2, err := boltdb.Open(path, boltdb.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s2.Close() })
			return s2
		}
	})
}

func TestSecondOpenOfTheSameFileReportsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncprint.db")
	s, err := boltdb.Open(path, boltdb.Options{})
	require.NoError(t, err)
	defer s.Close()
	_, err = boltdb.Open(path, boltdb.Options{LockTimeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, storage.ErrLocked)
}

func TestLargeBatchResponsesRoundTripAndArePrunedWithTheirRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncprint.db")
	s, err := boltdb.Open(path, boltdb.Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	large := bytes.Repeat([]byte("r"), 100_000)
	records := map[string]storage.Batch{
		"large": {CreatedMillis: 1, RequestHash: [32]byte{1}, Response: large},
		"small": {CreatedMillis: 2, RequestHash: [32]byte{2}, Response: []byte{0x80}},
		"empty": {CreatedMillis: 3, RequestHash: [32]byte{3}, Response: []byte{}},
	}
	put := func() {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for _, id := range []string{"large", "small", "empty"} {
				if err := tx.PutBatch("alice", id, records[id]); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	check := func(want bool) {
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			for id, rec := range records {
				got, ok, err := tx.Batch("alice", id)
				require.NoError(t, err)
				require.Equal(t, want, ok, id)
				if want {
					require.Equal(t, rec, got, id)
				}
			}
			return nil
		}))
	}
	put()
	check(true)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		n, err := tx.PruneBatches(10, 0, 10)
		require.Equal(t, 3, n)
		return err
	}))
	check(false)
	put() // the same keys again: nothing of the pruned records is left in the way
	check(true)
}
