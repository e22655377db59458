package protocol

// Fixed limits of the protocol, the same on every server [SP-2].
const (
	// MaxIDBytes is the longest item ID, in UTF-8 bytes.
	MaxIDBytes = 256
	// MaxCollectionBytes is the longest collection name.
	MaxCollectionBytes = 64
	// MinBatchIDBytes and MaxBatchIDBytes bound an exchange's batch ID.
	MinBatchIDBytes = 16
	MaxBatchIDBytes = 64
	// MaxReplicaBytes is the longest user or device (replica) name.
	MaxReplicaBytes = 64
	// MaxRounds is how many exchange rounds a client may run for one
	// segment of a collection in one sync session before leaving the rest
	// pending.
	MaxRounds = 8
	// SegmentEntries is how many change-info entries a client may pull
	// before it plans and carries them out: a segment (SP-6.1-6). A
	// client's memory for a session is bounded by it, whatever the size
	// of the collection.
	SegmentEntries = 10_000
)

// Server-chosen limits: defaults of the reference server, announced in
// Info.Limits. Clients read the announced values, never these constants.
const (
	DefaultMaxItemBytes   = 1 << 20  // one item's content
	DefaultMaxBatchItems  = 5000     // uploads in one exchange
	DefaultMaxBatchBytes  = 16 << 20 // content bytes in one exchange, either way
	DefaultMaxIDs         = 5000     // download IDs in one exchange
	DefaultMaxPage        = 5000     // entries in one change-info page
	DefaultMaxBodyBytes   = 20 << 20 // request body
	DefaultWatchMaxMillis = 60_000   // longest watch wait
	DefaultMaxSkewMillis  = 60_000   // HLC clamp threshold
	DefaultPage           = 1000     // page size when a request names none
	DefaultWatchMillis    = 25_000   // watch wait when a request names none
)

// Limits are the server's announced limits [SP-3-4].
type Limits struct {
	MaxItemBytes   int `msgpack:"max_item_bytes"`
	MaxBatchItems  int `msgpack:"max_batch_items"`
	MaxBatchBytes  int `msgpack:"max_batch_bytes"`
	MaxIDs         int `msgpack:"max_ids"`
	MaxPage        int `msgpack:"max_page"`
	MaxBodyBytes   int `msgpack:"max_body_bytes"`
	WatchMaxMillis int `msgpack:"watch_max_ms"`
	MaxIDBytes     int `msgpack:"max_id_bytes"`
}

// DefaultLimits returns the reference server's limits.
func DefaultLimits() Limits {
	return Limits{
		MaxItemBytes:   DefaultMaxItemBytes,
		MaxBatchItems:  DefaultMaxBatchItems,
		MaxBatchBytes:  DefaultMaxBatchBytes,
		MaxIDs:         DefaultMaxIDs,
		MaxPage:        DefaultMaxPage,
		MaxBodyBytes:   DefaultMaxBodyBytes,
		WatchMaxMillis: DefaultWatchMaxMillis,
		MaxIDBytes:     MaxIDBytes,
	}
}

// LimitField is one limit a server chooses: its name on the wire, its
// field name in Limits, and the field itself.
type LimitField struct {
	Wire, Go string
	V        *int
}

// Chosen returns the limits of l a server chooses, in the order of the
// spec's table (SP-2-9); MaxIDBytes, fixed by the protocol (SP-2-8), is not
// among them.
func (l *Limits) Chosen() []LimitField {
	return []LimitField{
		{"max_item_bytes", "MaxItemBytes", &l.MaxItemBytes},
		{"max_batch_items", "MaxBatchItems", &l.MaxBatchItems},
		{"max_batch_bytes", "MaxBatchBytes", &l.MaxBatchBytes},
		{"max_ids", "MaxIDs", &l.MaxIDs},
		{"max_page", "MaxPage", &l.MaxPage},
		{"max_body_bytes", "MaxBodyBytes", &l.MaxBodyBytes},
		{"watch_max_ms", "WatchMaxMillis", &l.WatchMaxMillis},
	}
}

// FirstConflictsSeq is a user's conflicts sequence number while no record
// of the user was ever stored or closed [SP-10-8]: a device that sees it
// and holds no copy of the records needs no listing [SP-10-9].
const FirstConflictsSeq = 1
