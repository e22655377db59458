package faultstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/serverd/storage"
)

// ErrInjected is wrapped by every error the wrapper injects (together with
// the errno it stands for: syscall.EIO or syscall.ENOSPC).
var ErrInjected = errors.New("faultstore: injected fault")

// Kind is a kind of storage fault.
type Kind int

// Kinds of faults.
const (
	// None injects nothing.
	None Kind = iota
	// FailWrite fails the K-th write call with EIO; the handler sees the
	// error and its transaction rolls back.
	FailWrite
	// FailCommit rolls back the K-th commit and returns EIO from Update:
	// nothing of the transaction is stored.
	FailCommit
	// LostCommit commits the K-th transaction durably, then returns EIO
	// from Update: the data is stored but the caller believes it failed.
	LostCommit
	// DiskFull fails the K-th write and every later one with ENOSPC until
	// Heal; reads keep working.
	DiskFull
)

func (k Kind) String() string {
	return [...]string{"none", "fail-write", "fail-commit", "lost-commit", "disk-full"}[k]
}

// Fault is an armed fault.
type Fault struct {
	Kind Kind
	// K is the 1-based index, counted from Arm, of the write (FailWrite,
	// DiskFull) or commit (FailCommit, LostCommit) that fails.
	K int
}

func (f Fault) String() string { return fmt.Sprintf("%s@%d", f.Kind, f.K) }

// Faults injects faults into the stores it wraps. One Faults may wrap
// several stores in turn (a server reopened on the same data); the armed
// fault and the counters are shared.
type Faults struct {
	mu       sync.Mutex // guards everything below
	fault    Fault
	writes   int // write calls since Arm
	commits  int // commits since Arm
	injected int // faults injected since Arm
	slow     time.Duration
}

// SetSlow makes every write transaction take d longer (a slow disk): with
// a store that commits queued writes together, concurrent writers then
// queue up and share commits.
func (f *Faults) SetSlow(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow = d
}

// New returns a Faults with nothing armed.
func New() *Faults { return &Faults{} }

// Wrap wraps a store; it has the signature of serverd.Config.WrapStore.
func (f *Faults) Wrap(inner storage.Store) storage.Store { return &store{f: f, inner: inner} }

// Arm arms a fault and resets the counters.
func (f *Faults) Arm(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.writes, f.commits, f.injected = ft, 0, 0, 0
}

// Heal disarms the fault; the counters keep counting.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = Fault{}
}

// Injected returns how many faults were injected since Arm.
func (f *Faults) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// Counts returns the writes and commits seen since Arm (injected ones
// included).
func (f *Faults) Counts() (writes, commits int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes, f.commits
}

// write counts a write call and returns the error to inject, if any.
func (f *Faults) write(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	switch {
	case f.fault.Kind == FailWrite && f.writes == f.fault.K:
		f.injected++
		return fmt.Errorf("%s: %w: %w", op, ErrInjected, syscall.EIO)
	case f.fault.Kind == DiskFull && f.writes >= f.fault.K:
		f.injected++
		return fmt.Errorf("%s: %w: %w", op, ErrInjected, syscall.ENOSPC)
	}
	return nil
}

// commit counts a commit and says what to do with it.
func (f *Faults) commit() Kind {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits++
	if (f.fault.Kind == FailCommit || f.fault.Kind == LostCommit) && f.commits == f.fault.K {
		f.injected++
		return f.fault.Kind
	}
	return None
}

type store struct {
	f     *Faults
	inner storage.Store
}

func (s *store) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.inner.View(ctx, fn)
}

func (s *store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	var lost bool
	s.f.mu.Lock()
	slow := s.f.slow
	s.f.mu.Unlock()
	err := s.inner.Update(ctx, func(t storage.Tx) error {
		lost = false
		if slow > 0 {
			time.Sleep(slow) // the slow disk itself, not a wait for an event
		}
		if err := fn(&tx{f: s.f, Tx: t}); err != nil {
			return err
		}
		switch s.f.commit() {
		case FailCommit:
			return fmt.Errorf("commit: %w: %w", ErrInjected, syscall.EIO)
		case LostCommit:
			lost = true
		}
		return nil
	})
	if err == nil && lost {
		return fmt.Errorf("commit: %w: %w (after the data was stored)", ErrInjected, syscall.EIO)
	}
	return err
}

func (s *store) Close() error { return s.inner.Close() }

// tx counts and fails the writes of one transaction; reads pass through.
type tx struct {
	f *Faults
	storage.Tx
}

func (t *tx) PutMeta(key string, value []byte) error {
	if err := t.f.write("put meta"); err != nil {
		return err
	}
	return t.Tx.PutMeta(key, value)
}

func (t *tx) CreateUser(name string, createdMillis uint64) (bool, error) {
	if err := t.f.write("create user"); err != nil {
		return false, err
	}
	return t.Tx.CreateUser(name, createdMillis)
}

func (t *tx) PutToken(h storage.TokenHash, tok storage.Token) error {
	if err := t.f.write("put token"); err != nil {
		return err
	}
	return t.Tx.PutToken(h, tok)
}

func (t *tx) PutConflict(user string, c storage.Conflict) error {
	if err := t.f.write("put conflict"); err != nil {
		return err
	}
	return t.Tx.PutConflict(user, c)
}

func (t *tx) DeleteConflict(user, conflictID string) error {
	if err := t.f.write("delete conflict"); err != nil {
		return err
	}
	return t.Tx.DeleteConflict(user, conflictID)
}

func (t *tx) PutBatch(user, batchID string, b storage.Batch) error {
	if err := t.f.write("put batch"); err != nil {
		return err
	}
	return t.Tx.PutBatch(user, batchID, b)
}

func (t *tx) PruneBatches(cutoffMillis uint64, keep, max int) (int, error) {
	if err := t.f.write("prune batches"); err != nil {
		return 0, err
	}
	return t.Tx.PruneBatches(cutoffMillis, keep, max)
}

func (t *tx) Collection(user, name string) (storage.Collection, error) {
	c, err := t.Tx.Collection(user, name)
	if err != nil {
		return nil, err
	}
	if a, ok := c.(storage.ContentAppender); ok {
		return &appenderCollection{collection{f: t.f, Collection: c}, a}, nil
	}
	return &collection{f: t.f, Collection: c}, nil
}

// collection fails the k-th Put; reads pass through.
type collection struct {
	f *Faults
	storage.Collection
}

func (c *collection) Put(e changelog.Entry, content []byte) (changelog.Seq, error) {
	if err := c.f.write("put item"); err != nil {
		return 0, err
	}
	return c.Collection.Put(e, content)
}

// appenderCollection keeps the inner collection's ContentAppender.
type appenderCollection struct {
	collection
	storage.ContentAppender
}

var (
	_ storage.Store           = (*store)(nil)
	_ storage.Tx              = (*tx)(nil)
	_ storage.Collection      = (*collection)(nil)
	_ storage.ContentAppender = (*appenderCollection)(nil)
)
