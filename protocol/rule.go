package protocol

import "fmt"

// Rule is a collection's precedence rule: it decides the direction of an
// item that both sides changed to different fingerprints [SP-7].
type Rule string

// The precedence rules.
const (
	// ServerWins keeps the server's version; the client's goes to its
	// local conflict log.
	ServerWins Rule = "server-wins"
	// ClientWins takes the client's version; the server's previous version
	// stays in the change history of the replicas that held it.
	ClientWins Rule = "client-wins"
	// LatestWins takes the version with the greater HLC timestamp, ties
	// broken by the greater replica ID (byte-wise).
	LatestWins Rule = "latest-wins"
	// Manual keeps the server's version and stores the client's as a server
	// conflict record that any client of the user can list and resolve.
	Manual Rule = "manual"
)

// Rules lists every rule, in the order the spec's decision table uses.
var Rules = []Rule{ServerWins, ClientWins, LatestWins, Manual}

// ParseRule returns the Rule named s.
func ParseRule(s string) (Rule, error) {
	for _, r := range Rules {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown precedence rule %q (want server-wins, client-wins, latest-wins or manual)", s)
}

// Valid reports whether r is one of the defined rules.
func (r Rule) Valid() bool { _, err := ParseRule(string(r)); return err == nil }

// UploadStatus is the outcome of one upload in an exchange [SP-6.3].
type UploadStatus string

// Upload statuses.
const (
	// StatusApplied: the upload is now the server's current version.
	StatusApplied UploadStatus = "applied"
	// StatusUnchanged: the server already held the same fingerprint;
	// nothing was written.
	StatusUnchanged UploadStatus = "unchanged"
	// StatusStale: the item moved on since the version the client saw;
	// nothing was written and Current describes the server's version.
	StatusStale UploadStatus = "stale"
	// StatusRejected: the precedence rule kept the server's version; the
	// server's item is in the response's items.
	StatusRejected UploadStatus = "rejected"
	// StatusConflict: under manual, the upload was stored as a conflict
	// record; the server's item is in the response's items.
	StatusConflict UploadStatus = "conflict"
)
