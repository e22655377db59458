package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Defaults of Config fields left zero, and the bounds of the run.
const (
	// DefaultSteps is Config.Steps when zero.
	DefaultSteps = 120
	// MinClients and MaxClients bound Config.Clients; zero picks a count
	// in between from the seed.
	MinClients = 3
	MaxClients = 5
	// MaxSkew bounds every client's clock skew, either way.
	MaxSkew = time.Hour
	// maxFinalPasses bounds the final syncs: passes over every client
	// until one pass moves nothing.
	maxFinalPasses = 10
	// user owns every client: they are devices of one user and share its
	// collections.
	user = "sim"
)

// itemIDs are the IDs the clients write, in every collection: few, so
// that the clients' edits overlap.
var itemIDs = []string{"a", "b", "c", "d"}

// collectionOf maps each precedence rule to the collection that has it.
var collectionOf = map[protocol.Rule]string{
	protocol.ServerWins: "sw",
	protocol.ClientWins: "cw",
	protocol.LatestWins: "lw",
	protocol.Manual:     "man",
}

// allRules are the precedence rules a run covers when Config.Rules is nil.
var allRules = []protocol.Rule{protocol.ServerWins, protocol.ClientWins, protocol.LatestWins, protocol.Manual}

// Config configures one run. Everything a run does follows from it: two
// runs of the same Config produce the same trace.
type Config struct {
	// Seed drives every choice of the run: the actors' steps, the
	// network's faults, the clocks.
	Seed uint64
	// Clients is the number of client replicas, MinClients to MaxClients;
	// 0 picks one from the seed.
	Clients int
	// Steps is the number of actor steps under faults; 0 means DefaultSteps.
	Steps int
	// Rules are the precedence rules whose collections the clients write;
	// nil means all four.
	Rules []protocol.Rule
	// Dir is where the run keeps its bbolt files, in a subdirectory it
	// removes at the end; "" means os.TempDir(). A tmpfs (/dev/shm) makes
	// runs several times faster: every commit syncs the file.
	Dir string
	// Trace, when set, receives the run's trace, one line per event.
	Trace io.Writer

	// mutant breaks the server's store on purpose (tests of the checks):
	// "drop-records" loses every conflict record, "forget-batches" every
	// idempotency record.
	mutant string
	// exchangesOnly makes every device download in exchanges (tests of
	// the checks whose fault needs many exchanges in flight).
	exchangesOnly bool
	// heavyFaults gives every seed the heaviest fault profile, with the
	// most interleaving (tests of the checks whose fault needs a lost
	// answer and another device's write before the retry).
	heavyFaults bool
}

// Result describes a run that kept every invariant.
type Result struct {
	Config Config
	// TraceHash is the SHA-256 of the trace, in hex: equal for two runs
	// of one Config.
	TraceHash string
	Stats     Stats
}

// Stats counts what a run did.
type Stats struct {
	Puts, Deletes, Resolves, Syncs, FailedSyncs int
	// Network.
	Requests, DroppedRequests, DroppedResponses, Duplicated, Late, Strays int
	// Encoded counts bodies sent in a content coding (zstd, gzip).
	Encoded                                  int
	Partitions, ServerCrashes, ClientCrashes int
	// Outcome.
	Versions, ServerRecords, LocalRecords int
	// Reapplied counts writes the server applied more than once, each time
	// from another batch (see the package doc); not a failure.
	Reapplied int
	// Accounted counts the acknowledged writes by where the no-loss check
	// found them: current, server record, local log, resolved local
	// record, superseded, deletion on the server.
	Accounted map[string]int
	// MetadataDiffs counts items a client holds with the server's
	// fingerprint and version but another HLC or author (see checkConvergence).
	MetadataDiffs int
	FinalPasses   int
}

// Failure is a run that broke an invariant, or whose harness failed. Its
// message names the seed and the command that replays it.
type Failure struct {
	Config   Config
	Problems []string
}

func (f *Failure) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "simulation seed %d failed (%d clients, %d steps, rules %s):\n", f.Config.Seed, f.Config.Clients, f.Config.Steps, rulesFlag(f.Config.Rules))
	for i, p := range f.Problems {
		if i == 20 {
			fmt.Fprintf(&sb, "  ... and %d more\n", len(f.Problems)-i)
			break
		}
		fmt.Fprintf(&sb, "  - %s\n", p)
	}
	fmt.Fprintf(&sb, "replay: %s\n", ReplayCommand(f.Config))
	fmt.Fprintf(&sb, "    or: %s", ReplayTest(f.Config))
	return sb.String()
}

// ReplayCommand is the syncprint command line that runs cfg again, with
// its trace.
func ReplayCommand(cfg Config) string {
	return fmt.Sprintf("go run ./cmd/syncprint sim --seed %d --runs 1 --clients %d --steps %d --rule %s --trace", cfg.Seed, cfg.Clients, cfg.Steps, rulesFlag(cfg.Rules))
}

// ReplayTest is the go test command line that runs cfg again.
func ReplayTest(cfg Config) string {
	return fmt.Sprintf("go test ./internal/sim -run 'TestSim$' -v -sim.seed %d -sim.clients %d -sim.steps %d -sim.rule %s", cfg.Seed, cfg.Clients, cfg.Steps, rulesFlag(cfg.Rules))
}

func rulesFlag(rules []protocol.Rule) string {
	if len(rules) == 0 || len(rules) == len(allRules) {
		return "all"
	}
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// ParseRules parses the --rule flag: "all" or a comma-separated list of
// rule names.
func ParseRules(s string) ([]protocol.Rule, error) {
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []protocol.Rule
	for _, name := range strings.Split(s, ",") {
		r := protocol.Rule(strings.TrimSpace(name))
		if _, ok := collectionOf[r]; !ok {
			return nil, fmt.Errorf("unknown rule %q (want server-wins, client-wins, latest-wins, manual or all)", name)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// world is one run: the server, the clients, the network between them,
// virtual time and the recorded history. Only the scheduler's goroutine
// touches it (a client's background exchange transaction reads the
// client's frozen clock only).
type world struct {
	cfg   Config
	rng   *rand.Rand
	dir   string
	now   time.Time // virtual time: the server's wall clock
	trace hash.Hash
	out   io.Writer

	dec        *coding.Decoder // for the trace and the checks
	big        bool            // contents up to 700 bytes: bodies get encoded
	srvCfg     serverd.Config
	srv        *serverd.Server
	store      *recStore // the server's store, recording committed writes
	serverDown int       // steps the server stays down
	colls      []string  // the collections written, sorted
	rules      map[string]protocol.Rule

	clients []*client
	net     faults    // fault probabilities; zero once healed
	strays  []request // requests delivered later, out of order
	cur     *delivery
	nDeliv  int
	// nested is set while actors take steps inside a request's transit.
	nested bool
	// serial: the clients apply each exchange before sending the next
	// (clientd.Config.SerialExchanges), so that an interleaved step may
	// write to the store of the client whose sync is in flight.
	serial bool

	hist history
	// localLog describes the clients' local conflict-log entries at the
	// end, for failure messages.
	localLog []string
	// heads holds every item's current version on the server; answered
	// the batch IDs the server answered.
	heads    map[itemKey]*version
	answered map[string]bool
	stats    Stats
	problems []string
}

// client is one replica.
type client struct {
	name    string // device name, "d1"
	replica string // "sim/d1"
	path    string
	token   string
	skew    time.Duration
	now     time.Time // the client's wall clock, frozen during an operation
	c       *clientd.Client
	// partitioned counts the steps the client stays cut off.
	partitioned int
	// crashed is set by the network when the client crashes in the
	// middle of an operation; the scheduler restarts it afterwards.
	crashed bool
	// cancel ends the client's operation in flight (set while one runs).
	cancel context.CancelFunc
	// resolving is the write of the client's resolution in flight.
	resolving *write
	writes    int
	// exchangesOnly: the device never takes content with the change info
	// (clientd.Config.DownloadsInExchanges).
	exchangesOnly bool
}

// Run runs one simulation: setup, Steps actor steps under faults, healing
// and final syncs, then the checks. It returns a *Failure when an
// invariant broke or the harness failed.
func Run(cfg Config) (res Result, err error) {
	w := &world{stats: Stats{Accounted: map[string]int{}}, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed5eed)), trace: sha256.New(), out: cfg.Trace, hist: newHistory(), heads: map[itemKey]*version{}, answered: map[string]bool{}}
	// Drawn whether or not it is given, so that the replay command, which
	// gives it, runs the same stream of draws.
	drawn := MinClients + w.rng.IntN(MaxClients-MinClients+1)
	if w.cfg.Clients == 0 {
		w.cfg.Clients = drawn
	}
	if w.cfg.Clients < 1 || w.cfg.Clients > 26 {
		return Result{}, fmt.Errorf("sim: %d clients: want 1 to 26", w.cfg.Clients)
	}
	if w.cfg.Steps == 0 {
		w.cfg.Steps = DefaultSteps
	}
	if w.cfg.Steps < 0 {
		return Result{}, fmt.Errorf("sim: negative steps")
	}
	if len(w.cfg.Rules) == 0 {
		w.cfg.Rules = allRules
	}
	w.cfg.Rules = slices.Clone(w.cfg.Rules)
	base := cfg.Dir
	if base == "" {
		base = os.TempDir()
	}
	if w.dir, err = os.MkdirTemp(base, fmt.Sprintf("syncprint-sim-%d-", cfg.Seed)); err != nil {
		return Result{}, fmt.Errorf("sim: %w", err)
	}
	defer func() {
		w.closeAll()
		if rerr := os.RemoveAll(w.dir); rerr != nil && err == nil {
			err = fmt.Errorf("sim: %w", rerr)
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			if h, ok := p.(harnessError); ok {
				w.problems = append(w.problems, "harness: "+h.Error())
			} else {
				w.problems = append(w.problems, fmt.Sprintf("panic: %v", p))
			}
			err = &Failure{Config: w.cfg, Problems: w.problems}
		}
	}()
	w.setup()
	w.runSteps()
	w.heal()
	w.check()
	if len(w.problems) > 0 {
		return Result{}, &Failure{Config: w.cfg, Problems: w.problems}
	}
	return Result{Config: w.cfg, TraceHash: hex.EncodeToString(w.trace.Sum(nil)), Stats: w.stats}, nil
}

// harnessError is a failure of the simulation itself (it cannot open a
// file), raised by must and turned into a Failure by Run.
type harnessError struct{ error }

func must(err error, what string) {
	if err != nil {
		panic(harnessError{fmt.Errorf("%s: %w", what, err)})
	}
}

// tracef adds a line to the trace.
func (w *world) tracef(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	w.trace.Write([]byte(line))
	w.trace.Write([]byte{'\n'})
	if w.out != nil {
		fmt.Fprintf(w.out, "%s %s\n", w.now.Format("15:04:05.000"), line)
	}
}

// failf records a broken invariant; the run goes on to find the others.
func (w *world) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.problems = append(w.problems, msg)
	w.tracef("FAIL %s", msg)
}

func (w *world) chance(p float64) bool { return p > 0 && w.rng.Float64() < p }

// setup opens the server and the clients.
func (w *world) setup() {
	w.now = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w.rng.IntN(1_000_000)) * time.Second)
	w.rules = map[string]protocol.Rule{}
	for _, r := range w.cfg.Rules {
		w.rules[collectionOf[r]] = r
		w.colls = append(w.colls, collectionOf[r])
	}
	slices.Sort(w.colls)
	w.srvCfg = serverd.Config{
		DataDir:     filepath.Join(w.dir, "server"),
		DefaultRule: protocol.ServerWins,
		Rules:       w.rules,
		Limits:      w.drawLimits(),
		Now:         func() time.Time { return w.now },
		WrapStore:   func(st storage.Store) storage.Store { w.store = &recStore{Store: st, w: w}; return w.store },
	}
	var err error
	w.dec, err = coding.NewDecoder(64 << 20)
	must(err, "decoder")
	w.big = w.rng.IntN(4) == 0
	w.srv, err = serverd.Open(w.srvCfg)
	must(err, "open server")
	w.net = drawFaults(w.rng, w.cfg.heavyFaults)
	w.serial = w.rng.IntN(2) == 0
	w.tracef("seed %d clients %d steps %d rules %s serial %t limits %+v faults %s", w.cfg.Seed, w.cfg.Clients, w.cfg.Steps, rulesFlag(w.cfg.Rules), w.serial, w.srvCfg.Limits, w.net)
	for i := range w.cfg.Clients {
		// Every other device downloads in exchanges only, so that both
		// ways of downloading (SP-6.1-8) meet the same faults.
		c := &client{name: fmt.Sprintf("d%d", i+1), exchangesOnly: i%2 == 1 || w.cfg.exchangesOnly}
		c.replica = user + "/" + c.name
		c.path = filepath.Join(w.dir, c.name+".db")
		c.token, err = w.srv.CreateToken(user, c.name)
		must(err, "create token")
		w.clients = append(w.clients, c)
		w.openClient(c)
	}
}

// drawLimits picks small server limits, so that sessions take several
// batches, pages and rounds; with a small max_batch_bytes (max_item_bytes
// then too) downloads are deferred to later rounds.
func (w *world) drawLimits() protocol.Limits {
	l := protocol.Limits{MaxBatchItems: 1 + w.rng.IntN(4), MaxPage: 1 + w.rng.IntN(5), MaxIDs: 1 + w.rng.IntN(4)}
	if w.rng.IntN(2) == 0 {
		l.MaxBatchBytes = 24 + w.rng.IntN(64)
		l.MaxItemBytes = l.MaxBatchBytes
	}
	return l
}

// content returns new content for a write of c: unique to the write,
// padded to a random length within max_item_bytes.
func (w *world) content(c *client) []byte {
	c.writes++
	b := fmt.Appendf(nil, "%s#%d", c.name, c.writes)
	limit := w.srvCfg.Limits.MaxItemBytes
	if limit == 0 {
		limit = protocol.DefaultMaxItemBytes
	}
	pad := min(40, limit-len(b))
	if w.big {
		pad = min(700, limit-len(b))
	}
	if pad > 0 {
		b = append(b, strings.Repeat(".", w.rng.IntN(pad+1))...)
	}
	return b
}

// openClient opens (or reopens, after a crash) a client's store with a
// newly drawn clock skew: a restarted device may come back with its clock
// anywhere within MaxSkew.
func (w *world) openClient(c *client) {
	c.skew = time.Duration(w.rng.Int64N(int64(2*MaxSkew)+1)) - MaxSkew
	c.now = w.now.Add(c.skew)
	cl, err := clientd.Open(c.path, clientd.Config{
		ServerURL:  "http://127.0.0.1:1", // never dialled: the network is simulated
		Token:      c.token,
		HTTPClient: &http.Client{Transport: &transport{w: w, c: c}},
		// Retries inside a session wait a nanosecond: time is virtual.
		MinBackoff:           time.Nanosecond,
		MaxBackoff:           time.Nanosecond,
		WatchTimeout:         -1,
		Now:                  func() time.Time { return c.now },
		SerialExchanges:      w.serial,
		DownloadsInExchanges: c.exchangesOnly,
		// The transport runs other actors' steps: every request goes on
		// the scheduler's goroutine (see Determinism in doc.go).
		NoPrefetch: true,
	})
	must(err, "open client "+c.name)
	c.c = cl
	w.tracef("open %s skew %s", c.name, c.skew)
}

func (w *world) closeAll() {
	for _, c := range w.clients {
		if c.c != nil {
			_ = c.c.Close()
			c.c = nil
		}
	}
	if w.srv != nil {
		_ = w.srv.Shutdown(context.Background())
		w.srv = nil
	}
	if w.dec != nil {
		w.dec.Close()
	}
}

// restartServer shuts the server down and opens it again on the same data
// directory: what it committed survives, nothing else does.
func (w *world) restartServer(why string) {
	w.stats.ServerCrashes++
	w.tracef("server restart (%s)", why)
	must(w.srv.Shutdown(context.Background()), "shut down server")
	var err error
	w.srv, err = serverd.Open(w.srvCfg)
	must(err, "reopen server")
}

// crashClient closes a client and opens its store again: what it committed
// survives, the session in flight is abandoned.
func (w *world) restartClient(c *client, why string) {
	w.stats.ClientCrashes++
	w.tracef("client %s restart (%s)", c.name, why)
	if err := c.c.Close(); err != nil {
		w.failf("close client %s: %v", c.name, err)
	}
	c.c = nil
	c.crashed = false
	w.openClient(c)
}

// Step kinds and their weights.
type stepKind int

const (
	stepPut stepKind = iota
	stepDelete
	stepSync
	stepResolve
	stepStray
	stepServerCrash
	stepClientCrash
	stepPartition
	stepClockJump
	nStepKinds
)

var stepWeights = [nStepKinds]int{
	stepPut: 30, stepDelete: 8, stepSync: 26, stepResolve: 6, stepStray: 6,
	stepServerCrash: 2, stepClientCrash: 2, stepPartition: 3, stepClockJump: 2,
}

func (w *world) pickStep() stepKind {
	total := 0
	for _, n := range stepWeights {
		total += n
	}
	r := w.rng.IntN(total)
	for k, n := range stepWeights {
		if r < n {
			return stepKind(k)
		}
		r -= n
	}
	panic("bug: step weights")
}

// runSteps runs the actor steps under faults.
func (w *world) runSteps() {
	for step := 1; step <= w.cfg.Steps; step++ {
		w.now = w.now.Add(time.Duration(w.rng.IntN(3000)) * time.Millisecond)
		if w.serverDown > 0 {
			w.serverDown--
		}
		for _, c := range w.clients {
			if c.partitioned > 0 {
				c.partitioned--
			}
		}
		c := w.clients[w.rng.IntN(len(w.clients))]
		w.step(c, w.pickStep())
	}
}

// step has client c (when the step is a client's) take one step.
func (w *world) step(c *client, kind stepKind) {
	switch kind {
	case stepStray, stepServerCrash:
		// Not the client's step: its clock is left alone (it may be busy
		// with a request in transit, its exchanges applied on another
		// goroutine, which reads the clock).
	default:
		c.now = w.now.Add(c.skew)
	}
	switch kind {
	case stepPut:
		w.put(c)
	case stepDelete:
		w.del(c)
	case stepSync:
		w.sync(c)
	case stepResolve:
		w.resolve(c)
	case stepStray:
		w.deliverStray()
	case stepServerCrash:
		w.restartServer("between requests")
		if w.chance(0.5) {
			w.serverDown = 1 + w.rng.IntN(4)
			w.tracef("server down for %d steps", w.serverDown)
		}
	case stepClientCrash:
		w.restartClient(c, "between operations")
	case stepPartition:
		c.partitioned = 1 + w.rng.IntN(12)
		w.stats.Partitions++
		w.tracef("partition %s for %d steps", c.name, c.partitioned)
	case stepClockJump:
		if w.rng.IntN(2) == 0 {
			d := time.Duration(w.rng.IntN(600)) * time.Second
			w.now = w.now.Add(d)
			w.tracef("time jumps %s", d)
			break
		}
		// The client's wall clock is set anew (forwards or backwards,
		// within MaxSkew) while it runs: its HLC must not go back.
		c.skew = time.Duration(w.rng.Int64N(int64(2*MaxSkew)+1)) - MaxSkew
		c.now = w.now.Add(c.skew)
		w.tracef("%s's clock is set to skew %s", c.name, c.skew)
	}
	if c.crashed {
		w.restartClient(c, "in the middle of an operation")
	}
}

// interleave has other actors take a few steps while busy's request is in
// transit: other clients sync and resolve (the server changes under
// busy's session), and clients write — busy itself too when exchanges are
// serial (an edit while its sync runs).
func (w *world) interleave(busy *client, path string, exch *protocol.ExchangeRequest) {
	w.nested = true
	defer func() { w.nested = false }()
	n := 1 + w.rng.IntN(3)
	w.tracef("while %s's %s is in transit, %d step(s):", busy.name, path, n)
	for range n {
		w.now = w.now.Add(time.Duration(w.rng.IntN(1000)) * time.Millisecond)
		c := w.clients[w.rng.IntN(len(w.clients))]
		kind := w.pickStep()
		switch kind {
		case stepPut, stepDelete:
			if c == busy && !w.serial {
				continue
			}
			if c == busy {
				// busy's clock is frozen for its operation. Half of its
				// writes go to an item of the exchange in transit: an
				// edit made while its upload or download is out.
				var ids []string
				if exch != nil {
					for _, u := range exch.Uploads {
						ids = append(ids, u.ID)
					}
					ids = append(ids, exch.Downloads...)
				}
				if len(ids) > 0 && w.rng.IntN(2) == 0 {
					id := ids[w.rng.IntN(len(ids))]
					if _, err := c.c.Get(exch.Collection, id); kind == stepDelete && err == nil {
						w.delItem(c, exch.Collection, id)
					} else {
						w.putItem(c, exch.Collection, id)
					}
				} else if kind == stepPut {
					w.put(c)
				} else {
					w.del(c)
				}
				continue
			}
		case stepSync, stepResolve, stepClientCrash, stepPartition:
			if c == busy {
				continue
			}
		case stepClockJump:
			// busy's clock is read by its exchanges applied on another
			// goroutine unless they are serial: set it only then.
			if c == busy && !w.serial {
				continue
			}
		}
		w.step(c, kind)
	}
	w.tracef("end of interleaving")
}

// heal ends every fault, delivers the requests still in flight, and syncs
// every client until a whole pass moves nothing.
func (w *world) heal() {
	w.tracef("heal")
	w.net = faults{}
	w.serverDown = 0
	for _, c := range w.clients {
		c.partitioned = 0
	}
	for len(w.strays) > 0 {
		w.deliverStray()
	}
	for pass := 1; ; pass++ {
		w.stats.FinalPasses = pass
		if pass > maxFinalPasses {
			w.failf("no quiescence after %d passes of final syncs", maxFinalPasses)
			return
		}
		w.now = w.now.Add(time.Second)
		quiet := true
		for _, c := range w.clients {
			c.now = w.now.Add(c.skew)
			rep, err := c.c.Sync(context.Background())
			w.stats.Syncs++
			w.tracef("final sync %s: up %d down %d conflicts %d rounds %d: %s", c.name, rep.Uploaded, rep.Downloaded, rep.Conflicts, rep.Rounds, errClass(err))
			if err != nil {
				w.failf("final sync of %s (pass %d) failed: %v", c.name, pass, err)
				return
			}
			st, err := c.c.Status()
			must(err, "status")
			if rep.Uploaded+rep.Downloaded+rep.Conflicts > 0 || st.Pending > 0 {
				quiet = false
			}
		}
		if quiet {
			return
		}
	}
}

// errClass names an error without its text (which may hold random IDs),
// for the trace.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, clientd.ErrNetwork):
		return "network"
	case errors.Is(err, clientd.ErrStale):
		return "stale"
	case errors.Is(err, clientd.ErrNotFound):
		return "not-found"
	}
	if code := protocol.CodeOf(err); code != "" {
		return string(code)
	}
	return "other"
}

// tombstone is the fingerprint of a deleted item: the same on every
// replica.
func tombstone(id string) fingerprint.Fingerprint { return fingerprint.Of(id, true, nil) }

func accounted(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Puts += o.Puts
	s.Deletes += o.Deletes
	s.Resolves += o.Resolves
	s.Syncs += o.Syncs
	s.FailedSyncs += o.FailedSyncs
	s.Requests += o.Requests
	s.DroppedRequests += o.DroppedRequests
	s.DroppedResponses += o.DroppedResponses
	s.Duplicated += o.Duplicated
	s.Late += o.Late
	s.Strays += o.Strays
	s.Encoded += o.Encoded
	s.Partitions += o.Partitions
	s.ServerCrashes += o.ServerCrashes
	s.ClientCrashes += o.ClientCrashes
	s.Versions += o.Versions
	s.ServerRecords += o.ServerRecords
	s.LocalRecords += o.LocalRecords
	s.Reapplied += o.Reapplied
	s.MetadataDiffs += o.MetadataDiffs
	s.FinalPasses += o.FinalPasses
	for k, n := range o.Accounted {
		if s.Accounted == nil {
			s.Accounted = map[string]int{}
		}
		s.Accounted[k] += n
	}
}

// String renders the counts on a few lines.
func (s Stats) String() string {
	return fmt.Sprintf("clients: %d puts, %d deletes, %d resolves, %d syncs (%d failed under faults)\n"+
		"network: %d requests; lost %d requests and %d responses; %d duplicated, %d late, %d strays; %d partitions; %d bodies encoded\n"+
		"crashes: %d server restarts, %d client restarts\n"+
		"outcome: %d server versions, %d server conflict records, %d local conflict records; %d writes reapplied from another batch; %d items with another HLC or author than the server's\n"+
		"acknowledged writes found: %s",
		s.Puts, s.Deletes, s.Resolves, s.Syncs, s.FailedSyncs,
		s.Requests, s.DroppedRequests, s.DroppedResponses, s.Duplicated, s.Late, s.Strays, s.Partitions, s.Encoded,
		s.ServerCrashes, s.ClientCrashes,
		s.Versions, s.ServerRecords, s.LocalRecords, s.Reapplied, s.MetadataDiffs, accounted(s.Accounted))
}
