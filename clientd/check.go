package clientd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/syncprint/syncprint/fingerprint"
)

// ErrCorruptStore is returned by CheckStore when the store breaks an
// invariant.
var ErrCorruptStore = errors.New("clientd: store fails its consistency check")

// maxCheckProblems bounds how many problems CheckStore reports.
const maxCheckProblems = 20

// CheckStore verifies the store file at path, which no process may hold
// (it waits a second for the lock): bbolt's own page-level check
// (tx.Check), then the store's invariants: every item record decodes and
// its content hashes to its fingerprint, no version it saw is below the
// one it derives from, every pending mark names an item and no edit counter
// is ahead of the store's. It returns nil or an error wrapping
// ErrCorruptStore that lists the first problems. Crash tests run it after
// killing a client.
func CheckStore(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("check %s: store is in use", path)
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
			return nil
		}
		meta, colls := tx.Bucket(bktMeta), tx.Bucket(bktColls)
		if meta == nil || colls == nil {
			report("meta or colls bucket missing")
			return nil
		}
		edits := getU64(meta, keyEdit)
		return colls.ForEachBucket(func(name []byte) error {
			col, err := openColl(tx, string(name), false)
			if err != nil {
				report("%v", err)
				return nil
			}
			_ = col.items.ForEach(func(k, v []byte) error {
				r, err := decodeRecord(v, copyContent)
				switch {
				case err != nil:
					report("%s/%q: %v", name, k, err)
				case r.Deleted && len(r.Content) > 0:
					report("%s/%q: tombstone with content", name, k)
				case fingerprint.Of(string(k), r.Deleted, r.Content) != r.FP:
					report("%s/%q: content does not match its fingerprint", name, k)
				case r.Base > r.Seen:
					report("%s/%q: base %d above seen %d", name, k, r.Base, r.Seen)
				case r.Edit > edits:
					report("%s/%q: edit %d ahead of the store's %d", name, k, r.Edit, edits)
				}
				return nil
			})
			_ = col.pending.ForEach(func(k, v []byte) error {
				if col.items.Get(k) == nil {
					report("%s/%q: pending but not stored", name, k)
				}
				if len(v) != 8 || binary.BigEndian.Uint64(v) > edits {
					report("%s/%q: pending mark %x", name, k, v)
				}
				return nil
			})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if len(problems) > 0 {
		msg := problems[0]
		for _, p := range problems[1:] {
			msg += "; " + p
		}
		return fmt.Errorf("check %s: %w: %s", path, ErrCorruptStore, msg)
	}
	return nil
}
