// Package reconcile owns the sync decision of the Syncprint protocol: given
// what each side changed, which way each item moves. It does no I/O and
// reads no clock; callers pass timestamps in. Both the server (deciding an
// upload, [Arbitrate]) and the client (planning a session, [PlanItem]) use
// it, so the two sides apply the same precedence rules by construction.
//
// The decision table in spec/PROTOCOL.md section 7 and the vectors in
// spec/vectors/decisions.json are generated from and checked against this
// package.
package reconcile

import (
	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// Side is one side's version of an item in a conflict.
type Side struct {
	Fingerprint fingerprint.Fingerprint
	Deleted     bool
	HLC         changelog.HLC
	Replica     changelog.ReplicaID
}

// SideOf returns the conflict-relevant part of an entry.
func SideOf(e changelog.Entry) Side {
	return Side{Fingerprint: e.Fingerprint, Deleted: e.Deleted, HLC: e.HLC, Replica: e.Replica}
}

// Winner says whose version a precedence rule keeps.
type Winner int

// Winners.
const (
	// ServerKeeps: the server's version stays; the client's is the loser.
	ServerKeeps Winner = iota
	// ClientTakes: the client's version replaces the server's.
	ClientTakes
	// KeepBoth: the server's version stays and the client's is stored as a
	// server conflict record (manual).
	KeepBoth
)

func (w Winner) String() string {
	return [...]string{"server", "client", "both"}[w]
}

// Decide applies a precedence rule to two different versions of an item
// [SP-7-2]. Equal fingerprints never reach Decide: they are not a conflict.
// For latest-wins the greater HLC wins; equal HLCs go to the greater
// replica ID compared byte-wise; equal replica IDs keep the server's.
// An unknown rule is treated as server-wins, the safe choice.
func Decide(rule protocol.Rule, client, server Side) Winner {
	switch rule {
	case protocol.ClientWins:
		return ClientTakes
	case protocol.Manual:
		return KeepBoth
	case protocol.LatestWins:
		switch {
		case client.HLC > server.HLC:
			return ClientTakes
		case client.HLC < server.HLC:
			return ServerKeeps
		case client.Replica > server.Replica:
			return ClientTakes
		default:
			return ServerKeeps
		}
	default:
		return ServerKeeps
	}
}

// Incoming is what the server arbitrates for one uploaded item. Side.HLC must
// already be the effective (clamped) timestamp and Side.Replica the
// uploader's replica ID from its token, never a value the client claims.
type Incoming struct {
	Side
	Base changelog.Seq
	Seen changelog.Seq
}

// Verdict is the server's decision on one upload.
type Verdict int

// Verdicts, matching protocol.UploadStatus.
const (
	Apply Verdict = iota
	Unchanged
	Stale
	Reject
	Conflict
)

// Status returns the wire status of a verdict.
func (v Verdict) Status() protocol.UploadStatus {
	return [...]protocol.UploadStatus{protocol.StatusApplied, protocol.StatusUnchanged, protocol.StatusStale, protocol.StatusRejected, protocol.StatusConflict}[v]
}

func (v Verdict) String() string { return string(v.Status()) }

// Arbitrate decides one upload against the server's current entry of the
// item (nil if the server has never held it) [SP-6.3-5]:
//
//  1. Seen is not the current version: Stale (the client re-plans).
//  2. The fingerprints are equal: Unchanged.
//  3. Base is the current version (a fast-forward): Apply.
//  4. Otherwise both sides changed the item: the rule decides.
func Arbitrate(rule protocol.Rule, up Incoming, cur *changelog.Entry) Verdict {
	var curSeq changelog.Seq
	if cur != nil {
		curSeq = cur.Seq
	}
	switch {
	case up.Seen != curSeq:
		return Stale
	case cur != nil && cur.Fingerprint == up.Fingerprint:
		return Unchanged
	case up.Base == curSeq, cur == nil:
		// A fast-forward, or an item the server has never held (Seen is 0;
		// Base is then irrelevant: there is nothing to lose).
		return Apply
	}
	switch Decide(rule, up.Side, SideOf(*cur)) {
	case ClientTakes:
		return Apply
	case KeepBoth:
		return Conflict
	default:
		return Reject
	}
}

// Overwrites reports whether applying an upload that Arbitrate judged
// Apply replaces a server version the client had not based its edit on
// (client-wins, or latest-wins won by the client). The server then keeps
// the replaced version as a conflict record with reason "overwritten", so
// that no version is lost silently [SP-7-9]. A replaced tombstone holds no
// content and is not kept.
func Overwrites(v Verdict, up Incoming, cur *changelog.Entry) bool {
	return v == Apply && cur != nil && !cur.Deleted && up.Base != cur.Seq
}

// Clamp returns the timestamp the server stores for an upload stamped h
// [SP-7-6]: h itself when its physical part is at most maxSkewMillis ahead
// of the server's wall clock wall, otherwise now() — the server's own HLC,
// so a device whose clock runs ahead cannot win latest-wins for ever.
func Clamp(h changelog.HLC, wall changelog.HLC, maxSkewMillis uint64, now func() changelog.HLC) (effective changelog.HLC, clamped bool) {
	if h.Millis() > wall.Millis()+maxSkewMillis {
		return now(), true
	}
	return h, false
}
