package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Workload names (Config.Workloads).
const (
	WorkPull        = "pull"
	WorkPush        = "push"
	WorkBidi        = "bidirectional"
	WorkIncremental = "incremental"
	WorkMany        = "many"
	WorkManyRaw     = "many-raw"
	// WorkIncrementalWarm is incremental timed in a client process that
	// has synced before, as in an application that runs: the workload
	// incremental measures it for Syncprint beside the new process.
	WorkIncrementalWarm = "incremental-warm"
)

// AllWorkloads lists the workloads in the order they run.
var AllWorkloads = []string{WorkPull, WorkPush, WorkBidi, WorkIncremental, WorkMany, WorkManyRaw}

// Defaults of Config fields left zero: the workloads, sized so
// that the whole run for both systems takes a few minutes on 2 cores.
const (
	DefaultRuns          = 5
	DefaultPeerRuns      = 3
	DefaultWarmupRuns    = 1
	DefaultItems         = 10_000
	DefaultSize          = 200
	DefaultContent       = ContentText
	DefaultBidiEdits     = 1_000
	DefaultBidiCommon    = 100
	DefaultIncChanges    = 10
	DefaultPeerIncMax    = 10_000
	DefaultManyClients   = 200
	DefaultManyDuration  = 10 * time.Second
	DefaultManyInterval  = 100 * time.Millisecond
	DefaultManyWarmup    = 2 * time.Second
	DefaultManyEdits     = 10
	DefaultManyItems     = 20
	DefaultPeerBatchSize = 1000
	DefaultNode          = "node"
)

// DefaultIncSizes are the incremental workload's collection sizes.
var DefaultIncSizes = []int{10_000, 100_000, 1_000_000}

// Config configures a benchmark run. The zero value of every field but
// Exe (and PeerDir when the peer runs) means its default.
type Config struct {
	// Exe is the syncprint binary: it runs `serve` and `bench-client`.
	Exe string
	// Systems to run: Syncprint, PouchDB. Empty: both.
	Systems []string
	// Workloads to run, from AllWorkloads. Empty: all.
	Workloads []string
	// Runs is how many timed runs each Syncprint workload gets (the
	// median is reported); PeerRuns the same for the peer, whose runs take
	// seconds each. 0: DefaultRuns, DefaultPeerRuns.
	Runs, PeerRuns int
	// WarmupRuns is how many untimed runs of the same step, by the same
	// system on a fresh copy of the fixture, go before each timed run of
	// pull, push, bidirectional and incremental (many and many-raw have
	// their own warm-up, ManyWarmup). 0: DefaultWarmupRuns; negative:
	// none.
	//
	// Why: the two systems' runs alternate, so without it each timed run
	// inherits the machine as the other system's run left it. On the
	// virtual machine of docs/performance.md the host takes back memory
	// that exited processes freed; a Syncprint step right after the
	// peer's processes exited took 1.4-2 times its CPU time, writing
	// huge pages the host had to back again, while a run after a run of
	// its own did not. The peer's 4 KiB pages cost the same either way.
	WarmupRuns int
	// Items is the collection size of pull, push and bidirectional;
	// Size the content bytes of an item; Content its kind (ContentText or
	// ContentRandom).
	Items, Size int
	Content     string
	// BidiEdits is how many items each side edits in bidirectional, of
	// which BidiCommon on both sides.
	BidiEdits, BidiCommon int
	// IncSizes are the incremental collection sizes; IncChanges the
	// items changed on each side. The peer runs the sizes up to
	// PeerIncMax only (building a million-document PouchDB takes tens of
	// minutes here); negative PeerIncMax: no limit.
	IncSizes   []int
	IncChanges int
	PeerIncMax int
	// ManyClients clients each edit ManyEdits of their ManyItems items
	// and sync, once per ManyInterval (negative: back to back), for
	// ManyDuration, after ManyWarmup of the same load that no figure counts
	// (negative: none).
	ManyClients  int
	ManyDuration time.Duration
	ManyInterval time.Duration
	ManyWarmup   time.Duration
	ManyEdits    int
	ManyItems    int
	// ManyClientDir holds the many workload's client stores (both
	// systems). 200 simulated devices each have a disk of their own; on one
	// machine their fsyncs would queue on the server's disk and measure
	// that disk instead of the server. "": DefaultManyClientDir() (a tmpfs
	// when there is one), "-": under WorkDir like every other store. The
	// servers' data stay on WorkDir's disk, durably.
	ManyClientDir string
	// Link is the network path the timed steps cross, emulated by the
	// byte-counting proxy: one path per device, shared by its connections
	// (in many, each device its own); both systems alike; set-up and
	// verification go at loopback speed. Zero: loopback as it is.
	Link Link
	// PeerDir is bench/peers/pouchdb (server.js, client.js, node_modules).
	PeerDir string
	// Node is the node binary. "": DefaultNode.
	Node string
	// PeerBatchSize is PouchDB's replication batch_size. 0:
	// DefaultPeerBatchSize (PouchDB's own default is 100, about half as
	// fast here).
	PeerBatchSize int
	// WorkDir holds the servers' data dirs and the client stores;
	// required. Everything is written under it.
	WorkDir string
	// ProfileDir, when set, receives CPU profiles of the Syncprint server
	// and client of each workload's last run.
	ProfileDir string
	// KeepRuns keeps every run's copy of the fixture (with the server's
	// log) under WorkDir instead of removing it after the run.
	KeepRuns bool
	// SkipFloor skips measuring the floor of pull and push.
	SkipFloor bool
	// Log receives progress lines. nil: discard.
	Log io.Writer
	// Version is the syncprint version, for the report.
	Version string
}

func (cfg *Config) validate() error {
	if len(cfg.Systems) == 0 {
		cfg.Systems = []string{Syncprint, PouchDB}
	}
	for _, s := range cfg.Systems {
		if s != Syncprint && s != PouchDB {
			return fmt.Errorf("unknown system %q (want %s or %s)", s, Syncprint, PouchDB)
		}
	}
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = AllWorkloads
	}
	for _, w := range cfg.Workloads {
		if !slices.Contains(AllWorkloads, w) {
			return fmt.Errorf("unknown workload %q (want one of %v)", w, AllWorkloads)
		}
	}
	if cfg.Exe == "" && slices.Contains(cfg.Systems, Syncprint) {
		return errors.New("the syncprint binary (Exe) is required")
	}
	if cfg.WorkDir == "" {
		return errors.New("WorkDir is required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Runs, DefaultRuns)
	def(&cfg.PeerRuns, DefaultPeerRuns)
	def(&cfg.WarmupRuns, DefaultWarmupRuns)
	cfg.WarmupRuns = max(cfg.WarmupRuns, 0)
	def(&cfg.Items, DefaultItems)
	def(&cfg.Size, DefaultSize)
	def(&cfg.BidiEdits, DefaultBidiEdits)
	def(&cfg.BidiCommon, DefaultBidiCommon)
	def(&cfg.IncChanges, DefaultIncChanges)
	def(&cfg.PeerIncMax, DefaultPeerIncMax)
	def(&cfg.ManyClients, DefaultManyClients)
	def(&cfg.ManyEdits, DefaultManyEdits)
	def(&cfg.ManyItems, DefaultManyItems)
	def(&cfg.PeerBatchSize, DefaultPeerBatchSize)
	if cfg.Content == "" {
		cfg.Content = DefaultContent
	}
	if cfg.Content != ContentText && cfg.Content != ContentRandom {
		return fmt.Errorf("content %q: want %s or %s", cfg.Content, ContentText, ContentRandom)
	}
	if len(cfg.IncSizes) == 0 {
		cfg.IncSizes = DefaultIncSizes
	}
	if cfg.ManyDuration == 0 {
		cfg.ManyDuration = DefaultManyDuration
	}
	if cfg.ManyInterval == 0 {
		cfg.ManyInterval = DefaultManyInterval
	}
	if cfg.ManyInterval < 0 {
		cfg.ManyInterval = 0
	}
	if cfg.ManyWarmup == 0 {
		cfg.ManyWarmup = DefaultManyWarmup
	}
	if cfg.ManyWarmup < 0 {
		cfg.ManyWarmup = 0
	}
	if cfg.Node == "" {
		cfg.Node = DefaultNode
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	switch {
	case cfg.Runs < 1 || cfg.PeerRuns < 1:
		return errors.New("runs must be at least 1")
	case cfg.Items < 1 || cfg.Size < 1:
		return errors.New("items and size must be positive")
	case cfg.has(WorkBidi) && (cfg.BidiEdits < 1 || cfg.BidiCommon < 0 || cfg.BidiCommon > cfg.BidiEdits || 2*cfg.BidiEdits-cfg.BidiCommon > cfg.Items):
		return fmt.Errorf("bidirectional: %d edits per side with %d in common do not fit %d items", cfg.BidiEdits, cfg.BidiCommon, cfg.Items)
	case cfg.ManyClients < 1 || cfg.ManyEdits < 1 || cfg.ManyItems < cfg.ManyEdits || cfg.ManyDuration < 0:
		return errors.New("many: clients and edits must be positive, items at least edits")
	}
	for _, n := range cfg.IncSizes {
		if cfg.has(WorkIncremental) && (n < 2*cfg.IncChanges || cfg.IncChanges < 1) {
			return fmt.Errorf("incremental: %d changes per side do not fit %d items", cfg.IncChanges, n)
		}
	}
	if slices.Contains(cfg.Systems, PouchDB) && cfg.PeerDir == "" {
		return errors.New("PeerDir is required to run the peer")
	}
	return nil
}

func (cfg *Config) has(workload string) bool { return slices.Contains(cfg.Workloads, workload) }

func (cfg *Config) contentSpec() ContentSpec { return ContentSpec{Kind: cfg.Content, Size: cfg.Size} }

// DefaultManyClientDir is /dev/shm (a tmpfs on Linux) when it exists and
// is writable, else "" (the stores go under WorkDir).
func DefaultManyClientDir() string {
	f, err := os.CreateTemp("/dev/shm", "syncprint-bench-probe-")
	if err != nil {
		return ""
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(name)
	return "/dev/shm"
}
