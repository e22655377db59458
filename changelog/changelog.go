package changelog

import (
	"errors"
	"fmt"

	"github.com/syncprint/syncprint/fingerprint"
)

// Seq is a per-collection sequence number. On the server it is the item's
// server version: strictly increasing, starting at 1; 0 means "none".
type Seq uint64

// ReplicaID names the replica (device) that made a change.
type ReplicaID string

// Entry is one item's latest change, as carried in change info: everything
// about the change except the content.
type Entry struct {
	ID          string
	Seq         Seq
	Fingerprint fingerprint.Fingerprint
	HLC         HLC
	Deleted     bool
	Replica     ReplicaID
	// Size is the content length in bytes (0 for a tombstone).
	Size uint32
}

// Errors returned by Log implementations.
var (
	// ErrEmptyID is returned by Append when the entry has no ID.
	ErrEmptyID = errors.New("changelog: empty item id")
	// ErrSeqOrder is returned by Append when an explicit Seq is not greater
	// than the log's head.
	ErrSeqOrder = errors.New("changelog: sequence must increase")
)

// Log is the change log of one collection on one replica.
//
// Implementations are not safe for concurrent use unless they say so; the
// boltstore Log is bound to one bbolt transaction. Entries returned by Get
// and passed to Since's callback are copies owned by the caller.
type Log interface {
	// Head returns the greatest Seq ever assigned, 0 for an empty log.
	Head() (Seq, error)
	// Get returns the latest entry of an item; ok is false if the item has
	// never been recorded.
	Get(id string) (e Entry, ok bool, err error)
	// Append records e as the item's latest entry and returns its Seq. If
	// e.Seq is 0 the log assigns Head()+1; otherwise e.Seq must be greater
	// than Head() (ErrSeqOrder). The item's previous entry, if any, is
	// removed from the Since order.
	Append(e Entry) (Seq, error)
	// Since calls fn, in increasing Seq order, for at most limit entries
	// whose Seq is greater than after (limit <= 0 means no limit). An error
	// from fn stops the walk and is returned.
	Since(after Seq, limit int, fn func(Entry) error) error
}

// Validate checks the entry fields that every Log requires.
func (e Entry) Validate() error {
	if e.ID == "" {
		return ErrEmptyID
	}
	return nil
}

// String formats an entry for logs and test failures.
func (e Entry) String() string {
	del := ""
	if e.Deleted {
		del = " deleted"
	}
	return fmt.Sprintf("%q@%d fp=%s hlc=%s by %s%s", e.ID, e.Seq, e.Fingerprint.String()[:12], e.HLC, e.Replica, del)
}
