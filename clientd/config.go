package clientd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults for a zero Config field.
const (
	DefaultSyncInterval   = 5 * time.Minute
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultDebounce       = 200 * time.Millisecond
	DefaultHistoryLimit   = 10_000
	DefaultRequestTimeout = 2 * time.Minute
	// DefaultIdleTimeout is how long a request may make no progress.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultWatchTimeout is how long one long-poll asks the server to wait.
	DefaultWatchTimeout = 25 * time.Second
	// maxRetryAfter bounds how long a Retry-After is honoured; a longer
	// value is treated as this.
	maxRetryAfter = time.Hour
	// requestAttempts bounds the tries of one request inside a session.
	requestAttempts = 4
	// maxInlineRetryWait is the longest a foreground request sleeps between
	// its own retries; a longer Retry-After ends the session with the error
	// and leaves the wait to the background loop.
	maxInlineRetryWait = 10 * time.Second
	// maxResponseBytes bounds a response body the client reads.
	maxResponseBytes = 256 << 20
)

// Config configures a Client. The zero value of every field means its
// default; a zero Config is a valid offline-only client.
type Config struct {
	// ServerURL is the server's base URL, e.g. "https://sync.example.com".
	// Empty: offline-only (Sync returns ErrOffline).
	ServerURL string
	// Token is the device's bearer token.
	Token string
	// AllowInsecureHTTP permits sending the token over plain http:// to a
	// host other than a loopback address (SP-3-12). Leave it false unless
	// the network is trusted.
	AllowInsecureHTTP bool
	// HTTPClient carries every request. nil: a client with connection
	// timeouts and keep-alive. Per-request deadlines come from
	// RequestTimeout and the watch timeout, not from http.Client.Timeout;
	// if you set Timeout, keep it above DefaultWatchTimeout plus a margin.
	HTTPClient *http.Client
	// RequestTimeout bounds one request (except the watch long-poll).
	// 0: DefaultRequestTimeout.
	RequestTimeout time.Duration
	// IdleTimeout bounds how long one request (except the watch long-poll)
	// may make no progress: no byte of its body taken by the connection,
	// no byte of the answer received. A hung connection or server is then
	// given up (and the request retried) after IdleTimeout, while a large
	// transfer on a slow link that keeps moving may take up to
	// RequestTimeout. 0: DefaultIdleTimeout; negative: none.
	IdleTimeout time.Duration
	// SyncInterval is the period of background syncs. 0: DefaultSyncInterval.
	SyncInterval time.Duration
	// MinBackoff and MaxBackoff bound the background loop's exponential
	// backoff with full jitter after a failed sync. 0: DefaultMinBackoff,
	// DefaultMaxBackoff. The server's Retry-After is honoured even when
	// longer than MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Debounce is the delay after a local write before the loop syncs;
	// writes within it share one sync. 0: DefaultDebounce.
	Debounce time.Duration
	// HistoryLimit is how many history entries the store keeps.
	// 0: DefaultHistoryLimit; negative: keep none.
	HistoryLimit int
	// WatchTimeout is how long one long-poll waits. 0: DefaultWatchTimeout.
	// Negative disables the long-poll (the loop then syncs on writes,
	// Trigger and SyncInterval only).
	WatchTimeout time.Duration
	// DisableCompression turns off the content codings (SP-3-8): request
	// bodies go unencoded and responses are asked for unencoded. By default
	// the client asks for zstd or gzip responses and sends bodies of 1 KiB
	// or more in zstd (or gzip) when the server offers it.
	DisableCompression bool
	// Progress, when set, is called during Sync with the session's
	// progress. It runs on the syncing goroutine and must be quick; it must
	// not call Sync, Resolve or Close (they wait for the session).
	Progress func(ProgressEvent)
	// Logger receives the background loop's log lines. nil: discard.
	Logger *slog.Logger
	// Now is the wall clock (test seam). nil: time.Now.
	Now func() time.Time
	// SerialExchanges (test seam) turns off the pipelining of exchanges: a
	// session applies each response in its local transaction before it
	// sends the next request. A deterministic simulation that writes to
	// the store from inside the transport (an edit while a sync runs) sets
	// it, so that the edit and the transaction have one order.
	SerialExchanges bool
	// DownloadsInExchanges (test seam) never asks for content with the
	// change info (SP-6.1-8): every download goes in an exchange, as with
	// a server that does not offer content, which is the path a test of
	// exchange downloads means to take.
	DownloadsInExchanges bool
	// NoPrefetch (test seam) requests a change-info page only when the
	// session needs it, never ahead, so that every request is sent on the
	// goroutine that runs the session: a simulation whose transport runs
	// other actors' steps sets it.
	NoPrefetch bool
}

// validate checks cfg and fills in the defaults.
func (cfg *Config) validate() error {
	if cfg.ServerURL != "" {
		u, err := url.Parse(cfg.ServerURL)
		if err != nil {
			return fmt.Errorf("server url: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("server url %q: want http(s)://host[:port]", cfg.ServerURL)
		}
		if u.Scheme == "http" && cfg.Token != "" && !cfg.AllowInsecureHTTP && !isLoopback(u.Hostname()) {
			return fmt.Errorf("server url %q: refusing to send the token over plain http to a non-loopback host (use https, or set AllowInsecureHTTP)", cfg.ServerURL)
		}
		for len(cfg.ServerURL) > 0 && cfg.ServerURL[len(cfg.ServerURL)-1] == '/' {
			cfg.ServerURL = cfg.ServerURL[:len(cfg.ServerURL)-1]
		}
	}
	if cfg.SyncInterval < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.Debounce < 0 || cfg.RequestTimeout < 0 {
		return errors.New("durations must not be negative")
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.HistoryLimit == 0 {
		cfg.HistoryLimit = DefaultHistoryLimit
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WatchTimeout == 0 {
		cfg.WatchTimeout = DefaultWatchTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultHTTPClient keeps connections alive and bounds connection set-up;
// request deadlines come from contexts.
func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          8,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr}
}
