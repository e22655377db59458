package bench

// The contract between the harness and a client runner (`syncprint
// bench-client` for Syncprint, bench/peers/pouchdb/client.js for the peer).
// Both speak it the same way, as JSON lines:
//
//  1. the harness writes one Job on the runner's standard input;
//  2. the runner prepares (opens its store, builds its data) and writes
//     {"phase":"ready"};
//  3. the harness takes its snapshots (wire bytes, peak-memory marks) and
//     writes "go";
//  4. the runner performs the timed step and writes {"phase":"timed",...}
//     with the step's own wall time, measured around the step only;
//  5. the harness reads the client's peak memory and writes "verify" (or
//     closes standard input to skip it);
//  6. the runner checks the result against Job.Expect and writes
//     {"phase":"verified",...}, then exits when its input closes.
//
// A runner that fails writes {"phase":"error","error":"..."} and exits
// non-zero.

// Ops of a Job.
const (
	// OpPut writes Job.Edits into the local store; the timed step is the
	// local write (it is setup for every workload).
	OpPut = "put"
	// OpSync runs one sync session with the server (for the peer, the
	// replication Job.Direction names); Job.Expect is checked afterwards.
	OpSync = "sync"
	// OpMany runs Job.Many: many clients, each with its own store, editing
	// and syncing concurrently for a fixed time.
	OpMany = "many"
	// OpFloor measures the floor of Job.Floor (Syncprint only, see Floor)
	// in the runner's new process: it opens a server store (serverd/boltdb)
	// at Job.Store, and the timed step hashes, encodes, decodes and
	// commits the items in batches, one durable commit each.
	OpFloor = "floor"
)

// Directions of a peer replication (a Syncprint sync always goes both ways).
const (
	DirPull = "pull"
	DirPush = "push"
	DirBoth = "both"
)

// Job is one step of a client runner.
type Job struct {
	Op string `json:"op"`
	// Store is the local store: a bbolt file for Syncprint, a LevelDB
	// directory for the peer.
	Store string `json:"store"`
	// Server is the server's base URL (the byte-counting proxy's address).
	Server string `json:"server,omitempty"`
	// Token is the device's bearer token (Syncprint).
	Token string `json:"token,omitempty"`
	// Collection is the collection name (Syncprint) or the server
	// database's name (the peer).
	Collection string      `json:"collection"`
	Content    ContentSpec `json:"content"`
	// Edits are the items OpPut writes.
	Edits []Range `json:"edits,omitempty"`
	// Direction is the peer's replication direction for OpSync.
	Direction string `json:"direction,omitempty"`
	// BatchSize is the peer's replication batch size (0: the runner's default).
	BatchSize int `json:"batch_size,omitempty"`
	// Expect is checked after OpSync when the harness asks for it.
	Expect *Expect `json:"expect,omitempty"`
	// Many configures OpMany.
	Many *ManySpec `json:"many,omitempty"`
	// CPUProfile, when set, is where the runner writes a CPU profile of
	// the timed step (Syncprint only).
	CPUProfile string `json:"cpu_profile,omitempty"`
	// Trace asks the runner to list the timed step's HTTP requests
	// (Syncprint only).
	Trace bool `json:"trace,omitempty"`
	// Warm, for OpSync (Syncprint only), has the timed sync run in a
	// process that has synced before (see WarmSpec).
	Warm *WarmSpec `json:"warm,omitempty"`
	// Floor configures OpFloor.
	Floor *FloorSpec `json:"floor,omitempty"`
}

// FloorSpec is the work of OpFloor: Items items of Job.Content, in batches
// of Batch.
type FloorSpec struct {
	Items int `json:"items"`
	Batch int `json:"batch"`
}

// WarmSpec prepares the timed sync of a client process that has synced
// before, as an application that runs would: its HTTP connection, heap,
// content coders and store pages in use. Before saying ready the runner
// writes PrimeOwn in its store and PrimeOther in the other device's
// (Store, Token), syncs the other device, then its own (both ways), then
// writes Other on the other device and syncs it, and last writes Own in
// its store: the timed sync then moves Own up and Other down, like the
// new process's.
type WarmSpec struct {
	Store      string `json:"store"`
	Token      string `json:"token"`
	PrimeOwn   Range  `json:"prime_own"`
	PrimeOther Range  `json:"prime_other"`
	Own        Range  `json:"own"`
	Other      Range  `json:"other"`
}

// RequestTrace is one HTTP request of a timed step: its path, its round
// trip until the response's headers, and the bodies' sizes.
type RequestTrace struct {
	Path      string  `json:"path"`
	StartMs   float64 `json:"start_ms"`
	Millis    float64 `json:"ms"`
	Status    int     `json:"status"`
	ReqBytes  int64   `json:"req_bytes"`
	RespBytes int64   `json:"resp_bytes"`
}

// Range is the items itemID(From), itemID(From+Step), ... below To, with
// the content of version Tag. Step 0 means 1.
type Range struct {
	From int    `json:"from"`
	To   int    `json:"to"`
	Step int    `json:"step,omitempty"`
	Tag  string `json:"tag"`
}

// Each calls fn for every index of the range.
func (r Range) Each(fn func(i int)) {
	step := max(r.Step, 1)
	for i := r.From; i < r.To; i += step {
		fn(i)
	}
}

// Len is the number of items in the range.
func (r Range) Len() int {
	if r.To <= r.From {
		return 0
	}
	step := max(r.Step, 1)
	return (r.To - r.From + step - 1) / step
}

// Expect is what the local store must hold after a sync: exactly Items
// live items item-0000000 .. itemID(Items-1), the content of the last
// range of Tags that holds an item (BaseTag when none does), and the
// conflicts listed. Items in a Conflicts range are checked only by it.
type Expect struct {
	Items   int     `json:"items"`
	BaseTag string  `json:"base_tag"`
	Tags    []Range `json:"tags,omitempty"`
	// OnlyListed checks the count and the items of Tags and Conflicts
	// only, not every item (for million-item collections).
	OnlyListed bool            `json:"only_listed,omitempty"`
	Conflicts  []ConflictCheck `json:"conflicts,omitempty"`
}

// ConflictCheck says that every item of the range was edited on both
// sides, with versions TagA (this client's) and TagB (the other side's).
// Syncprint (server-wins) must hold TagB and keep TagA in its local
// conflict log. The peer must hold both revisions, with the winner the one
// CouchDB's rule picks (the greater revision ID) and the other listed in
// _conflicts. Either way no version is lost.
type ConflictCheck struct {
	Range
	TagA string `json:"tag_a"`
	TagB string `json:"tag_b"`
}

// ManySpec configures OpMany.
type ManySpec struct {
	Clients []ManyClient `json:"clients"`
	// Items is how many items each client holds (synced in setup); the
	// edits rewrite them in turn.
	Items int `json:"items"`
	// Edits is how many items a client changes before each sync.
	Edits int `json:"edits"`
	// DurationMillis is how long the timed phase runs.
	DurationMillis int `json:"duration_ms"`
	// WarmupMillis is how long the clients run the same cycles before the
	// runner says ready: the server's store grows to its working size and
	// its process to its working memory, so that the timed phase measures
	// a server that has been serving, as a deployed one has. Nothing of the
	// warm-up is counted (bytes, CPU, latencies, items).
	WarmupMillis int `json:"warmup_ms,omitempty"`
	// IntervalMillis is the period of each client's edit-and-sync cycle
	// (0: back to back). A cycle that overruns starts the next at once.
	IntervalMillis int `json:"interval_ms"`
	// Raw: the clients speak the protocol directly, one exchange per
	// cycle, with no store and no session (the many-raw workload).
	Raw bool `json:"raw,omitempty"`
}

// ManyClient is one client of OpMany.
type ManyClient struct {
	Store      string `json:"store"`
	Token      string `json:"token,omitempty"`
	Collection string `json:"collection"`
}

// Message is one line a runner writes.
type Message struct {
	Phase string `json:"phase"` // ready, timed, verified, error
	Error string `json:"error,omitempty"`
	// Millis is the timed step's wall time.
	Millis float64 `json:"ms,omitempty"`
	// Uploaded, Downloaded and Conflicts are what the step reported.
	Uploaded   int `json:"uploaded,omitempty"`
	Downloaded int `json:"downloaded,omitempty"`
	Conflicts  int `json:"conflicts,omitempty"`
	// Verified is true when Expect held; VerifyError says why not.
	Verified    bool        `json:"verified,omitempty"`
	VerifyError string      `json:"verify_error,omitempty"`
	Many        *ManyResult `json:"many,omitempty"`
	// Requests lists the timed step's HTTP requests when Job.Trace asked.
	Requests []RequestTrace `json:"requests,omitempty"`
}

// ManyResult is the outcome of OpMany's timed phase.
type ManyResult struct {
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"`
	// Syncs counts completed sync sessions; Errors failed ones.
	Syncs  int `json:"syncs"`
	Errors int `json:"errors"`
	// FirstError is one of the errors, for the report.
	FirstError string `json:"first_error,omitempty"`
	// Edited counts local edits made; Applied counts those the server
	// applied (uploads reported by the sessions).
	Edited  int `json:"edited"`
	Applied int `json:"applied"`
	// Offered is the edits per second the clients try to make
	// (clients x edits / interval; 0 back to back), set by the harness.
	Offered float64 `json:"offered_per_s,omitempty"`
	// Sync* are percentiles of one sync session's wall time (from the
	// local edit done until the session ends).
	SyncP50 float64 `json:"sync_p50_ms"`
	SyncP99 float64 `json:"sync_p99_ms"`
	SyncMax float64 `json:"sync_max_ms"`
	// Exchange* are percentiles of one /v1/exchange request's round trip
	// (Syncprint only; the peer has no single exchange request).
	Exchanges   int     `json:"exchanges,omitempty"`
	ExchangeP50 float64 `json:"exchange_p50_ms,omitempty"`
	ExchangeP99 float64 `json:"exchange_p99_ms,omitempty"`
}
