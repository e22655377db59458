package clientd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// localAuthor authors local edits made before the device learnt its
// replica ID from the server.
const localAuthor changelog.ReplicaID = "local"

// History sources.
const (
	SourceLocal  = "local"
	SourceRemote = "remote"
)

// Client is one device's replica: a local store and its sync machinery.
// All methods are safe for concurrent use.
type Client struct {
	cfg   Config
	db    *bolt.DB
	sent  *sentLog // exchanges sent and not yet settled
	clock *changelog.Clock
	hc    *http.Client
	// enc and dec handle content codings; nil with DisableCompression.
	enc *coding.Encoder
	dec *coding.Decoder

	// closeCtx is cancelled by Close; it ends the loop, the watch and any
	// Sync in flight.
	closeCtx    context.Context
	closeCancel context.CancelFunc
	closed      atomic.Bool
	wg          sync.WaitGroup // background goroutines started by Start

	// syncMu serialises sync sessions and resolutions: one network
	// conversation that writes local state at a time.
	syncMu sync.Mutex

	// Wake-up channels of the background loop (buffered 1, never closed).
	writeCh, triggerCh, watchCh chan struct{}

	// planned, when set (tests only, before the first session), runs in a
	// session after each round is planned and before any of its steps is
	// applied.
	planned func(collection string, round int)
	// segment is protocol.SegmentEntries; tests make it small.
	segment int

	// failCommit, when set (tests only, before any write), is called at
	// the end of every local write transaction; an error rolls it back as
	// a failed disk write or fsync would, and update returns it.
	failCommit func() error

	// mu guards everything below.
	mu       sync.Mutex
	started  bool
	syncing  bool
	lastSync time.Time
	lastErr  string
	// due holds a session's outcome for the store (endSync): written by
	// the next write transaction, whatever it is, or by Close, so that a
	// session does not end with a durable commit of its own.
	due         dueMeta
	lastReport  Report
	nextAttempt time.Time
	info        *protocol.Info // from the last successful GET /v1/info
	// tagged is the last full Info with a tag (SP-3-16), as the store
	// holds it: its tag goes with the next GET /v1/info.
	tagged *protocol.Info
	// news is a collection the server's watch reported changed since the
	// last session began: the next session asks for its first page
	// beside Info whenever it starts (pullEarly).
	news     string
	replica  changelog.ReplicaID
	maxItem  int
	syncDone chan struct{} // closed and replaced after every sync session
	subs     map[int]chan Event
	nextSub  int
}

// ItemInfo describes a live item.
type ItemInfo struct {
	ID          string                  `json:"id"`
	Size        int                     `json:"size"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	HLC         changelog.HLC           `json:"hlc"`
	// Author is the replica that made the current version.
	Author string `json:"author"`
	// Pending is true when the item has a local change not yet uploaded.
	Pending bool `json:"pending"`
	// Version is the server version the item's content derives from (0:
	// never synced).
	Version uint64 `json:"version"`
}

// HistoryEntry is one change the store recorded, local or downloaded.
type HistoryEntry struct {
	Time        time.Time               `json:"time"`
	Collection  string                  `json:"collection"`
	ID          string                  `json:"id"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	Deleted     bool                    `json:"deleted"`
	// Author is the replica that made the change.
	Author string `json:"author"`
	// Source is SourceLocal or SourceRemote.
	Source string        `json:"source"`
	HLC    changelog.HLC `json:"hlc"`
}

// Status is a snapshot of the client's sync state.
type Status struct {
	// Pending counts items with local changes not yet uploaded.
	Pending int `json:"pending"`
	// LastSync is when the last successful sync ended (zero: never). The
	// store records it with its next write, or at Close: after a crash, a
	// new process may show an earlier one.
	LastSync time.Time `json:"last_sync,omitzero"`
	// LastError is the error of the last sync ("" after a success).
	LastError string `json:"last_error"`
	// Conflicts counts local and cached server conflict records.
	Conflicts int `json:"conflicts"`
	// Syncing is true while a sync session runs.
	Syncing bool `json:"syncing"`
	// NextAttempt is when the background loop syncs next (zero: not
	// scheduled; the loop waits for a write, Trigger or notification).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Replica is this device's replica ID ("" before the first contact).
	Replica string `json:"replica"`
	// LastReport is the report of the last session (successful or not),
	// including items it could not upload (TooLarge, Corrupt).
	LastReport Report `json:"last_report"`
}

// Event tells a subscriber that a sync changed local data.
type Event struct {
	// Collections lists the collections whose local items changed.
	Collections []string `json:"collections"`
	// Downloaded counts items stored from the server.
	Downloaded int `json:"downloaded"`
	// Conflicts counts new conflicts of the session.
	Conflicts int `json:"conflicts"`
}

// Open opens (creating if needed) the store at path. With an empty
// ServerURL or Token the client works offline-only.
func Open(path string, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("open %s: config: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: storeMmapSize()})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	c := &Client{
		cfg:       cfg,
		db:        db,
		sent:      newSentLog(path),
		clock:     changelog.NewClock(cfg.Now),
		hc:        cfg.HTTPClient,
		writeCh:   make(chan struct{}, 1),
		triggerCh: make(chan struct{}, 1),
		watchCh:   make(chan struct{}, 1),
		syncDone:  make(chan struct{}),
		subs:      map[int]chan Event{},
		maxItem:   protocol.DefaultMaxItemBytes,
		segment:   protocol.SegmentEntries,
	}
	if !cfg.DisableCompression {
		if c.enc, c.dec, err = sharedCoders(); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	c.closeCtx, c.closeCancel = context.WithCancel(context.Background())
	// A store made before holds every bucket and is only read: no commit,
	// no fsync. A new one gets its buckets, and is read, in one write
	// transaction.
	buckets := [][]byte{bktMeta, bktColls, bktLocalConf, bktServerConf, bktHist}
	load := func(tx *bolt.Tx) error {
		m := tx.Bucket(bktMeta)
		c.clock.Observe(changelog.HLC(getU64(m, keyHLC)))
		c.replica = changelog.ReplicaID(m.Get(keyReplica))
		if ms := getU64(m, keyLastSync); ms > 0 {
			c.lastSync = time.UnixMilli(int64(ms))
		}
		if n := getU64(m, keyMaxItem); n > 0 {
			c.maxItem = int(n)
		}
		if v := m.Get(keyInfo); v != nil {
			var info protocol.Info
			if protocol.Unmarshal(v, &info) == nil && protocol.ValidInfoTag(info.Tag) && !info.IsShort() {
				c.tagged = &info // an undecodable one is only forgotten: the next Info is full
			}
		}
		return nil
	}
	made := true
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if tx.Bucket(name) == nil {
				made = false
				return nil
			}
		}
		return load(tx)
	})
	if err == nil && !made {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range buckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return load(tx)
		})
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: init store: %w", path, err)
	}
	return c, nil
}

// coders are the body encoder and decoder that every Client of a process
// shares (both are safe for concurrent use). Their tables are most of an
// idle client's memory, about 0.5 MB each, and a process that runs many
// clients keeps one set warm in the cache instead of one per client: with
// 200 clients in one process, compressing their small requests was a tenth
// of their CPU, each from a cold 256 KiB match table. They live as long as
// the process; Close leaves them.
var coders struct {
	once sync.Once
	enc  *coding.Encoder
	dec  *coding.Decoder
	err  error
}

func sharedCoders() (*coding.Encoder, *coding.Decoder, error) {
	coders.once.Do(func() {
		if coders.enc, coders.err = coding.NewEncoder(); coders.err == nil {
			coders.dec, coders.err = coding.NewDecoder(maxResponseBytes)
		}
	})
	return coders.enc, coders.dec, coders.err
}

// Close stops the background loop, waits for it and for a sync in flight
// to end (it is cancelled), and closes the store. It is safe to call more
// than once; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock() // orders Close after a concurrent Start's wg.Add
	first := c.closed.CompareAndSwap(false, true)
	c.mu.Unlock()
	if !first {
		return ErrClosed
	}
	c.closeCancel()
	c.wg.Wait()
	c.syncMu.Lock() // wait for a foreground Sync or Resolve to notice
	defer c.syncMu.Unlock()
	c.mu.Lock()
	for id, ch := range c.subs {
		close(ch)
		delete(c.subs, id)
	}
	due := c.due.gen != c.due.saved
	c.mu.Unlock()
	var saveErr error
	if due {
		// The outcome of the last sessions (endSync), unless a write
		// since carried it.
		if err := c.writeTx(func(*bolt.Tx) error { return nil }); err != nil {
			saveErr = fmt.Errorf("close store: record the last sync: %w", err)
		}
	}
	if err := c.sent.close(); err != nil && saveErr == nil {
		saveErr = fmt.Errorf("close sent log: %w", err)
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return saveErr
}

// view and update run fn in a read or write transaction, mapping a closed
// store to ErrClosed.
func (c *Client) view(fn func(tx *bolt.Tx) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return mapClosed(c.db.View(fn))
}

func (c *Client) update(fn func(tx *bolt.Tx) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.writeTx(fn)
}

// dueMeta is what the store is owed of the sessions that ended since the
// last write transaction: the end of the last successful one (Status's
// LastSync) and the clock the sessions observed. Neither needs a commit of
// its own: LastSync is for display, and the clock's stored value must
// only bound the stamps of stored changes (SP-5-4), which the
// transactions that store them persist. A crash loses at most the
// display of the last sessions' end.
//
// It also says when the store lags the Info the client uses (a new store,
// a new tag, other limits): c.replica, c.maxItem and c.tagged then hold
// what the store will hold. A session stores them with its first write,
// which is also the first that can depend on them (an upload's author is
// the replica Info names), instead of in a commit of its own before it
// goes on, or before its first exchange with uploads leaves
// (storeDueInfo), whichever comes first. A process that ends without
// writing loses them, and the next session fetches the Info again in
// full.
type dueMeta struct {
	gen      uint64 // counts what became due (ended sessions, Infos); 0: nothing ever was
	saved    uint64 // gen when last written
	lastSync uint64 // Unix milliseconds; 0: no session of this process succeeded
	infoAt   uint64 // gen when the store last fell behind the Info; 0: it holds it
}

// storeDueInfo stores the Info no write has carried yet (dueMeta), in a
// transaction of its own. An exchange with uploads calls it before it
// leaves: the sent log's record of the exchange names the store's replica,
// and the next process keeps the record (keepSent) only if the store holds
// that replica, so a kill before the answer is committed would otherwise
// have the uploads planned anew instead of sent again.
func (c *Client) storeDueInfo() error {
	c.mu.Lock()
	due := c.due.infoAt != 0
	c.mu.Unlock()
	if !due {
		return nil
	}
	if err := c.update(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("store info: %w", err)
	}
	return nil
}

// putInfo writes the replica, the item size limit and the held full Info
// (SP-3-16; none: the stored one is dropped) into the meta bucket m.
func putInfo(m *bolt.Bucket, replica changelog.ReplicaID, maxItem int, held *protocol.Info) error {
	if err := m.Put(keyReplica, []byte(replica)); err != nil {
		return err
	}
	if err := m.Put(keyMaxItem, u64(uint64(maxItem))); err != nil {
		return err
	}
	if held == nil {
		return m.Delete(keyInfo)
	}
	v, err := protocol.Marshal(held)
	if err != nil {
		return err
	}
	return m.Put(keyInfo, v)
}

// writeTx runs fn in a write transaction and adds what is due (dueMeta:
// the end of sessions, a new Info) to it.
func (c *Client) writeTx(fn func(tx *bolt.Tx) error) error {
	var gen, infoAt uint64
	inner := fn
	fn = func(tx *bolt.Tx) error {
		if err := inner(tx); err != nil {
			return err
		}
		c.mu.Lock()
		d, replica, maxItem, held := c.due, c.replica, c.maxItem, c.tagged
		c.mu.Unlock()
		if d.gen == d.saved {
			return nil
		}
		m := tx.Bucket(bktMeta)
		if d.lastSync != 0 {
			if err := m.Put(keyLastSync, u64(d.lastSync)); err != nil {
				return err
			}
		}
		if d.infoAt != 0 {
			if err := putInfo(m, replica, maxItem, held); err != nil {
				return err
			}
		}
		gen, infoAt = d.gen, d.infoAt
		return c.persistClock(tx)
	}
	if c.failCommit != nil {
		inner := fn
		fn = func(tx *bolt.Tx) error {
			if err := inner(tx); err != nil {
				return err
			}
			return c.failCommit()
		}
	}
	if err := c.db.Update(fn); err != nil {
		return mapClosed(err)
	}
	if gen != 0 {
		c.mu.Lock()
		c.due.saved = max(c.due.saved, gen)
		if c.due.infoAt == infoAt {
			c.due.infoAt = 0 // not a newer Info that came meanwhile
		}
		c.mu.Unlock()
	}
	return nil
}

func mapClosed(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// self returns the author of local edits.
func (c *Client) self() changelog.ReplicaID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replica == "" {
		return localAuthor
	}
	return c.replica
}

// edit is one local write.
type edit struct {
	id      string
	content []byte
	deleted bool
}

// Put stores content as the item's new version. It validates the names and
// the size and never touches the network; the next sync uploads it.
func (c *Client) Put(coll, id string, content []byte) error {
	return c.write(coll, []edit{{id: id, content: content}})
}

// PutMany stores several items of one collection in one transaction: all
// or none.
func (c *Client) PutMany(coll string, items map[string][]byte) error {
	edits := make([]edit, 0, len(items))
	for id, content := range items {
		edits = append(edits, edit{id: id, content: content})
	}
	slices.SortFunc(edits, func(a, b edit) int { return cmpString(a.id, b.id) })
	return c.write(coll, edits)
}

// Delete marks the item deleted (a tombstone that the next sync uploads).
// It returns ErrNotFound if the item does not exist or is deleted.
func (c *Client) Delete(coll, id string) error {
	return c.write(coll, []edit{{id: id, deleted: true}})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Client) validateEdit(coll string, e edit) error {
	if err := protocol.ValidateID(e.id); err != nil {
		return err
	}
	c.mu.Lock()
	limit := c.maxItem
	c.mu.Unlock()
	if len(e.content) > limit {
		return protocol.Errorf(protocol.CodeItemTooLarge, "item %s/%q is %d bytes, the limit is %d", coll, e.id, len(e.content), limit).WithIDs(e.id)
	}
	return nil
}

func (c *Client) write(collName string, edits []edit) error {
	if err := protocol.ValidateCollection(collName); err != nil {
		return err
	}
	for _, e := range edits {
		if err := c.validateEdit(collName, e); err != nil {
			return err
		}
	}
	author := c.self()
	changed := false
	err := c.update(func(tx *bolt.Tx) error {
		var err error
		changed, err = c.applyEdits(tx, collName, edits, author)
		return err
	})
	if err != nil {
		return err
	}
	if changed {
		notify(c.writeCh)
	}
	return nil
}

// applyEdits writes local edits inside tx and marks them pending. An edit
// that leaves the content as it is changes nothing.
func (c *Client) applyEdits(tx *bolt.Tx, collName string, edits []edit, author changelog.ReplicaID) (changed bool, err error) {
	col, err := openColl(tx, collName, true)
	if err != nil {
		return false, err
	}
	h := newHistory(tx, c.cfg.HistoryLimit)
	for _, e := range edits {
		prev, err := col.get(e.id, false)
		if err != nil {
			return false, err
		}
		if e.deleted && (prev == nil || prev.Deleted) {
			return false, fmt.Errorf("delete %s/%q: %w", collName, e.id, ErrNotFound)
		}
		fp := fingerprint.Of(e.id, e.deleted, e.content)
		if prev != nil && prev.FP == fp {
			continue // same content: nothing to sync
		}
		n, err := nextCounter(tx, keyEdit)
		if err != nil {
			return false, err
		}
		content := e.content
		if content == nil {
			content = []byte{}
		}
		r := &record{Content: content, Deleted: e.deleted, FP: fp, HLC: c.clock.Now(), Author: author, Edit: n}
		if prev != nil {
			r.Base, r.Seen = prev.Base, prev.Seen
		}
		if err := col.put(e.id, r); err != nil {
			return false, err
		}
		if err := col.setPending(e.id, n); err != nil {
			return false, err
		}
		if err := h.add(c.cfg.Now(), collName, e.id, r, SourceLocal); err != nil {
			return false, err
		}
		changed = true
	}
	if !changed {
		return false, nil
	}
	if err := h.flush(); err != nil {
		return false, err
	}
	return true, c.persistClock(tx)
}

// persistClock stores the clock's current timestamp so that it never goes
// backwards across restarts. Called inside every write transaction that
// issued or observed a timestamp.
func (c *Client) persistClock(tx *bolt.Tx) error {
	// Now() is one tick past the last issued or observed timestamp; storing
	// it costs one logical tick and keeps the stored value an upper bound.
	return tx.Bucket(bktMeta).Put(keyHLC, u64(uint64(c.clock.Now())))
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Get returns the content of a live item; ErrNotFound if it is missing or
// deleted. The returned slice belongs to the caller.
func (c *Client) Get(collName, id string) ([]byte, error) {
	var out []byte
	err := c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, collName, false)
		if err != nil {
			return err
		}
		if col == nil {
			return ErrNotFound
		}
		r, err := col.get(id, true)
		if err != nil {
			return err
		}
		if r == nil || r.Deleted {
			return ErrNotFound
		}
		out = r.Content
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get %s/%q: %w", collName, id, ErrNotFound)
	}
	return out, err
}

// Stat describes one live item without reading its content; ErrNotFound
// if it is missing or deleted.
func (c *Client) Stat(collName, id string) (ItemInfo, error) {
	var out ItemInfo
	err := c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, collName, false)
		if err != nil {
			return err
		}
		if col == nil {
			return ErrNotFound
		}
		r, err := col.get(id, false)
		if err != nil {
			return err
		}
		if r == nil || r.Deleted {
			return ErrNotFound
		}
		out = itemInfo(col, id, r)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return ItemInfo{}, fmt.Errorf("stat %s/%q: %w", collName, id, ErrNotFound)
	}
	return out, err
}

func itemInfo(col *coll, id string, r *record) ItemInfo {
	return ItemInfo{
		ID: id, Size: r.Size, Fingerprint: r.FP, HLC: r.HLC, Author: string(r.Author),
		Pending: col.isPending(id), Version: uint64(r.Base),
	}
}

// List returns the live items of a collection sorted by ID (byte-wise).
// A collection the store does not hold is empty.
func (c *Client) List(collName string) ([]ItemInfo, error) {
	var out []ItemInfo
	err := c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, collName, false)
		if err != nil || col == nil {
			return err
		}
		return col.items.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v, false)
			if err != nil {
				return fmt.Errorf("list %s: item %q: %w", collName, k, err)
			}
			if r.Deleted {
				return nil
			}
			out = append(out, itemInfo(col, string(k), r))
			return nil
		})
	})
	return out, err
}

// Collections returns the local collections holding at least one live
// item, sorted by name.
func (c *Client) Collections() ([]string, error) {
	var out []string
	err := c.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktColls).ForEachBucket(func(name []byte) error {
			col, err := openColl(tx, string(name), false)
			if err != nil {
				return err
			}
			cur := col.items.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				if live(v) {
					out = append(out, string(name))
					break
				}
			}
			return nil
		})
	})
	return out, err
}

// allCollections returns every local collection, including those holding
// only tombstones or pending deletes.
func (c *Client) allCollections() ([]string, error) {
	var out []string
	err := c.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktColls).ForEachBucket(func(name []byte) error {
			out = append(out, string(name))
			return nil
		})
	})
	return out, err
}

// Status returns a snapshot of the sync state.
func (c *Client) Status() (Status, error) {
	var st Status
	err := c.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bktColls).ForEachBucket(func(name []byte) error {
			if p := tx.Bucket(bktColls).Bucket(name).Bucket(bktPending); p != nil {
				st.Pending += p.Stats().KeyN
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.Conflicts = tx.Bucket(bktLocalConf).Stats().KeyN + tx.Bucket(bktServerConf).Stats().KeyN
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.LastSync, st.LastError, st.Syncing, st.NextAttempt = c.lastSync, c.lastErr, c.syncing, c.nextAttempt
	st.Replica = string(c.replica)
	st.LastReport = c.lastReport
	return st, nil
}

// Subscribe returns a channel that receives an Event after every sync that
// changed local data, and a function that ends the subscription. Events are
// hints: when the channel's buffer is full an event is dropped, so read the
// current state after receiving one. The channel is closed by cancel and by
// Close.
func (c *Client) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 16)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		close(ch)
		return ch, func() {}
	}
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[id]; ok {
			delete(c.subs, id)
			close(ch)
		}
	}
}

func (c *Client) publish(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// History returns up to limit history entries, newest first, of one item
// (coll and id set), one collection (id ""), or everything (both ""). limit
// <= 0 means all kept entries.
func (c *Client) History(collName, id string, limit int) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := c.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bktHist).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var h historyRecord
			if err := unmarshal(v, &h); err != nil {
				return fmt.Errorf("history: %w", err)
			}
			if collName != "" && h.Collection != collName || id != "" && h.ID != id {
				continue
			}
			fp, _ := fingerprint.FromBytes(h.FP)
			out = append(out, HistoryEntry{
				Time: time.UnixMilli(int64(h.TimeMS)), Collection: h.Collection, ID: h.ID, Fingerprint: fp,
				Deleted: h.Deleted, Author: h.Author, Source: h.Source, HLC: changelog.HLC(h.HLC),
			})
			if limit > 0 && len(out) >= limit {
				return nil
			}
		}
		return nil
	})
	return out, err
}

// history appends entries to the bounded history inside one transaction.
type history struct {
	b           *bolt.Bucket
	cur         *bolt.Cursor // on b, for trimming; nil until needed
	slab        slab         // the values added
	meta        *bolt.Bucket
	limit       int
	first, next uint64
}

func newHistory(tx *bolt.Tx, limit int) *history {
	m := tx.Bucket(bktMeta)
	b := tx.Bucket(bktHist)
	// Keys only ever grow (and are cut from the front): pack pages full.
	b.FillPercent = 1
	return &history{b: b, meta: m, limit: limit, first: getU64(m, keyHistFirst), next: getU64(m, keyHistNext)}
}

func (h *history) add(now time.Time, coll, id string, r *record, source string) error {
	if h.limit < 0 {
		return nil
	}
	v := appendHistoryRecord(h.slab.alloc(96+len(coll)+len(id)+len(r.Author)), &historyRecord{
		TimeMS: uint64(max(now.UnixMilli(), 0)), Collection: coll, ID: id, FP: r.FP[:],
		Deleted: r.Deleted, Author: string(r.Author), Source: source, HLC: uint64(r.HLC),
	})
	var key [8]byte // Put copies the key
	binary.BigEndian.PutUint64(key[:], h.next)
	if err := h.b.Put(key[:], v); err != nil {
		return err
	}
	h.next++
	for h.next-h.first > uint64(h.limit) {
		// Delete through a kept cursor: Bucket.Delete builds a new one.
		if h.cur == nil {
			h.cur = h.b.Cursor()
		}
		key := u64(h.first)
		if k, _ := h.cur.Seek(key); k != nil && bytes.Equal(k, key) {
			if err := h.cur.Delete(); err != nil {
				return err
			}
		}
		h.first++
	}
	return nil
}

// flush stores the history bounds; call once before the transaction ends.
func (h *history) flush() error {
	if err := h.meta.Put(keyHistFirst, u64(h.first)); err != nil {
		return err
	}
	return h.meta.Put(keyHistNext, u64(h.next))
}
