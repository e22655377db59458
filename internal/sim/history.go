package sim

import (
	"context"
	"fmt"
	"slices"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// The recorded history, Jepsen style: what every client was told (its
// acknowledged writes) and what the server committed (every version and
// conflict record, through a wrapper of its store), checked after the run.

type itemKey struct{ coll, id string }

// write is a write a client acknowledged to its caller: Put, Delete or
// Resolve returned nil, so it is durable in the client's store.
type write struct {
	n          int
	client     string
	coll, id   string
	fp         fingerprint.Fingerprint
	deleted    bool
	resolution bool
	// prev is the client's current version of the item when it wrote:
	// the write supersedes it (hasPrev false: the client held none).
	prev    fingerprint.Fingerprint
	hasPrev bool
}

// version is a version of an item the server committed.
type version struct {
	txn     int
	coll    string
	entry   changelog.Entry // with the version and the effective HLC
	content []byte
	// from is the request that made it (nil: none known) and up its
	// upload of the item (the put of a resolution).
	from *delivery
	up   *protocol.Upload
}

// record is a server conflict record.
type record struct {
	txn, closedTxn int // closedTxn 0: open
	conflict       storage.Conflict
	from           *delivery
}

type history struct {
	writes []write
	// written holds every fingerprint a client wrote or tried to write
	// (acknowledged or not): the only ones that may appear anywhere.
	written  map[fingerprint.Fingerprint]bool
	versions []*version
	records  map[string]*record // by conflict ID
	txn      int
	// resolvedLocal holds the versions of local conflict-log entries that
	// a successful Resolve closed: the user chose, they may go.
	resolvedLocal map[itemKey][]fingerprint.Fingerprint
	// resolutions are the resolutions clients asked for that write.
	resolutions []*resolution
	// localEntries are the local conflict-log entries seen: those a
	// resolution closed, then those left at the end.
	localEntries []localEntry
}

type localEntry struct {
	item   itemKey
	reason string
}

func newHistory() history {
	return history{written: map[fingerprint.Fingerprint]bool{}, records: map[string]*record{}, resolvedLocal: map[itemKey][]fingerprint.Fingerprint{}}
}

func (h *history) addWrite(wr write) {
	wr.n = len(h.writes)
	h.writes = append(h.writes, wr)
}

// resolution is a resolution's write, recorded once it takes effect.
type resolution struct {
	write
	done bool
}

// took records a resolution's write (once).
func (h *history) took(r *resolution) {
	if !r.done {
		r.done = true
		h.addWrite(r.write)
	}
}

// resolvedBy returns the resolution a resolve request delivered by d
// wrote as v, nil if none is known.
func (h *history) resolvedBy(d *delivery, v *version) *resolution {
	for i := len(h.resolutions) - 1; i >= 0; i-- {
		r := h.resolutions[i]
		if r.client == d.client.name && r.coll == v.coll && r.id == v.entry.ID && r.fp == v.entry.Fingerprint {
			return r
		}
	}
	return nil
}

// event is one write of a server transaction, kept until it commits.
type event struct {
	coll    string
	entry   changelog.Entry
	content []byte
	put     *storage.Conflict // a new conflict record
	closed  string            // the ID of a deleted conflict record
}

// committed records the events of a committed server transaction.
func (w *world) committed(evs []event) {
	w.hist.txn++
	txn := w.hist.txn
	// Records closed one after the other are traced in a fixed order: a
	// client closes them in the order of their conflict IDs, which are
	// random, and the trace of a seed must not depend on them.
	var closed []string
	flush := func() {
		slices.Sort(closed)
		for _, line := range closed {
			w.tracef("%s", line)
		}
		closed = closed[:0]
	}
	defer flush()
	for _, ev := range evs {
		if ev.closed == "" {
			flush()
		}
		switch {
		case ev.put != nil:
			w.hist.records[ev.put.ConflictID] = &record{txn: txn, conflict: *ev.put, from: w.cur}
			w.tracef("  server record %s %s/%s %s %s", ev.put.Reason, ev.put.Collection, ev.put.Entry.ID, short(ev.put.Entry.Fingerprint), ev.put.Entry.Replica)
		case ev.closed != "":
			if r := w.hist.records[ev.closed]; r != nil && r.closedTxn == 0 {
				r.closedTxn = txn
				closed = append(closed, fmt.Sprintf("  server record closed %s/%s %s", r.conflict.Collection, r.conflict.Entry.ID, short(r.conflict.Entry.Fingerprint)))
			}
		default:
			v := &version{txn: txn, coll: ev.coll, entry: ev.entry, content: ev.content, from: w.cur}
			if w.cur != nil {
				v.up = w.cur.upload(ev.entry.ID)
			}
			w.hist.versions = append(w.hist.versions, v)
			w.heads[itemKey{ev.coll, ev.entry.ID}] = v
			if w.cur != nil && w.cur.resolve != nil {
				if r := w.hist.resolvedBy(w.cur, v); r != nil && !r.done {
					w.hist.took(r)
					w.tracef("  the resolution of %s took effect", w.cur.client.name)
				}
			}
			w.tracef("  server version %s/%s@%d %s hlc %d by %s", ev.coll, ev.entry.ID, ev.entry.Seq, short(ev.entry.Fingerprint), ev.entry.HLC, ev.entry.Replica)
		}
	}
}

// recStore wraps the server's store: it records the versions and conflict
// records of every transaction that commits.
type recStore struct {
	storage.Store
	w *world
}

func (s *recStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	var evs []event
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		evs = evs[:0]
		return fn(&recTx{Tx: tx, evs: &evs, mutant: s.w.cfg.mutant})
	})
	if err == nil && len(evs) > 0 {
		s.w.committed(evs)
	}
	return err
}

type recTx struct {
	storage.Tx
	evs    *[]event
	mutant string
}

func (t *recTx) Batch(user, batchID string) (storage.Batch, bool, error) {
	if t.mutant == "forget-batches" {
		return storage.Batch{}, false, nil
	}
	return t.Tx.Batch(user, batchID)
}

func (t *recTx) Collection(user, name string) (storage.Collection, error) {
	c, err := t.Tx.Collection(user, name)
	if err != nil {
		return nil, err
	}
	return &recColl{Collection: c, name: name, evs: t.evs}, nil
}

func (t *recTx) PutBatch(user, batchID string, b storage.Batch) error {
	if t.mutant == "forget-batches" {
		return nil
	}
	return t.Tx.PutBatch(user, batchID, b)
}

func (t *recTx) PutConflict(user string, c storage.Conflict) error {
	if t.mutant == "drop-records" {
		return nil
	}
	if err := t.Tx.PutConflict(user, c); err != nil {
		return err
	}
	c.Content = append([]byte(nil), c.Content...)
	*t.evs = append(*t.evs, event{put: &c})
	return nil
}

func (t *recTx) DeleteConflict(user, conflictID string) error {
	if err := t.Tx.DeleteConflict(user, conflictID); err != nil {
		return err
	}
	*t.evs = append(*t.evs, event{closed: conflictID})
	return nil
}

type recColl struct {
	storage.Collection
	name string
	evs  *[]event
}

func (c *recColl) Put(e changelog.Entry, content []byte) (changelog.Seq, error) {
	seq, err := c.Collection.Put(e, content)
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	*c.evs = append(*c.evs, event{coll: c.name, entry: e, content: append([]byte(nil), content...)})
	return seq, nil
}

// AppendContent keeps the backend's faster download path.
func (c *recColl) AppendContent(dst []byte, id string) ([]byte, error) {
	if a, ok := c.Collection.(storage.ContentAppender); ok {
		return a.AppendContent(dst, id)
	}
	content, err := c.Collection.Content(id)
	return append(dst, content...), err
}
