package boltdb_test

import (
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
