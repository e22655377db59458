// Package storage defines the contract between the Syncprint server and its
// storage backends: a [Store] of closure transactions and the [Tx] they
// receive. It holds no implementation; package
// github.com/syncprint/syncprint/serverd/boltdb is the bbolt backend, and a
// PostgreSQL backend would be a sibling of it.
//
// The contract lives apart from package serverd so that backends can import
// it while serverd imports them (serverd re-exports the types as aliases).
//
// Everything a request changes happens inside one Update: the change log,
// item content, conflict records and the idempotency record commit together
// or not at all, and Update returns only after the commit is durable.
package storage

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/syncprint/syncprint/changelog"
)

// Errors returned by Store implementations.
var (
	// ErrClosed is returned by View and Update after Close.
	ErrClosed = errors.New("storage: store is closed")
	// ErrLocked is returned by a backend's Open when another process holds
	// the store.
	ErrLocked = errors.New("storage: store is in use by another process")
	// ErrCorrupt is returned when stored data cannot be decoded.
	ErrCorrupt = errors.New("storage: corrupt record")
	// ErrReadOnly is returned by a write method called inside View.
	ErrReadOnly = errors.New("storage: write in a read-only transaction")
)

// Store is a server's durable state.
//
// View and Update run fn in a transaction. Update commits when fn returns
// nil, durably (synced to stable storage) before Update returns, and rolls
// back otherwise; fn's error is returned unchanged. View is read-only and
// may run concurrently with other Views and with one Update. Values a Tx
// returns are owned by the caller and stay valid after the transaction.
// A Tx must not be used after fn returns, nor from another goroutine.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	// Close waits for running transactions and releases the store.
	// Calling it again returns nil.
	Close() error
}

// TokenHash is the SHA-256 of a bearer token; the plain token is never stored.
type TokenHash [sha256.Size]byte

// HashToken returns the hash under which a token is stored.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// Token is what a stored token grants.
type Token struct {
	User          string
	Device        string
	CreatedMillis uint64
}

// Conflict is a server conflict record: a losing version kept with its
// content until a client resolves it.
type Conflict struct {
	// ConflictID is the record's unique ID.
	ConflictID string
	Collection string
	// Entry describes the losing version: item ID, fingerprint, HLC,
	// deleted flag, replica and size. Entry.Seq is unused.
	Entry         changelog.Entry
	Reason        string
	ServerVersion changelog.Seq
	Base          changelog.Seq
	Content       []byte
	CreatedMillis uint64
}

// Batch is an idempotency record: the SHA-256 of an exchange request body
// and the bytes of the response the server sent for it.
type Batch struct {
	CreatedMillis uint64
	RequestHash   [sha256.Size]byte
	Response      []byte
}

// Tx is one transaction. Methods that write return ErrReadOnly inside View.
type Tx interface {
	// Meta returns a server-wide value, nil if unset.
	Meta(key string) ([]byte, error)
	// PutMeta sets a server-wide value.
	PutMeta(key string, value []byte) error

	// CreateUser records a user; created is false if it already existed.
	CreateUser(name string, createdMillis uint64) (created bool, err error)
	// Users calls fn for every user in name order.
	Users(fn func(name string) error) error
	// UserCount returns the number of users.
	UserCount() (int, error)

	// PutToken stores a token's grant under its hash.
	PutToken(h TokenHash, t Token) error
	// Token returns the grant of a token hash; ok is false if unknown.
	Token(h TokenHash) (t Token, ok bool, err error)

	// Collection returns one collection of a user. A collection that was
	// never written is empty (head 0) and comes into being with its first
	// Put; reading it creates nothing.
	Collection(user, name string) (Collection, error)
	// Collections calls fn, in name order, for each collection of the user
	// that holds at least one entry.
	Collections(user string, fn func(name string, head changelog.Seq) error) error

	// PutConflict stores a new conflict record; its ConflictID must be unique.
	PutConflict(user string, c Conflict) error
	// Conflict returns one record of the user; ok is false if there is none.
	Conflict(user, conflictID string) (c Conflict, ok bool, err error)
	// Conflicts calls fn for the user's records, oldest first, restricted
	// to one collection unless collection is "".
	Conflicts(user, collection string, fn func(Conflict) error) error
	// DeleteConflict removes a record; removing a missing one is not an error.
	DeleteConflict(user, conflictID string) error
	// ConflictsSeq counts the changes of the user's set of conflict
	// records: 0 until the first PutConflict, then one more for every
	// PutConflict and every DeleteConflict that removed a record, in the
	// transaction that made the change. Nothing else changes it (removing
	// a missing record does not), and it never decreases. The server
	// announces it so that devices list records only when it moved
	// [SP-10-8].
	ConflictsSeq(user string) (uint64, error)

	// Batch returns the idempotency record of (user, batchID).
	Batch(user, batchID string) (b Batch, ok bool, err error)
	// PutBatch stores an idempotency record.
	PutBatch(user, batchID string, b Batch) error
	// PruneBatches removes idempotency records, oldest first, while they
	// were created before cutoffMillis or more than keep records exist; it
	// removes at most max records and returns how many it removed.
	PruneBatches(cutoffMillis uint64, keep, max int) (int, error)
}

// Collection is one collection of one user: its change log and the
// content of its items.
type Collection interface {
	// Head, Get and Since are those of changelog.Log.
	Head() (changelog.Seq, error)
	Get(id string) (e changelog.Entry, ok bool, err error)
	Since(after changelog.Seq, limit int, fn func(changelog.Entry) error) error
	// Content returns an item's content (nil for a tombstone or an
	// unknown item).
	Content(id string) ([]byte, error)
	// Put appends e as the item's latest entry with the next version and
	// stores its content (none for a tombstone); it returns the version.
	Put(e changelog.Entry, content []byte) (changelog.Seq, error)
}

// ContentAppender is implemented by a Collection that can copy an item's
// content into a buffer of the caller's, sparing an allocation per item
// when a response carries thousands.
type ContentAppender interface {
	// AppendContent appends the item's content (nothing for a tombstone or
	// an unknown item) to dst and returns the extended slice.
	AppendContent(dst []byte, id string) ([]byte, error)
}
