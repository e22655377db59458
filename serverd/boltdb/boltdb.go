// Package boltdb is the bbolt storage backend of the Syncprint server: it
// implements [storage.Store] in one bbolt file. It is the only serverd
// package that imports bbolt.
//
// Layout (top-level buckets):
//
//	meta/                      key -> value (epoch, secret, clock, ...)
//	users/                     user name -> created ms (8 bytes BE)
//	tokens/                    SHA-256(token) -> created ms(8) user \x00 device
//	data/<user>/colls/<coll>/  a changelog/boltstore Log ("e", "s", "h")
//	                           plus "content"/ item ID -> content
//	data/<user>/conflicts/     seq(8) -> msgpack protocol.Conflict
//	data/<user>/conflict_ids/  conflict ID -> seq(8); the bucket's own sequence
//	                           counts the changes of the user's records
//	                           (storage.Tx.ConflictsSeq)
//	batches/k/                 user \x00 batch ID -> created(8) hash(32) response,
//	                           or created(8) hash(32) alone when the response is
//	                           large and kept in batches/r
//	batches/r/<user \x00 batch ID>/"v"  a large response, alone in its bucket
//	batches/o/                 created(8) seq(8) -> user \x00 batch ID
//	batches "n"                number of records (8 bytes BE)
//
// Writes are group-committed: Update calls that arrive while a commit is
// syncing queue up and then run, one after the other, in the next bbolt
// read-write transaction, which one commit (and its fsync) makes durable
// before any of them returns. A lone writer commits at once (no delay is
// added to wait for company), so a single client sees one fsync per
// request, and many concurrent clients share each fsync. An Update whose
// function wrote nothing costs no commit at all.
package boltdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/changelog/boltstore"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the file before it gives up with storage.ErrLocked.
const DefaultLockTimeout = time.Second

// DefaultInitialMmapSize is the address space mapped for the file up front
// (1 GiB on 64-bit Unix; 0, bbolt's growth, elsewhere). Mapping only reserves
// address space: the file does not grow. Without it bbolt remaps whenever the
// file outgrows the map, and a remap inside a write transaction copies every
// key and value of the transaction's dirty nodes to the heap — with a
// 10,000-item exchange that was half of all allocations.
var DefaultInitialMmapSize = initialMmapSize()

func initialMmapSize() int {
	// On Windows bbolt extends the file to the size of the map.
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	return 1 << 30
}

var (
	bucketMeta     = []byte("meta")
	bucketUsers    = []byte("users")
	bucketTokens   = []byte("tokens")
	bucketData     = []byte("data")
	bucketBatches  = []byte("batches")
	bucketColls    = []byte("colls")
	bucketContent  = []byte("content")
	bucketConfl    = []byte("conflicts")
	bucketConflIDs = []byte("conflict_ids")
	batchKeys      = []byte("k")
	batchOrder     = []byte("o")
	batchLarge     = []byte("r")
	largeValue     = []byte("v")
	batchCount     = []byte("n")
)

// Options configure Open. The zero value is usable.
type Options struct {
	// LockTimeout is how long to wait for the file lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// InitialMmapSize is the address space mapped for the file when it
	// opens; 0 means DefaultInitialMmapSize, negative means bbolt's default.
	InitialMmapSize int
	// MappedBudget bounds the file-backed memory the process keeps
	// resident (Linux only): bbolt reads the file through a memory map, so
	// every page a read touches stays in the process's RSS until the
	// kernel needs the memory. Checked every MappedCheck, a process over
	// the budget lets go of the store's mapped pages (they stay in the
	// page cache; the next read maps one again). A pull of a whole
	// million-item collection touches its whole file; without this the
	// server's RSS grows to the file's size. 0 means DefaultMappedBudget;
	// negative means never.
	MappedBudget int64
	// MappedCheck is how often MappedBudget is checked; 0 means
	// DefaultMappedCheck.
	MappedCheck time.Duration
}

// MaxGroup bounds how many queued Update calls share one commit.
const MaxGroup = 128

// Store is a storage.Store in a bbolt file.
type Store struct {
	db *bolt.DB

	mu     sync.RWMutex // guards closed against transactions starting during Close
	closed bool

	writes chan *write    // queued Update calls, taken by the committer
	stop   chan struct{}  // closed by Close to end the committer
	done   sync.WaitGroup // the committer goroutine

	commits, grouped atomic.Uint64 // see Stats
	trims            atomic.Uint64 // see Stats
	// txs counts View and Update calls: the mapped-page check (trimLoop)
	// skips a period in which none ran, so an idle server stays idle.
	txs atomic.Uint64
}

// Stats are counters of a Store's write path since Open.
type Stats struct {
	// Commits counts durable commits (each one fsync of bbolt's).
	Commits uint64
	// Writes counts Update calls whose function succeeded and wrote;
	// Writes/Commits is the average group size.
	Writes uint64
	// Trims counts the times the store let go of its mapped pages
	// (Options.MappedBudget).
	Trims uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.grouped.Load(), Trims: s.trims.Load()}
}

// write is one queued Update call.
type write struct {
	ctx    context.Context
	fn     func(storage.Tx) error
	result chan error // buffered: the committer never blocks on it
}

var _ storage.Store = (*Store)(nil)

// Open opens or creates the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.InitialMmapSize == 0 {
		opts.InitialMmapSize = DefaultInitialMmapSize
	}
	// NoFreelistSync: every commit would otherwise write the whole free
	// page list (pages of it in a large file); bbolt rebuilds it by a scan
	// when it opens the file instead, as etcd does.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
		InitialMmapSize: max(opts.InitialMmapSize, 0),
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, storage.ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketUsers, bucketTokens, bucketData, bucketBatches} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketBatches)
		for _, name := range [][]byte{batchKeys, batchOrder, batchLarge} {
			if _, err := b.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: create buckets: %w", path, err)
	}
	s := &Store{db: db, writes: make(chan *write, MaxGroup), stop: make(chan struct{})}
	s.done.Add(1)
	go s.commitLoop()
	if opts.MappedBudget == 0 {
		opts.MappedBudget = DefaultMappedBudget
	}
	if opts.MappedCheck <= 0 {
		opts.MappedCheck = DefaultMappedCheck
	}
	if trimSupported && opts.MappedBudget > 0 {
		// Opening walked the whole file to rebuild the free list
		// (NoFreelistSync): a large file is all resident now.
		s.trimIfOver(opts.MappedBudget)
		s.done.Add(1)
		go s.trimLoop(opts.MappedBudget, opts.MappedCheck)
	}
	return s, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// View implements storage.Store.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.run(ctx, false, fn)
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, writable bool, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.txs.Add(1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	if !writable {
		return s.db.View(func(btx *bolt.Tx) error { return fn(&tx{tx: btx}) })
	}
	w := &write{ctx: ctx, fn: fn, result: make(chan error, 1)}
	s.writes <- w
	// Close takes mu only after every Update holding its read lock has its
	// result, so the committer is still running here.
	return <-w.result
}

// commitLoop runs queued writes until Close: it takes the first waiting
// write, adds every other one already queued (up to MaxGroup), and commits
// them together.
func (s *Store) commitLoop() {
	defer s.done.Done()
	group := make([]*write, 0, MaxGroup)
	for {
		select {
		case <-s.stop:
			return
		case w := <-s.writes:
			group = append(group[:0], w)
		}
	fill:
		for len(group) < MaxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break fill
			}
		}
		s.commitGroup(group)
		clear(group)
	}
}

// commitGroup runs the functions of group one after the other in one
// read-write transaction and commits it if any of them wrote. When one
// fails, the transaction is rolled back and every write of the group runs
// again alone, so that each gets its own outcome and a failure undoes
// nobody else's work (the functions are written to be run again: they keep
// no state from an attempt that was rolled back).
func (s *Store) commitGroup(group []*write) {
	live := group[:0:0]
	for _, w := range group {
		if err := w.ctx.Err(); err != nil {
			w.result <- err // cancelled while queued: never run
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	err, failed := s.runGroup(live)
	if failed && len(live) > 1 {
		for _, w := range live {
			err, _ := s.runGroup([]*write{w})
			w.result <- err
		}
		return
	}
	for _, w := range live {
		w.result <- err
	}
}

// runGroup runs the writes in one transaction. failed reports that a
// function returned an error (or panicked); err is then that error, and
// the transaction was rolled back.
func (s *Store) runGroup(ws []*write) (err error, failed bool) {
	btx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("begin write: %w", err), false
	}
	wrote := 0
	for _, w := range ws {
		t := &tx{tx: btx}
		if err := runFn(w.fn, t); err != nil {
			_ = btx.Rollback()
			return err, true
		}
		if t.dirty {
			wrote++
		}
	}
	if wrote == 0 {
		// Nothing to make durable: spare the commit's writes and fsync.
		return btx.Rollback(), false
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err), false
	}
	s.commits.Add(1)
	s.grouped.Add(uint64(wrote))
	return nil, false
}

// runFn calls fn, turning a panic into an error so that the committer
// survives it and the transaction is rolled back.
func runFn(fn func(storage.Tx) error, t *tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bug: panic in a write transaction: %v", r)
		}
	}()
	return fn(t)
}

// Backup writes a consistent copy of the store's file to w in one read
// transaction (bbolt's hot backup): writes go on meanwhile and are not in
// the copy, and Close waits for it. It returns the number of bytes
// written. The copy is a bbolt file that Open opens like the original.
func (s *Store) Backup(w io.Writer) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, storage.ErrClosed
	}
	s.txs.Add(1)
	var n int64
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stop)
	s.done.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// tx implements storage.Tx over one bbolt transaction.
type tx struct {
	tx *bolt.Tx
	// dirty is set by every write method: a group whose functions
	// wrote nothing is rolled back instead of committed.
	dirty bool
}

var _ storage.Tx = (*tx)(nil)

// writable is called by every method that writes, before it writes.
func (t *tx) writable() error {
	if !t.tx.Writable() {
		return storage.ErrReadOnly
	}
	t.dirty = true
	return nil
}

func (t *tx) Meta(key string) ([]byte, error) {
	v := t.tx.Bucket(bucketMeta).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

func (t *tx) PutMeta(key string, value []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	return t.tx.Bucket(bucketMeta).Put([]byte(key), value)
}

func (t *tx) CreateUser(name string, createdMillis uint64) (bool, error) {
	if err := t.writable(); err != nil {
		return false, err
	}
	b := t.tx.Bucket(bucketUsers)
	if b.Get([]byte(name)) != nil {
		return false, nil
	}
	if err := b.Put([]byte(name), u64(createdMillis)); err != nil {
		return false, fmt.Errorf("create user: %w", err)
	}
	return true, nil
}

func (t *tx) Users(fn func(string) error) error {
	return t.tx.Bucket(bucketUsers).ForEach(func(k, _ []byte) error { return fn(string(k)) })
}

func (t *tx) UserCount() (int, error) {
	n := 0
	err := t.tx.Bucket(bucketUsers).ForEach(func(_, _ []byte) error { n++; return nil })
	return n, err
}

func (t *tx) PutToken(h storage.TokenHash, tok storage.Token) error {
	if err := t.writable(); err != nil {
		return err
	}
	v := make([]byte, 0, 8+len(tok.User)+1+len(tok.Device))
	v = binary.BigEndian.AppendUint64(v, tok.CreatedMillis)
	v = append(v, tok.User...)
	v = append(v, 0)
	v = append(v, tok.Device...)
	return t.tx.Bucket(bucketTokens).Put(h[:], v)
}

func (t *tx) Token(h storage.TokenHash) (storage.Token, bool, error) {
	v := t.tx.Bucket(bucketTokens).Get(h[:])
	if v == nil {
		return storage.Token{}, false, nil
	}
	if len(v) < 8 {
		return storage.Token{}, false, fmt.Errorf("token: %w", storage.ErrCorrupt)
	}
	rest := v[8:]
	for i, c := range rest {
		if c == 0 {
			return storage.Token{User: string(rest[:i]), Device: string(rest[i+1:]), CreatedMillis: binary.BigEndian.Uint64(v)}, true, nil
		}
	}
	return storage.Token{}, false, fmt.Errorf("token: %w", storage.ErrCorrupt)
}

// userBucket returns the user's data bucket, creating it when create is
// set; nil when it does not exist and create is not set.
func (t *tx) userBucket(user string, create bool) (*bolt.Bucket, error) {
	data := t.tx.Bucket(bucketData)
	if !create {
		return data.Bucket([]byte(user)), nil
	}
	return data.CreateBucketIfNotExists([]byte(user))
}

func (t *tx) Collection(user, name string) (storage.Collection, error) {
	c := &collection{t: t, user: user, name: name}
	if ub, _ := t.userBucket(user, false); ub != nil {
		if cb := ub.Bucket(bucketColls); cb != nil {
			c.b = cb.Bucket([]byte(name))
		}
	}
	return c, nil
}

func (t *tx) Collections(user string, fn func(string, changelog.Seq) error) error {
	ub, _ := t.userBucket(user, false)
	if ub == nil {
		return nil
	}
	cb := ub.Bucket(bucketColls)
	if cb == nil {
		return nil
	}
	return cb.ForEachBucket(func(k []byte) error {
		head, err := boltstore.New(cb.Bucket(k)).Head()
		if err != nil {
			return err
		}
		if head == 0 {
			return nil
		}
		return fn(string(k), head)
	})
}

func (t *tx) PutConflict(user string, c storage.Conflict) error {
	if err := t.writable(); err != nil {
		return err
	}
	ub, err := t.userBucket(user, true)
	if err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	recs, err := ub.CreateBucketIfNotExists(bucketConfl)
	if err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	ids, err := ub.CreateBucketIfNotExists(bucketConflIDs)
	if err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	if ids.Get([]byte(c.ConflictID)) != nil {
		return fmt.Errorf("put conflict: duplicate conflict id %q", c.ConflictID)
	}
	v, err := protocol.Marshal(c.ToWire())
	if err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	seq, err := recs.NextSequence()
	if err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	if err := recs.Put(u64(seq), v); err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	if err := ids.Put([]byte(c.ConflictID), u64(seq)); err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	if _, err := ids.NextSequence(); err != nil {
		return fmt.Errorf("put conflict: %w", err)
	}
	return nil
}

func (t *tx) ConflictsSeq(user string) (uint64, error) {
	ub, _ := t.userBucket(user, false)
	if ub == nil {
		return 0, nil
	}
	ids := ub.Bucket(bucketConflIDs)
	if ids == nil {
		return 0, nil
	}
	return ids.Sequence(), nil
}

func decodeConflict(v []byte) (storage.Conflict, error) {
	var w protocol.Conflict
	if err := protocol.Unmarshal(v, &w); err != nil {
		return storage.Conflict{}, fmt.Errorf("decode conflict: %w: %v", storage.ErrCorrupt, err)
	}
	c, err := storage.ConflictFromWire(w)
	if err != nil {
		return storage.Conflict{}, fmt.Errorf("decode conflict: %w: %v", storage.ErrCorrupt, err)
	}
	return c, nil
}

func (t *tx) Conflict(user, conflictID string) (storage.Conflict, bool, error) {
	ub, _ := t.userBucket(user, false)
	if ub == nil || ub.Bucket(bucketConflIDs) == nil {
		return storage.Conflict{}, false, nil
	}
	seq := ub.Bucket(bucketConflIDs).Get([]byte(conflictID))
	if seq == nil {
		return storage.Conflict{}, false, nil
	}
	v := ub.Bucket(bucketConfl).Get(seq)
	if v == nil {
		return storage.Conflict{}, false, fmt.Errorf("conflict %q: index names a missing record: %w", conflictID, storage.ErrCorrupt)
	}
	c, err := decodeConflict(v)
	return c, err == nil, err
}

func (t *tx) Conflicts(user, collection string, fn func(storage.Conflict) error) error {
	ub, _ := t.userBucket(user, false)
	if ub == nil || ub.Bucket(bucketConfl) == nil {
		return nil
	}
	return ub.Bucket(bucketConfl).ForEach(func(_, v []byte) error {
		c, err := decodeConflict(v)
		if err != nil {
			return err
		}
		if collection != "" && c.Collection != collection {
			return nil
		}
		return fn(c)
	})
}

func (t *tx) DeleteConflict(user, conflictID string) error {
	if err := t.writable(); err != nil {
		return err
	}
	ub, _ := t.userBucket(user, false)
	if ub == nil || ub.Bucket(bucketConflIDs) == nil {
		return nil
	}
	ids := ub.Bucket(bucketConflIDs)
	seq := ids.Get([]byte(conflictID))
	if seq == nil {
		return nil
	}
	if err := ub.Bucket(bucketConfl).Delete(seq); err != nil {
		return fmt.Errorf("delete conflict: %w", err)
	}
	if err := ids.Delete([]byte(conflictID)); err != nil {
		return fmt.Errorf("delete conflict: %w", err)
	}
	if _, err := ids.NextSequence(); err != nil {
		return fmt.Errorf("delete conflict: %w", err)
	}
	return nil
}

func batchKey(user, batchID string) []byte {
	k := make([]byte, 0, len(user)+1+len(batchID))
	k = append(k, user...)
	k = append(k, 0)
	return append(k, batchID...)
}

// largeResponse is the response size from which an idempotency record
// keeps its response in a bucket of its own. bbolt keeps at least two
// values in a leaf page however large they are, so a large response stored
// in place is copied and written again whenever a record next to it is
// added or removed; alone in a bucket it is written once.
const largeResponse = 4096

func (t *tx) Batch(user, batchID string) (storage.Batch, bool, error) {
	bb := t.tx.Bucket(bucketBatches)
	k := batchKey(user, batchID)
	v := bb.Bucket(batchKeys).Get(k)
	if v == nil {
		return storage.Batch{}, false, nil
	}
	if len(v) < 8+32 {
		return storage.Batch{}, false, fmt.Errorf("batch: %w", storage.ErrCorrupt)
	}
	resp := v[40:]
	if len(resp) == 0 { // kept in a bucket of its own, unless empty
		if r := bb.Bucket(batchLarge); r != nil {
			if lb := r.Bucket(k); lb != nil {
				resp = lb.Get(largeValue)
			}
		}
	}
	b := storage.Batch{CreatedMillis: binary.BigEndian.Uint64(v), Response: append([]byte{}, resp...)}
	copy(b.RequestHash[:], v[8:40])
	return b, true, nil
}

func (t *tx) PutBatch(user, batchID string, b storage.Batch) error {
	if err := t.writable(); err != nil {
		return err
	}
	bb := t.tx.Bucket(bucketBatches)
	keys, order := bb.Bucket(batchKeys), bb.Bucket(batchOrder)
	k := batchKey(user, batchID)
	if keys.Get(k) != nil {
		return fmt.Errorf("put batch: record for %q exists", batchID)
	}
	large := len(b.Response) >= largeResponse
	v := make([]byte, 0, 40+len(b.Response))
	v = binary.BigEndian.AppendUint64(v, b.CreatedMillis)
	v = append(v, b.RequestHash[:]...)
	if large {
		r, err := bb.CreateBucketIfNotExists(batchLarge)
		if err != nil {
			return fmt.Errorf("put batch: %w", err)
		}
		lb, err := r.CreateBucket(k)
		if err != nil {
			return fmt.Errorf("put batch: %w", err)
		}
		if err := lb.Put(largeValue, b.Response); err != nil {
			return fmt.Errorf("put batch: %w", err)
		}
	} else {
		v = append(v, b.Response...)
	}
	if err := keys.Put(k, v); err != nil {
		return fmt.Errorf("put batch: %w", err)
	}
	seq, err := order.NextSequence()
	if err != nil {
		return fmt.Errorf("put batch: %w", err)
	}
	ok := binary.BigEndian.AppendUint64(u64(b.CreatedMillis), seq)
	if err := order.Put(ok, k); err != nil {
		return fmt.Errorf("put batch: %w", err)
	}
	return bb.Put(batchCount, u64(readU64(bb.Get(batchCount))+1))
}

func (t *tx) PruneBatches(cutoffMillis uint64, keep, max int) (int, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	bb := t.tx.Bucket(bucketBatches)
	keys, order, large := bb.Bucket(batchKeys), bb.Bucket(batchOrder), bb.Bucket(batchLarge)
	count := readU64(bb.Get(batchCount))
	removed := 0
	c := order.Cursor()
	for k, v := c.First(); k != nil && removed < max; k, v = c.First() {
		if len(k) != 16 {
			return removed, fmt.Errorf("prune batches: %w", storage.ErrCorrupt)
		}
		if binary.BigEndian.Uint64(k) >= cutoffMillis && count <= uint64(keep) {
			break
		}
		if rec := keys.Get(v); len(rec) == 40 && large != nil {
			if err := large.DeleteBucket(v); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return removed, fmt.Errorf("prune batches: %w", err)
			}
		}
		if err := keys.Delete(v); err != nil {
			return removed, fmt.Errorf("prune batches: %w", err)
		}
		if err := c.Delete(); err != nil {
			return removed, fmt.Errorf("prune batches: %w", err)
		}
		if count > 0 {
			count--
		}
		removed++
	}
	if removed > 0 {
		if err := bb.Put(batchCount, u64(count)); err != nil {
			return removed, fmt.Errorf("prune batches: %w", err)
		}
	}
	return removed, nil
}

// collection implements storage.Collection. b is nil until the collection
// is first written. It keeps one Log and the content bucket for all its
// calls: the Log caches its head and sub-buckets, and point lookups reuse
// kept cursors.
type collection struct {
	t          *tx
	user, name string
	b          *bolt.Bucket
	log        *boltstore.Log
	content    *bolt.Bucket // nil until looked up or created
	contentCur *bolt.Cursor
}

func (c *collection) changelog() *boltstore.Log {
	if c.log == nil {
		c.log = boltstore.New(c.b)
	}
	return c.log
}

func (c *collection) Head() (changelog.Seq, error) {
	if c.b == nil {
		return 0, nil
	}
	return c.changelog().Head()
}

func (c *collection) Get(id string) (changelog.Entry, bool, error) {
	if c.b == nil {
		return changelog.Entry{}, false, nil
	}
	return c.changelog().Get(id)
}

func (c *collection) Since(after changelog.Seq, limit int, fn func(changelog.Entry) error) error {
	if c.b == nil {
		return nil
	}
	return c.changelog().Since(after, limit, fn)
}

var _ storage.ContentAppender = (*collection)(nil)

// stored returns an item's stored content, nil if there is none; it is
// valid until the transaction writes.
func (c *collection) stored(id string) []byte {
	if c.b == nil {
		return nil
	}
	if c.content == nil {
		if c.content = c.b.Bucket(bucketContent); c.content == nil {
			return nil
		}
	}
	if c.contentCur == nil {
		c.contentCur = c.content.Cursor()
	}
	k, v := c.contentCur.Seek([]byte(id))
	if k == nil || string(k) != id {
		return nil
	}
	return v
}

func (c *collection) Content(id string) ([]byte, error) {
	v := c.stored(id)
	if v == nil {
		return nil, nil
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

// AppendContent implements storage.ContentAppender.
func (c *collection) AppendContent(dst []byte, id string) ([]byte, error) {
	return append(dst, c.stored(id)...), nil
}

func (c *collection) Put(e changelog.Entry, content []byte) (changelog.Seq, error) {
	if err := c.t.writable(); err != nil {
		return 0, err
	}
	if c.b == nil {
		ub, err := c.t.userBucket(c.user, true)
		if err != nil {
			return 0, fmt.Errorf("put %q: %w", e.ID, err)
		}
		colls, err := ub.CreateBucketIfNotExists(bucketColls)
		if err != nil {
			return 0, fmt.Errorf("put %q: %w", e.ID, err)
		}
		if c.b, err = colls.CreateBucketIfNotExists([]byte(c.name)); err != nil {
			return 0, fmt.Errorf("put %q: %w", e.ID, err)
		}
		c.log, c.content, c.contentCur = nil, nil, nil
	}
	e.Size = uint32(len(content))
	seq, err := c.changelog().Append(e)
	if err != nil {
		return 0, fmt.Errorf("put %q: %w", e.ID, err)
	}
	if c.content == nil {
		if c.content, err = c.b.CreateBucketIfNotExists(bucketContent); err != nil {
			return 0, fmt.Errorf("put %q: %w", e.ID, err)
		}
		c.contentCur = nil
	}
	// Keyed by item ID like the log's entries: packed the same way.
	c.content.FillPercent = boltstore.EntriesFillPercent
	if e.Deleted || len(content) == 0 {
		err = c.content.Delete([]byte(e.ID))
	} else {
		err = c.content.Put([]byte(e.ID), content)
	}
	if err != nil {
		return 0, fmt.Errorf("put %q: %w", e.ID, err)
	}
	return seq, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 16), v) }

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
