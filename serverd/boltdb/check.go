package boltdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/changelog/boltstore"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd/storage"
)

// maxCheckProblems bounds how many problems Check reports.
const maxCheckProblems = 20

// Check verifies the store file at path, which no process may have open
// for writing (it waits DefaultLockTimeout for the lock, then fails with
// storage.ErrLocked): bbolt's own
// page-level check (tx.Check), then the invariants the server relies on:
//
//   - every collection's change log agrees with itself: each item's entry
//     is listed once under its version, no version is above the head;
//   - every live item's content is stored and hashes to its fingerprint
//     (a tombstone's fingerprint is that of a tombstone, with no content);
//     no content is stored for an item the log does not hold;
//   - conflict records and their ID index name each other;
//   - the idempotency records, their age index and their count agree, and
//     a response kept apart belongs to a record.
//
// It returns nil or an error wrapping storage.ErrCorrupt that lists the
// first problems found. Check is what crash tests run after killing a
// server; it reads the whole file.
func Check(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("check %s: %w", path, storage.ErrLocked)
		}
		return fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < maxCheckProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			report("bbolt: %v", err)
		}
		if len(problems) > 0 {
			return nil // the pages are broken: the rest would only echo it
		}
		for _, name := range [][]byte{bucketMeta, bucketUsers, bucketTokens, bucketData, bucketBatches} {
			if tx.Bucket(name) == nil {
				report("bucket %q is missing", name)
			}
		}
		if len(problems) > 0 {
			return nil
		}
		checkTokens(tx, report)
		if err := tx.Bucket(bucketData).ForEachBucket(func(user []byte) error {
			return checkUser(tx.Bucket(bucketData).Bucket(user), string(user), report)
		}); err != nil {
			return err
		}
		checkBatches(tx.Bucket(bucketBatches), report)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if len(problems) > 0 {
		msg := problems[0]
		for _, p := range problems[1:] {
			msg += "; " + p
		}
		return fmt.Errorf("check %s: %w: %s", path, storage.ErrCorrupt, msg)
	}
	return nil
}

func checkTokens(tx *bolt.Tx, report func(string, ...any)) {
	users := tx.Bucket(bucketUsers)
	_ = tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(v[min(len(v), 8):], 0)
		if len(k) != 32 || len(v) < 8 || i < 0 {
			report("token record %x is malformed", k)
			return nil
		}
		if user := v[8 : 8+i]; users.Get(user) == nil {
			report("token %x names unknown user %q", k[:4], user)
		}
		return nil
	})
}

func checkUser(ub *bolt.Bucket, user string, report func(string, ...any)) error {
	if colls := ub.Bucket(bucketColls); colls != nil {
		if err := colls.ForEachBucket(func(name []byte) error {
			checkCollection(colls.Bucket(name), user+"/"+string(name), report)
			return nil
		}); err != nil {
			return err
		}
	}
	recs, ids := ub.Bucket(bucketConfl), ub.Bucket(bucketConflIDs)
	if (recs == nil) != (ids == nil) {
		report("%s: conflict records and their index exist apart", user)
		return nil
	}
	if recs == nil {
		return nil
	}
	n := 0
	_ = recs.ForEach(func(seq, v []byte) error {
		n++
		c, err := decodeConflict(v)
		if err != nil {
			report("%s: conflict %x: %v", user, seq, err)
			return nil
		}
		if got := ids.Get([]byte(c.ConflictID)); !bytes.Equal(got, seq) {
			report("%s: conflict %q is at %x, its index says %x", user, c.ConflictID, seq, got)
		}
		return nil
	})
	if m := ids.Stats().KeyN; m != n {
		report("%s: %d conflict records, %d index entries", user, n, m)
	}
	return nil
}

func checkCollection(cb *bolt.Bucket, name string, report func(string, ...any)) {
	log := boltstore.New(cb)
	head, err := log.Head()
	if err != nil {
		report("%s: %v", name, err)
		return
	}
	// Every entry listed by version (the "s" index) exists and is unique.
	listed := map[string]bool{}
	if err := log.Since(0, 0, func(e changelog.Entry) error {
		if listed[e.ID] {
			report("%s: item %q listed twice", name, e.ID)
		}
		listed[e.ID] = true
		if e.Seq == 0 || e.Seq > head {
			report("%s: item %q has version %d, head is %d", name, e.ID, e.Seq, head)
		}
		return nil
	}); err != nil {
		report("%s: %v", name, err)
		return
	}
	content := cb.Bucket(bucketContent)
	entries := cb.Bucket([]byte("e"))
	if entries == nil {
		if head != 0 || len(listed) > 0 {
			report("%s: head %d but no entries", name, head)
		}
		return
	}
	_ = entries.ForEach(func(k, _ []byte) error {
		id := string(k)
		e, ok, err := log.Get(id)
		if err != nil || !ok {
			report("%s: item %q: %v", name, id, err)
			return nil
		}
		if !listed[id] {
			report("%s: item %q (version %d) is not listed by version", name, id, e.Seq)
		}
		var c []byte
		if content != nil {
			c = content.Get(k)
		}
		switch {
		case e.Deleted && c != nil:
			report("%s: tombstone %q has content", name, id)
		case int(e.Size) != len(c):
			report("%s: item %q has %d bytes of content, its entry says %d", name, id, len(c), e.Size)
		case fingerprint.Of(id, e.Deleted, c) != e.Fingerprint:
			report("%s: item %q: content does not match its fingerprint", name, id)
		}
		return nil
	})
	if n := entries.Stats().KeyN; n != len(listed) {
		report("%s: %d entries, %d listed by version", name, n, len(listed))
	}
	if content != nil {
		_ = content.ForEach(func(k, _ []byte) error {
			if entries.Get(k) == nil {
				report("%s: content for unknown item %q", name, k)
			}
			return nil
		})
	}
}

func checkBatches(bb *bolt.Bucket, report func(string, ...any)) {
	keys, order, large := bb.Bucket(batchKeys), bb.Bucket(batchOrder), bb.Bucket(batchLarge)
	if keys == nil || order == nil {
		report("batches: buckets missing")
		return
	}
	n := 0
	_ = keys.ForEach(func(k, v []byte) error {
		n++
		if len(v) < 40 {
			report("batch %q: record of %d bytes", k, len(v))
			return nil
		}
		return nil
	})
	ordered := map[string]bool{}
	_ = order.ForEach(func(k, v []byte) error {
		if len(k) != 16 {
			report("batch order key %x malformed", k)
		}
		if keys.Get(v) == nil {
			report("batch order %x names missing record %q", k, v)
		}
		if ordered[string(v)] {
			report("batch %q ordered twice", v)
		}
		ordered[string(v)] = true
		return nil
	})
	if len(ordered) != n {
		report("batches: %d records, %d in the age index", n, len(ordered))
	}
	if c := bb.Get(batchCount); c != nil && (len(c) != 8 || binary.BigEndian.Uint64(c) != uint64(n)) {
		report("batches: count says %x, %d records", c, n)
	} else if c == nil && n != 0 {
		report("batches: no count, %d records", n)
	}
	if large != nil {
		_ = large.ForEachBucket(func(k []byte) error {
			if v := keys.Get(k); v == nil || len(v) != 40 {
				report("batch %q: response kept apart for no record", k)
			}
			return nil
		})
	}
}
