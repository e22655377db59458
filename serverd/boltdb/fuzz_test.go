package boltdb

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/fuzzseed"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// errRollback ends a fuzz transaction without committing it.
var errRollback = errors.New("rollback")

// FuzzRecords stores arbitrary bytes as a token record, an idempotency
// record (in place and in its own bucket) and a conflict record, then
// reads them through the Tx of the same (rolled back) transaction: every
// read returns a value or an error wrapping storage.ErrCorrupt, never a
// panic; a record that decodes re-encodes to what reads back the same.
func FuzzRecords(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "syncprint.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, token, batch, large, conflict []byte) {
		corrupt := func(what string, err error) {
			t.Helper()
			if err != nil && !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("%s: %v does not wrap storage.ErrCorrupt", what, err)
			}
		}
		err := s.db.Update(func(btx *bolt.Tx) error {
			h := storage.HashToken("fuzz")
			if err := btx.Bucket(bucketTokens).Put(h[:], token); err != nil {
				return err
			}
			bb := btx.Bucket(bucketBatches)
			k := batchKey("alice", "fuzz-batch-0000001")
			if err := bb.Bucket(batchKeys).Put(k, batch); err != nil {
				return err
			}
			if large != nil {
				lb, err := bb.Bucket(batchLarge).CreateBucket(k)
				if err != nil {
					return err
				}
				if err := lb.Put(largeValue, large); err != nil {
					return err
				}
			}
			if err := bb.Bucket(batchOrder).Put(binary.BigEndian.AppendUint64(u64(1), 1), k); err != nil {
				return err
			}
			ub, err := btx.Bucket(bucketData).CreateBucket([]byte("alice"))
			if err != nil {
				return err
			}
			recs, _ := ub.CreateBucket(bucketConfl)
			ids, _ := ub.CreateBucket(bucketConflIDs)
			if err := recs.Put(u64(1), conflict); err != nil {
				return err
			}
			if err := ids.Put([]byte("c1"), u64(1)); err != nil {
				return err
			}
			tx := &tx{tx: btx}
			tok, ok, err := tx.Token(h)
			corrupt("token", err)
			if ok {
				if err := tx.PutToken(h, tok); err != nil {
					t.Fatal(err)
				}
				if tok2, _, _ := tx.Token(h); tok2 != tok {
					t.Fatalf("token %+v re-reads as %+v", tok, tok2)
				}
			}
			b, ok, err := tx.Batch("alice", "fuzz-batch-0000001")
			corrupt("batch", err)
			if ok && binary.BigEndian.Uint64(batch) != b.CreatedMillis {
				t.Fatalf("batch created %d from %x", b.CreatedMillis, batch)
			}
			c, ok, err := tx.Conflict("alice", "c1")
			corrupt("conflict", err)
			if ok {
				w, err := protocol.Marshal(c.ToWire())
				if err != nil {
					t.Fatal(err)
				}
				c2, err := decodeConflict(w)
				if err != nil {
					t.Fatalf("re-encoded conflict does not decode: %v", err)
				}
				if c.Content == nil {
					c.Content = []byte{}
				}
				if !reflect.DeepEqual(c, c2) {
					t.Fatalf("conflict %+v re-reads as %+v", c, c2)
				}
			}
			corrupt("conflicts", tx.Conflicts("alice", "", func(storage.Conflict) error { return nil }))
			_, err = tx.PruneBatches(1<<63, 0, 10)
			corrupt("prune", err)
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	})
}

func TestFuzzSeedsAreUpToDate(t *testing.T) {
	tok := binary.BigEndian.AppendUint64(nil, 7)
	tok = append(append(append(tok, "alice"...), 0), "phone"...)
	batch := append(binary.BigEndian.AppendUint64(nil, 9), make([]byte, 32)...)
	id := "x"
	w, err := protocol.Marshal(storage.Conflict{
		ConflictID: "c1", Collection: "m", Reason: protocol.ReasonManual, ServerVersion: 2, Base: 1, CreatedMillis: 3,
		Entry:   changelog.Entry{ID: id, Fingerprint: fingerprint.Of(id, false, []byte("v")), HLC: 1 << 50, Replica: "alice/phone", Size: 1},
		Content: []byte("v"),
	}.ToWire())
	if err != nil {
		t.Fatal(err)
	}
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{
		"FuzzRecords": {
			{Name: "valid", Args: []any{tok, append(batch, 0x80), []byte(nil), w}},
			{Name: "large response", Args: []any{tok, batch, []byte{0x80}, w}},
			{Name: "short records", Args: []any{tok[:7], batch[:39], []byte(nil), w[:len(w)-1]}},
			{Name: "token without separator", Args: []any{tok[:13], batch, []byte(nil), []byte{0x80}}},
			{Name: "conflict with a short fp", Args: []any{tok, batch, []byte(nil), []byte{0x81, 0xa2, 'f', 'p', 0xc4, 1, 0}}},
		},
	})
}
