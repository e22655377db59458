package boltdb_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// fillStore writes a bit of everything a server stores: items, a
// tombstone, conflict records, small, large and empty idempotency records.
func fillStore(t *testing.T, path string) {
	t.Helper()
	s, err := boltdb.Open(path, boltdb.Options{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		if _, err := tx.CreateUser("alice", 1); err != nil {
			return err
		}
		if err := tx.PutToken(storage.HashToken("tok"), storage.Token{User: "alice", Device: "phone"}); err != nil {
			return err
		}
		c, err := tx.Collection("alice", "notes")
		if err != nil {
			return err
		}
		for _, it := range []struct {
			id, content string
			deleted     bool
		}{{"a", "alpha", false}, {"b", "beta", false}, {"a", "alpha 2", false}, {"c", "", false}, {"b", "", true}} {
			fp := fingerprint.Of(it.id, it.deleted, []byte(it.content))
			if _, err := c.Put(changelog.Entry{ID: it.id, Fingerprint: fp, HLC: 5, Deleted: it.deleted, Replica: "alice/phone"}, []byte(it.content)); err != nil {
				return err
			}
		}
		for i, id := range []string{"c1", "c2"} {
			if err := tx.PutConflict("alice", storage.Conflict{ConflictID: id, Collection: "notes", Entry: changelog.Entry{ID: "a", Fingerprint: fingerprint.Of("a", false, []byte("x")), HLC: 3, Replica: "alice/laptop", Size: 1}, Reason: "manual", ServerVersion: changelog.Seq(i + 1), Content: []byte("x"), CreatedMillis: 4}); err != nil {
				return err
			}
		}
		for i, resp := range [][]byte{bytes.Repeat([]byte("r"), 10_000), {0x80}, {}} {
			if err := tx.PutBatch("alice", string(rune('k'+i)), storage.Batch{CreatedMillis: uint64(i), Response: resp}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func TestCheckPassesAWellFormedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncprint.db")
	fillStore(t, path)
	require.NoError(t, boltdb.Check(path))
}

func TestCheckRefusesAStoreInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncprint.db")
	fillStore(t, path)
	s, err := boltdb.Open(path, boltdb.Options{})
	require.NoError(t, err)
	defer s.Close()
	start := time.Now()
	require.ErrorIs(t, boltdb.Check(path), storage.ErrLocked)
	require.Less(t, time.Since(start), 10*time.Second)
}

// Each corruption is one a torn or half-applied write could leave; Check
// must name it.
func TestCheckFindsBrokenInvariants(t *testing.T) {
	coll := func(tx *bolt.Tx) *bolt.Bucket {
		return tx.Bucket([]byte("data")).Bucket([]byte("alice")).Bucket([]byte("colls")).Bucket([]byte("notes"))
	}
	for _, tc := range []struct {
		name   string
		break_ func(tx *bolt.Tx) error
		want   string
	}{
		{"content that does not match its fingerprint", func(tx *bolt.Tx) error {
			return coll(tx).Bucket([]byte("content")).Put([]byte("a"), []byte("alpha 3"))
		}, `item "a": content does not match`},
		{"a live item without its content", func(tx *bolt.Tx) error {
			return coll(tx).Bucket([]byte("content")).Delete([]byte("a"))
		}, `item "a" has 0 bytes`},
		{"content of an item the log does not hold", func(tx *bolt.Tx) error {
			return coll(tx).Bucket([]byte("content")).Put([]byte("z"), []byte("zz"))
		}, `content for unknown item "z"`},
		{"an entry missing from the version index", func(tx *bolt.Tx) error {
			c := coll(tx).Bucket([]byte("s")).Cursor()
			c.First()
			return c.Delete()
		}, "not listed by version"},
		{"a head below an entry's version", func(tx *bolt.Tx) error {
			return coll(tx).Put([]byte("h"), []byte{0, 0, 0, 0, 0, 0, 0, 1})
		}, "head is 1"},
		{"a conflict record without its index entry", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("data")).Bucket([]byte("alice")).Bucket([]byte("conflict_ids")).Delete([]byte("c1"))
		}, `conflict "c1"`},
		{"an idempotency count that disagrees", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("batches")).Put([]byte("n"), []byte{0, 0, 0, 0, 0, 0, 0, 9})
		}, "batches: count"},
		{"an idempotency record missing from the age index", func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte("batches")).Bucket([]byte("o")).Cursor()
			c.First()
			return c.Delete()
		}, "in the age index"},
		{"a token of an unknown user", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("users")).Delete([]byte("alice"))
		}, "unknown user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "syncprint.db")
			fillStore(t, path)
			db, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(tc.break_))
			require.NoError(t, db.Close())
			err = boltdb.Check(path)
			require.ErrorIs(t, err, storage.ErrCorrupt)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
