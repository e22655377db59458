package clientd

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestCheckStore(t *testing.T) {
	notes := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bktColls).Bucket([]byte("notes")) }
	for _, tc := range []struct {
		name   string
		break_ func(tx *bolt.Tx) error
		want   string
	}{
		{"a store written through the API passes", nil, ""},
		{"content that does not match its fingerprint", func(tx *bolt.Tx) error {
			items := notes(tx).Bucket(bktItems)
			v := append([]byte(nil), items.Get([]byte("a"))...)
			v[len(v)-1] ^= 1
			return items.Put([]byte("a"), v)
		}, "does not match its fingerprint"},
		{"a pending mark without its item", func(tx *bolt.Tx) error {
			return notes(tx).Bucket(bktPending).Put([]byte("zz"), u64(1))
		}, "pending but not stored"},
		{"an undecodable record", func(tx *bolt.Tx) error {
			return notes(tx).Bucket(bktItems).Put([]byte("b"), []byte{9, 9})
		}, "corrupt"},
		{"an edit counter behind its records", func(tx *bolt.Tx) error {
			return tx.Bucket(bktMeta).Put(keyEdit, u64(0))
		}, "ahead of the store's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.db")
			c, err := Open(path, Config{})
			require.NoError(t, err)
			require.NoError(t, c.Put("notes", "a", []byte("alpha")))
			require.NoError(t, c.Put("notes", "b", []byte("beta")))
			require.NoError(t, c.Delete("notes", "b"))
			require.NoError(t, c.Close())
			if tc.break_ != nil {
				db, err := bolt.Open(path, 0o600, nil)
				require.NoError(t, err)
				require.NoError(t, db.Update(tc.break_))
				require.NoError(t, db.Close())
			}
			err = CheckStore(path)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrCorruptStore)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
