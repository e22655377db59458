package serverd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Store and Tx are the storage contract the server runs on; see package
// storage.
type (
	Store = storage.Store
	Tx    = storage.Tx
)

// Meta keys of the data set.
const (
	metaEpoch  = "epoch"
	metaSecret = "secret"
	metaHLC    = "hlc"
)

// HTTP timeouts of Serve. There is no write timeout: a watch may take up
// to watch_max_ms before its response is written.
const (
	// ReadTimeout bounds reading one request (headers and body).
	ReadTimeout = 2 * time.Minute
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout = 2 * time.Minute
)

// tokenPrefix starts every bearer token; 43 base64url characters follow.
const (
	tokenPrefix  = "sp_"
	tokenRandLen = 32
	tokenLen     = len(tokenPrefix) + 43
)

// Server is a Syncprint server over one data directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   storage.Store
	clock   *changelog.Clock
	cursors cursors
	// restoredFrom is the epoch of the backup this data set was restored
	// from, when Open took a new epoch for it; else "".
	restoredFrom string
	admin        string
	hub          *hub
	limiter      *limiter // nil when rate limiting is off
	// codings are the content codings offered (nil: none), with their
	// encoder and a decoder bounded by max_body_bytes.
	codings  []string
	encoder  *coding.Encoder
	decoder  *coding.Decoder
	features []string // announced in Info
	http     *fasthttp.Server
	handler  fasthttp.RequestHandler
	quit     chan struct{} // closed by Shutdown: ends watches
	// watching counts watch requests currently waiting.
	watching atomic.Int64

	// batchRetention and batchKeep bound the idempotency records (fields
	// so that tests can shrink them).
	batchRetention time.Duration
	batchKeep      int

	mu        sync.RWMutex // guards closing, listeners; held shared while a request enters
	closing   bool
	listeners []net.Listener
	inflight  sync.WaitGroup // requests inside the handler
	warming   sync.WaitGroup // coding.Warm, started by Open

	shutdownOnce sync.Once
	shutdownDone chan struct{} // closed when Shutdown finished
	shutdownErr  error         // set before shutdownDone is closed
}

// Open validates cfg, opens or creates the data directory and its
// database, and on first start creates the epoch, the cursor secret and the
// admin token. It fails with ErrInvalidConfig for a bad cfg and with
// ErrDataDirLocked when another process has the database open.
func Open(cfg Config) (*Server, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("open server: %w", err)
	}
	if l := cfg.Limits; l.MaxItemBytes > l.MaxBatchBytes || l.MaxItemBytes >= l.MaxBodyBytes {
		// Allowed (SP-3-13: such an item stays pending on its device and
		// is reported), but an item the limits admit could never be sent.
		cfg.Logger.Warn("limits: an item of max_item_bytes does not fit in one exchange; items too large for an exchange stay pending on their devices",
			"max_item_bytes", l.MaxItemBytes, "max_batch_bytes", l.MaxBatchBytes, "max_body_bytes", l.MaxBodyBytes)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open server: create data dir: %w", err)
	}
	st, err := boltdb.Open(filepath.Join(cfg.DataDir, DBFile), boltdb.Options{MappedBudget: cfg.MappedBudget})
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return nil, fmt.Errorf("open server: %s: %w", cfg.DataDir, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("open server: %w", err)
	}
	var store storage.Store = st
	if cfg.WrapStore != nil {
		store = cfg.WrapStore(st)
	}
	s, err := newServer(cfg, store)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return s, nil
}

// newServer builds a server over an open store (any backend).
func newServer(cfg Config, st storage.Store) (*Server, error) {
	s := &Server{
		cfg:            cfg,
		log:            cfg.Logger,
		store:          st,
		clock:          changelog.NewClock(cfg.Now),
		hub:            newHub(),
		quit:           make(chan struct{}),
		shutdownDone:   make(chan struct{}),
		batchRetention: BatchRetention,
		batchKeep:      MaxBatchRecords,
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit)
	}
	s.features = slices.Clone(baseFeatures)
	if !cfg.DisableCompression {
		var err error
		if s.encoder, err = coding.NewEncoder(); err != nil {
			return nil, fmt.Errorf("open server: %w", err)
		}
		if s.decoder, err = coding.NewDecoder(cfg.Limits.MaxBodyBytes); err != nil {
			return nil, fmt.Errorf("open server: %w", err)
		}
		s.codings = coding.Supported
		s.features = append(s.features, coding.Supported...)
		// The first bodies a new process encodes and decodes would pay
		// for the codec's memory; pay it now, beside the store's opening.
		s.warming.Add(1)
		go func() {
			defer s.warming.Done()
			coding.Warm(s.encoder, s.decoder)
		}()
	}
	err := st.Update(context.Background(), func(tx storage.Tx) error {
		epoch, err := tx.Meta(metaEpoch)
		if err != nil {
			return err
		}
		if len(epoch) == 0 {
			// A new data set, or one restored from a backup (MarkRestored
			// cleared its epoch): a new epoch [SP-3-14].
			epoch = []byte(hex.EncodeToString(randomBytes(epochHexLen / 2)))
			if err := tx.PutMeta(metaEpoch, epoch); err != nil {
				return err
			}
			if s.restoredFrom, err = restoredFrom(tx); err != nil {
				return err
			}
		}
		secret, err := tx.Meta(metaSecret)
		if err != nil {
			return err
		}
		if secret == nil {
			secret = randomBytes(32)
			if err := tx.PutMeta(metaSecret, secret); err != nil {
				return err
			}
		}
		s.cursors = cursors{epoch: string(epoch), secret: secret}
		last, err := tx.Meta(metaHLC)
		if err != nil {
			return err
		}
		if len(last) == 8 {
			s.clock.Observe(changelog.HLC(binary.BigEndian.Uint64(last)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open server: read data set identity: %w", err)
	}
	if s.admin, err = loadAdminToken(filepath.Join(cfg.DataDir, AdminTokenFile)); err != nil {
		return nil, fmt.Errorf("open server: %w", err)
	}
	s.handler = s.handle
	s.http = &fasthttp.Server{
		Handler:                      s.handler,
		ErrorHandler:                 s.handleTransportError,
		NoDefaultServerHeader:        true, // Info.server names it; every response would carry it
		MaxRequestBodySize:           cfg.Limits.MaxBodyBytes,
		ReadTimeout:                  ReadTimeout,
		IdleTimeout:                  IdleTimeout,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{s.log},
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
	}
	if s.restoredFrom != "" {
		s.log.Warn("data set restored from a backup: took a new epoch; every client pulls its collections again",
			"epoch", s.cursors.epoch, "backup_epoch", s.restoredFrom)
	}
	s.log.Info("server opened", "data_dir", cfg.DataDir, "epoch", s.cursors.epoch, "default_rule", cfg.DefaultRule, "version", cfg.Version)
	return s, nil
}

// loadAdminToken reads the admin token file, creating it (mode 0600) with
// a new token if it does not exist.
func loadAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := string(bytes.TrimSpace(b))
		if tok == "" {
			return "", fmt.Errorf("admin token file %s is empty", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok := newToken()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return tok, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("bug: crypto/rand failed: " + err.Error())
	}
	return b
}

// newToken returns "sp_" + 43 base64url characters of 32 random bytes.
func newToken() string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(tokenRandLen))
}

// idEncoding writes conflict record IDs: 16 random bytes as 26 characters.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newConflictID() string { return idEncoding.EncodeToString(randomBytes(16)) }

// Handler returns the server's request handler, for in-process use. It
// checks the body size itself, so it behaves like Serve without fasthttp's
// own limit.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handler }

// Serve serves HTTP on ln until Shutdown, after which it returns nil. On a
// server already shut down it closes ln and returns nil at once, so that
// "go srv.Serve(ln)" racing with Shutdown needs no special case.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		if ln != nil {
			_ = ln.Close()
		}
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.log.Info("serving", "addr", ln.Addr().String())
	err := s.http.Serve(ln)
	s.mu.RLock()
	closing := s.closing
	s.mu.RUnlock()
	if closing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections, ends long-polls, waits for
// in-flight requests (until ctx ends) and closes the database. It is valid
// on a server that never served, and calling it again returns the first
// call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		defer close(s.shutdownDone)
		s.mu.Lock()
		s.closing = true
		close(s.quit)
		lns := s.listeners
		s.mu.Unlock()
		var errs []error
		if err := s.http.ShutdownWithContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown http: %w", err))
		}
		for _, ln := range lns {
			_ = ln.Close() // Serve may not have handed it to fasthttp yet; already closed otherwise
		}
		done := make(chan struct{})
		go func() { s.inflight.Wait(); s.warming.Wait(); close(done) }()
		select {
		case <-done:
			if err := s.store.Close(); err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("shutdown: waiting for requests: %w", ctx.Err()))
			go func() { <-done; _ = s.store.Close() }()
		}
		s.shutdownErr = errors.Join(errs...)
		attrs := []any{"err", s.shutdownErr}
		if st, ok := s.store.(interface{ Stats() boltdb.Stats }); ok {
			// How well writes shared commits: writes/commits is the mean
			// group size of the store's group commit.
			stats := st.Stats()
			attrs = append(attrs, "commits", stats.Commits, "writes", stats.Writes)
		}
		s.log.Info("server shut down", attrs...)
	})
	<-s.shutdownDone
	return s.shutdownErr
}

// enter admits a request unless the server is shutting down.
func (s *Server) enter() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Epoch returns the data set's epoch.
func (s *Server) Epoch() string { return s.cursors.epoch }

// RestoredFrom returns, when Open took a new epoch because the data set was
// restored from a backup (MarkRestored), the epoch of the data set the
// backup was made from; else "".
func (s *Server) RestoredFrom() string { return s.restoredFrom }

// AdminToken returns the admin token (also in DataDir/admin.token).
func (s *Server) AdminToken() string { return s.admin }

// CreateToken creates a bearer token for a user's device, creating the user
// if needed. Names follow protocol.ValidateName (else ErrInvalidName).
func (s *Server) CreateToken(user, device string) (string, error) {
	return s.createToken(context.Background(), user, device)
}

func (s *Server) createToken(ctx context.Context, user, device string) (string, error) {
	for _, n := range []string{user, device} {
		if err := protocol.ValidateName(n); err != nil {
			return "", fmt.Errorf("create token: %w: %w", ErrInvalidName, err)
		}
	}
	tok := newToken()
	now := uint64(s.cfg.Now().UnixMilli())
	err := s.update(ctx, func(tx storage.Tx) error {
		created, err := tx.CreateUser(user, now)
		if err != nil {
			return err
		}
		if created {
			s.log.Info("user created", "user", user)
		}
		return tx.PutToken(storage.HashToken(tok), storage.Token{User: user, Device: device, CreatedMillis: now})
	})
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	s.log.Info("token created", "user", user, "device", device)
	return tok, nil
}

// UserCount returns the number of users.
func (s *Server) UserCount() (int, error) {
	var n int
	err := s.view(context.Background(), func(tx storage.Tx) error {
		var err error
		n, err = tx.UserCount()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func (s *Server) view(ctx context.Context, fn func(storage.Tx) error) error {
	err := s.store.View(ctx, fn)
	if errors.Is(err, storage.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

func (s *Server) update(ctx context.Context, fn func(storage.Tx) error) error {
	err := s.store.Update(ctx, fn)
	if errors.Is(err, storage.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// isAdmin compares a presented token with the admin token in constant time.
func (s *Server) isAdmin(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.admin)) == 1
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to the
// structured log at debug level; the requests themselves are logged by
// handle and handleTransportError.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}
