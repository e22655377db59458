package serverd

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Defaults of Config fields left zero.
const (
	// DefaultVersion is Config.Version when empty.
	DefaultVersion = "dev"
	// DefaultRule is Config.DefaultRule when empty.
	DefaultRule = protocol.ServerWins
	// DBFile and AdminTokenFile are the names of the files in DataDir.
	DBFile         = "syncprint.db"
	AdminTokenFile = "admin.token"
	// BatchRetention is how long idempotency records are kept at least.
	BatchRetention = 24 * time.Hour
	// MaxBatchRecords is how many idempotency records the server keeps at
	// most; the oldest are pruned first.
	MaxBatchRecords = 100_000
)

// Config configures a Server. The zero value of every field but DataDir
// means its default.
type Config struct {
	// DataDir holds the database DataDir/syncprint.db and the admin token
	// DataDir/admin.token. Required; created if missing.
	DataDir string
	// DefaultRule applies to collections not in Rules; "" means server-wins.
	DefaultRule protocol.Rule
	// Rules are per-collection precedence rules.
	Rules map[string]protocol.Rule
	// Limits are the announced limits; zero fields take protocol defaults.
	// MaxIDBytes is fixed by the protocol and ignored.
	Limits protocol.Limits
	// MaxSkew is the HLC clamp threshold; 0 means
	// protocol.DefaultMaxSkewMillis.
	MaxSkew time.Duration
	// DisableCompression turns off the zstd and gzip content codings
	// (SP-3-8): the server then announces neither, refuses encoded
	// request bodies and never encodes a response.
	DisableCompression bool
	// RateLimit is requests per second per token; 0 disables it. The burst
	// is max(1, 2*RateLimit).
	RateLimit float64
	// MappedBudget bounds the store file's pages the server process keeps
	// mapped and resident (Linux; see boltdb.Options.MappedBudget): over
	// it, the server lets go of them, and they stay in the page cache. 0
	// means boltdb.DefaultMappedBudget (128 MiB); negative means never.
	MappedBudget int64
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Version is the server's version for Info.Server; "" means "dev".
	Version string
	// Now is the wall clock (a test seam); nil means time.Now.
	Now func() time.Time
	// WrapStore, when set, wraps the store Open opened (DataDir's bbolt
	// file) before the server uses it; Shutdown closes what it returns.
	// A test seam for storage faults: the wrapper can fail writes and
	// commits. nil means the store is used as it is.
	WrapStore func(storage.Store) storage.Store
}

// validate checks cfg and fills defaults into a copy.
func (cfg Config) validate() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if cfg.DataDir == "" {
		return bad("DataDir is required")
	}
	if cfg.DefaultRule == "" {
		cfg.DefaultRule = DefaultRule
	}
	if !cfg.DefaultRule.Valid() {
		return bad("DefaultRule %q is not a precedence rule", cfg.DefaultRule)
	}
	rules := make(map[string]protocol.Rule, len(cfg.Rules))
	for coll, r := range cfg.Rules {
		if err := protocol.ValidateCollection(coll); err != nil {
			return bad("Rules: %v", err)
		}
		if !r.Valid() {
			return bad("Rules[%q]: %q is not a precedence rule", coll, r)
		}
		rules[coll] = r
	}
	cfg.Rules = rules
	def := protocol.DefaultLimits()
	l := &cfg.Limits
	defs := def.Chosen()
	for i, f := range l.Chosen() {
		if *f.V < 0 {
			return bad("Limits.%s is negative", f.Go)
		}
		if *f.V > math.MaxInt32 {
			// SP-2-9: every limit is announced as at most 2^31-1.
			return bad("Limits.%s is %d, over the protocol's bound of %d", f.Go, *f.V, math.MaxInt32)
		}
		if *f.V == 0 {
			*f.V = *defs[i].V
		}
	}
	l.MaxIDBytes = protocol.MaxIDBytes
	if cfg.MaxSkew < 0 {
		return bad("MaxSkew is negative")
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = protocol.DefaultMaxSkewMillis * time.Millisecond
	}
	if cfg.RateLimit < 0 {
		return bad("RateLimit is negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// ruleFor returns the precedence rule of a collection.
func (cfg *Config) ruleFor(collection string) protocol.Rule {
	if r, ok := cfg.Rules[collection]; ok {
		return r
	}
	return cfg.DefaultRule
}
