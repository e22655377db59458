package protocol

// ConflictsRequest is the body of POST /v1/conflicts.
type ConflictsRequest struct {
	// Collection limits the list to one collection; "" lists all.
	Collection string `msgpack:"collection"`
}

// Conflict reasons.
const (
	// ReasonManual: under the manual rule, a client's version that the
	// server set aside; the server kept its own.
	ReasonManual = "manual"
	// ReasonOverwritten: a server version that lost to a concurrent client
	// upload under client-wins or latest-wins; the client's became current.
	ReasonOverwritten = "overwritten"
)

// Conflict is a server conflict record: a version that lost a conflict and
// is kept, with its content, until a client resolves it [SP-7-8].
type Conflict struct {
	ConflictID string `msgpack:"conflict_id"`
	Collection string `msgpack:"collection"`
	ID         string `msgpack:"id"`
	// Reason is ReasonManual or ReasonOverwritten.
	Reason string `msgpack:"reason"`
	// ServerVersion is the server version the losing version conflicted
	// with: for manual, the version the server kept; for overwritten, the
	// version that was overwritten (its own version number).
	ServerVersion uint64 `msgpack:"server_version"`
	// Base is the version the losing edit started from (0 for overwritten
	// records, where it is not known).
	Base    uint64 `msgpack:"base"`
	FP      []byte `msgpack:"fp"`
	HLC     uint64 `msgpack:"hlc"`
	Deleted bool   `msgpack:"deleted"`
	Replica string `msgpack:"replica"`
	Content []byte `msgpack:"content"`
	// CreatedMillis is the server wall time when the record was stored.
	CreatedMillis uint64 `msgpack:"created_ms"`
}

// ConflictsResponse lists conflict records, oldest first.
type ConflictsResponse struct {
	Conflicts []Conflict `msgpack:"conflicts"`
}

// ResolveRequest is the body of POST /v1/conflicts/resolve: it closes
// conflict records of one item and, optionally, writes the item, in one
// atomic step.
type ResolveRequest struct {
	Collection string `msgpack:"collection"`
	ID         string `msgpack:"id"`
	// Close lists the conflict records to close; every one must exist and
	// belong to the item.
	Close []string `msgpack:"close"`
	// Put, when present, is written as with an exchange upload whose Seen
	// must be the current version (else stale_base, nothing closed).
	Put *Upload `msgpack:"put"`
	// BatchID, when set, makes the resolution idempotent on a server
	// that announces FeatureResolveBatch: sent again with the same body,
	// it gets the first answer [SP-10-10]. Omitted when empty.
	BatchID string `msgpack:"batch_id,omitempty"`
}

// ResolveResponse reports what a resolution did.
type ResolveResponse struct {
	Closed []string `msgpack:"closed"`
	// Result is the outcome of Put; nil when there was none.
	Result *UploadResult `msgpack:"result"`
}
