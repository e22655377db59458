package reconcile

import (
	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/protocol"
)

// Local is the client's state of one item.
type Local struct {
	Side
	// Base is the server version the local content derives from (0: never
	// synced). Seen is the newest server version the client knows of.
	Base, Seen changelog.Seq
	// Pending is true when the item has local changes not yet on the server.
	Pending bool
}

// Action says what a client does with one item in a session.
type Action int

// Actions [SP-6.2-3].
const (
	// Nothing moves. If a remote entry was given, the client records its
	// version as seen (and, for a pending item with an equal fingerprint,
	// clears the pending mark: both sides agree).
	Nothing Action = iota
	// Upload the local version with Seen set to Step.Seen.
	Upload
	// Download the server's version and replace the local one.
	Download
	// DownloadKeepLocal downloads the server's version; the local version
	// lost and goes to the client's conflict log.
	DownloadKeepLocal
	// UploadConflict uploads the local version for the server to keep as a
	// conflict record (manual) and downloads the server's version.
	UploadConflict
)

func (a Action) String() string {
	return [...]string{"nothing", "upload", "download", "download-keep-local", "upload-conflict"}[a]
}

// Step is the plan for one item.
type Step struct {
	ID     string
	Action Action
	// Seen is the server version to send as Upload.Seen, or to record.
	Seen changelog.Seq
}

// PlanItem decides one item of a session [SP-6.2]. local is nil when the
// client does not hold the item; remote is nil when the change info (or a
// stale result) has no newer entry for it. self is the client's replica ID
// as the server announced it.
func PlanItem(rule protocol.Rule, self changelog.ReplicaID, id string, local *Local, remote *changelog.Entry) Step {
	step := Step{ID: id}
	if local != nil {
		step.Seen = local.Seen
		// A remote entry the client already knows of is not news.
		if remote != nil && remote.Seq <= local.Seen {
			remote = nil
		}
	}
	if remote != nil {
		step.Seen = remote.Seq
	}
	switch {
	case remote == nil && local != nil && local.Pending:
		step.Action = Upload
	case remote == nil:
		step.Action = Nothing
	case local == nil:
		step.Action = Download
	case local.Fingerprint == remote.Fingerprint:
		step.Action = Nothing
	case !local.Pending:
		step.Action = Download
	default:
		client := local.Side
		client.Replica = self
		switch Decide(rule, client, SideOf(*remote)) {
		case ClientTakes:
			step.Action = Upload
		case KeepBoth:
			step.Action = UploadConflict
		default:
			step.Action = DownloadKeepLocal
		}
	}
	return step
}
