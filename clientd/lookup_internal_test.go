package clientd

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// bucketDB returns a bbolt file, closed with the test, with bucket "b"
// holding keys (in ascending order) and their values, packed to fill.
func bucketDB(tb testing.TB, fill float64, keys []string, value func(key string) []byte) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "l.db"), 0o600, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	require.NoError(tb, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.FillPercent = fill
		for _, k := range keys {
			if err := b.Put([]byte(k), value(k)); err != nil {
				return err
			}
		}
		return nil
	}))
	return db
}

// Looked up in a read-only transaction with ascending set, keys are found
// (or not) exactly as a Seek finds them, whatever the order they come in:
// next keys, gaps, absent keys, a key behind the cursor, past the last key.
// In a writable transaction, where a cursor is not valid across writes,
// ascending is ignored and a write between lookups is seen.
func TestAscendingLookupsFindWhatSeekFinds(t *testing.T) {
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	var stored []string
	for i := 0; i < 2000; i += 2 { // even keys only, over several pages
		stored = append(stored, key(i))
	}
	db := bucketDB(t, bolt.DefaultFillPercent, stored, func(k string) []byte { return []byte("v" + k) })
	order := []int{0, 2, 4, 6, 10, 11, 12, 14, 500, 502, 300, 302, 304, 1998, 1999, 2000, 0, 2}
	for i := 0; i < 2000; i += 2 {
		order = append(order, i) // every key, as a batch of uploads reads them
	}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		c := &coll{ascending: true}
		cur, ref := b.Cursor(), b.Cursor()
		for _, i := range order {
			require.Equal(t, lookup(ref, key(i)), c.lookup(cur, key(i)), "key %d", i)
		}
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		c := &coll{ascending: true}
		cur := b.Cursor()
		require.Equal(t, "vk0000", string(c.lookup(cur, key(0))))
		require.NoError(t, b.Put([]byte(key(2)), []byte("new")))
		require.Equal(t, "new", string(c.lookup(cur, key(2))), "the write is seen")
		return nil
	}))
}

// BenchmarkLookup5000Ascending looks up 5,000 consecutive IDs of a
// collection of 10,000 items of about 300 bytes, in a read-only
// transaction, as building a batch of uploads does: with a Seek from the
// root each, and with ascending lookups.
func BenchmarkLookup5000Ascending(b *testing.B) {
	key := func(i int) string { return fmt.Sprintf("item-%07d", i) }
	stored := make([]string, 10_000)
	for i := range stored {
		stored[i] = key(i)
	}
	db := bucketDB(b, itemsFillPercent, stored, func(string) []byte { return make([]byte, 300) })
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = key(2500 + i)
	}
	for _, asc := range []bool{false, true} {
		b.Run(fmt.Sprintf("ascending=%v", asc), func(b *testing.B) {
			for b.Loop() {
				require.NoError(b, db.View(func(tx *bolt.Tx) error {
					c := &coll{ascending: asc}
					cur := tx.Bucket([]byte("b")).Cursor()
					for _, k := range keys {
						if c.lookup(cur, k) == nil {
							b.Fatal("missing", k)
						}
					}
					return nil
				}))
			}
		})
	}
}
