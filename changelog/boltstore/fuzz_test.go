package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/internal/fuzzseed"
)

// FuzzDecodeEntry: any stored bytes decode to an entry or ErrCorrupt, and a
// decoded entry encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string, v []byte) {
		var l Log
		e, err := l.decodeEntry(id, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: %v", err)
			}
			return
		}
		if e.ID != id {
			t.Fatalf("id %q, want %q", e.ID, id)
		}
		if got := encodeEntry(e); !bytes.Equal(got, v) {
			t.Fatalf("encode(decode(v)) = %x, want %x", got, v)
		}
	})
}

// errRollback ends a fuzz transaction without committing it.
var errRollback = errors.New("rollback")

// FuzzLogRecords stores arbitrary bytes as a log's head, one entry and
// one seq record, then reads and appends through the Log in the same
// (rolled back) transaction: every call returns a value or an error, and
// an error about stored bytes wraps ErrCorrupt.
func FuzzLogRecords(f *testing.F) {
	db, err := bolt.Open(filepath.Join(f.TempDir(), "log.db"), 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	f.Fuzz(func(t *testing.T, head, entry, seqID []byte, seq uint64) {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("coll"))
			if err != nil {
				return err
			}
			eb, _ := b.CreateBucket(entriesName)
			sb, _ := b.CreateBucket(seqName)
			if head != nil {
				if err := b.Put(headKey, head); err != nil {
					return err
				}
			}
			if err := eb.Put([]byte("x"), entry); err != nil {
				return err
			}
			if len(seqID) > 0 && len(seqID) <= bolt.MaxKeySize {
				if err := sb.Put(binary.BigEndian.AppendUint64(nil, seq), seqID); err != nil {
					return err
				}
			}
			corrupt := func(what string, err error) {
				if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, changelog.ErrSeqOrder) {
					t.Fatalf("%s: %v is not ErrCorrupt", what, err)
				}
			}
			l := New(b)
			_, err = l.Head()
			corrupt("head", err)
			_, _, err = l.Get("x")
			corrupt("get", err)
			err = l.Since(0, 0, func(changelog.Entry) error { return nil })
			corrupt("since", err)
			_, err = New(b).Append(changelog.Entry{ID: "x", Replica: "a/b"})
			corrupt("append", err)
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	})
}

func TestFuzzSeedsAreUpToDate(t *testing.T) {
	ok := encodeEntry(changelog.Entry{ID: "x", Seq: 3, HLC: 1 << 50, Replica: "alice/phone", Size: 5})
	tomb := encodeEntry(changelog.Entry{ID: "x", Seq: 1 << 40, Deleted: true})
	seq8 := binary.BigEndian.AppendUint64(nil, 3)
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{
		"FuzzDecodeEntry": {
			{Name: "entry", Args: []any{"x", ok}},
			{Name: "tombstone", Args: []any{"x", tomb}},
			{Name: "short", Args: []any{"x", ok[:entryFixed-1]}},
			{Name: "bad flags", Args: []any{"x", append(append([]byte{}, ok[:48]...), append([]byte{2}, ok[49:]...)...)}},
			{Name: "empty", Args: []any{"", []byte{}}},
		},
		"FuzzLogRecords": {
			{Name: "consistent", Args: []any{seq8, ok, []byte("x"), uint64(3)}},
			{Name: "no head", Args: []any{[]byte(nil), ok, []byte("x"), uint64(3)}},
			{Name: "short head", Args: []any{[]byte{1}, ok, []byte("x"), uint64(3)}},
			{Name: "short entry", Args: []any{seq8, []byte{1, 2, 3}, []byte("x"), uint64(3)}},
			{Name: "seq names a missing item", Args: []any{seq8, ok, []byte("y"), uint64(2)}},
		},
	})
}
