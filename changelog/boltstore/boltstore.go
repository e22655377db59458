// Package boltstore stores a [changelog.Log] in a bbolt bucket. It is the only
// package that imports bbolt for the change log.
//
// A Log is bound to one bucket of one transaction, chosen by the caller, so
// the log commits atomically with whatever else the caller writes in that
// transaction (content, cursors, idempotency records). Inside the bucket the
// log keeps two sub-buckets and one key:
//
//	"e"  item ID -> entry (fixed binary layout, see encodeEntry)
//	"s"  Seq (8 bytes big-endian) -> item ID, latest entries only
//	"h"  head Seq (8 bytes big-endian)
//
// The caller must not use these names for its own keys in the same bucket.
package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
)

var (
	entriesName = []byte("e")
	seqName     = []byte("s")
	headKey     = []byte("h")
)

// entryFixed is the length of an encoded entry without the replica ID:
// seq(8) fp(32) hlc(8) flags(1) size(4).
const entryFixed = 8 + fingerprint.Size + 8 + 1 + 4

// EntriesFillPercent is how full bbolt packs the pages of the entries
// bucket when it splits them (bbolt's default is 0.5).
const EntriesFillPercent = 0.9

// ErrCorrupt is returned when a stored entry cannot be decoded.
var ErrCorrupt = errors.New("boltstore: corrupt change log entry")

// Log is a changelog.Log stored in a bbolt bucket. It is valid only for the
// life of the bucket's transaction. Read-only transactions may read it.
//
// A Log remembers its sub-buckets and the head once it has read them, so
// within one transaction every write to a bucket must go through the same
// Log (reads through others are fine until the first write).
type Log struct {
	b      *bolt.Bucket
	eb, sb *bolt.Bucket
	// ec serves Get: a bbolt Get builds a cursor and grows its stack every
	// time, a Seek on a kept cursor reuses it.
	ec     *bolt.Cursor
	sc     *bolt.Cursor // on sb, for deletes
	head   changelog.Seq
	headOK bool
	// replica is the replica ID of the last entry decoded: runs of entries
	// by one device share one string instead of allocating one each.
	replica changelog.ReplicaID
}

var _ changelog.Log = (*Log)(nil)

// New returns the Log stored in bucket b.
func New(b *bolt.Bucket) *Log { return &Log{b: b} }

// Head implements changelog.Log.
func (l *Log) Head() (changelog.Seq, error) {
	if l.headOK {
		return l.head, nil
	}
	v := l.b.Get(headKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("read head: %w", ErrCorrupt)
	}
	l.head, l.headOK = changelog.Seq(binary.BigEndian.Uint64(v)), true
	return l.head, nil
}

// entry returns the stored value of an item, nil if there is none.
func (l *Log) entry(id string) []byte {
	if l.eb == nil {
		if l.eb = l.b.Bucket(entriesName); l.eb == nil {
			return nil
		}
	}
	if l.ec == nil {
		l.ec = l.eb.Cursor()
	}
	k, v := l.ec.Seek([]byte(id))
	if k == nil || string(k) != id {
		return nil
	}
	return v
}

// Get implements changelog.Log.
func (l *Log) Get(id string) (changelog.Entry, bool, error) {
	v := l.entry(id)
	if v == nil {
		return changelog.Entry{}, false, nil
	}
	e, err := l.decodeEntry(id, v)
	if err != nil {
		return changelog.Entry{}, false, fmt.Errorf("get %q: %w", id, err)
	}
	return e, true, nil
}

// Append implements changelog.Log.
func (l *Log) Append(e changelog.Entry) (changelog.Seq, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	head, err := l.Head()
	if err != nil {
		return 0, err
	}
	if e.Seq == 0 {
		e.Seq = head + 1
	} else if e.Seq <= head {
		return 0, changelog.ErrSeqOrder
	}
	if l.eb == nil || l.sb == nil {
		if l.eb, err = l.b.CreateBucketIfNotExists(entriesName); err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
		if l.sb, err = l.b.CreateBucketIfNotExists(seqName); err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
		l.ec, l.sc = nil, nil
		// Seq keys only ever grow, so pages can be packed full.
		l.sb.FillPercent = 0.95
		// Entries come in runs of neighbouring IDs more often than not
		// (a client uploads in ID order): pack pages nearly full, so a
		// commit writes far fewer of them.
		l.eb.FillPercent = EntriesFillPercent
	}
	if old := l.entry(e.ID); old != nil {
		if len(old) < entryFixed {
			return 0, fmt.Errorf("append %q: %w", e.ID, ErrCorrupt)
		}
		// Delete through a kept cursor: Bucket.Delete builds a new one.
		if l.sc == nil {
			l.sc = l.sb.Cursor()
		}
		if k, _ := l.sc.Seek(old[:8]); k != nil && bytes.Equal(k, old[:8]) {
			if err := l.sc.Delete(); err != nil {
				return 0, fmt.Errorf("append: %w", err)
			}
		}
	}
	key := []byte(e.ID)
	seqKey := binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(e.Seq))
	if err := l.eb.Put(key, encodeEntry(e)); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	if err := l.sb.Put(seqKey, key); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	if err := l.b.Put(headKey, seqKey); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	l.head, l.headOK = e.Seq, true
	return e.Seq, nil
}

// Since implements changelog.Log.
func (l *Log) Since(after changelog.Seq, limit int, fn func(changelog.Entry) error) error {
	sb := l.b.Bucket(seqName)
	if sb == nil || l.b.Bucket(entriesName) == nil {
		return nil
	}
	var start [8]byte
	binary.BigEndian.PutUint64(start[:], uint64(after)+1)
	c := sb.Cursor()
	n := 0
	for k, id := c.Seek(start[:]); k != nil; k, id = c.Next() {
		if limit > 0 && n >= limit {
			return nil
		}
		sid := string(id)
		v := l.entry(sid)
		if v == nil {
			return fmt.Errorf("since: seq %d names missing item %q: %w", binary.BigEndian.Uint64(k), id, ErrCorrupt)
		}
		e, err := l.decodeEntry(sid, v)
		if err != nil {
			return fmt.Errorf("since: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
		n++
	}
	return nil
}

// encodeEntry lays out an entry as seq(8) fp(32) hlc(8) flags(1) size(4)
// replica(rest). The ID is the key and is not repeated.
func encodeEntry(e changelog.Entry) []byte {
	b := make([]byte, entryFixed, entryFixed+len(e.Replica))
	binary.BigEndian.PutUint64(b[0:8], uint64(e.Seq))
	copy(b[8:40], e.Fingerprint[:])
	binary.BigEndian.PutUint64(b[40:48], uint64(e.HLC))
	if e.Deleted {
		b[48] = 1
	}
	binary.BigEndian.PutUint32(b[49:53], e.Size)
	return append(b, e.Replica...)
}

func (l *Log) decodeEntry(id string, v []byte) (changelog.Entry, error) {
	if len(v) < entryFixed || v[48] > 1 {
		return changelog.Entry{}, ErrCorrupt
	}
	if string(v[entryFixed:]) != string(l.replica) {
		l.replica = changelog.ReplicaID(v[entryFixed:])
	}
	e := changelog.Entry{
		ID:      id,
		Seq:     changelog.Seq(binary.BigEndian.Uint64(v[0:8])),
		HLC:     changelog.HLC(binary.BigEndian.Uint64(v[40:48])),
		Deleted: v[48] == 1,
		Size:    binary.BigEndian.Uint32(v[49:53]),
		Replica: l.replica,
	}
	copy(e.Fingerprint[:], v[8:40])
	return e, nil
}
