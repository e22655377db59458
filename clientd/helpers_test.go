package clientd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// testServer is a real serverd on a loopback port with a real bbolt file.
// It can be stopped and started again on the same address and data.
type testServer struct {
	t    testing.TB
	cfg  serverd.Config
	srv  *serverd.Server
	addr string
	url  string
	done chan error
}

func startServer(t testing.TB, cfg serverd.Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "server")
	}
	ts := &testServer{t: t, cfg: cfg}
	ts.start("127.0.0.1:0")
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start(addr string) {
	ts.t.Helper()
	srv, err := serverd.Open(ts.cfg)
	require.NoError(ts.t, err)
	var ln net.Listener
	for i := 0; i < 100; i++ { // a port just closed can take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(ts.t, err)
	ts.srv, ts.addr, ts.url, ts.done = srv, ln.Addr().String(), "http://"+ln.Addr().String(), make(chan error, 1)
	go func() { ts.done <- srv.Serve(ln) }()
}

func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(ts.t, ts.srv.Shutdown(ctx))
	<-ts.done
	ts.srv = nil
}

func (ts *testServer) token(user, device string) string {
	ts.t.Helper()
	tok, err := ts.srv.CreateToken(user, device)
	require.NoError(ts.t, err)
	return tok
}

// client opens a client of user/device on a fresh store with fast backoff.
func (ts *testServer) client(t testing.TB, user, device string, mod ...func(*clientd.Config)) *clientd.Client {
	t.Helper()
	cfg := clientd.Config{ServerURL: ts.url, Token: ts.token(user, device), MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	return openStore(t, filepath.Join(t.TempDir(), device+".db"), cfg)
}

func openStore(t testing.TB, path string, cfg clientd.Config) *clientd.Client {
	t.Helper()
	c, err := clientd.Open(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustSync(t testing.TB, c *clientd.Client) clientd.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := c.Sync(ctx)
	require.NoError(t, err)
	return rep
}

func mustGet(t testing.TB, c *clientd.Client, coll, id string) string {
	t.Helper()
	b, err := c.Get(coll, id)
	require.NoError(t, err)
	return string(b)
}

// eventually polls cond every 10 ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hookTransport runs a hook before forwarding each request and may rewrite
// the response body.
type hookTransport struct {
	base http.RoundTripper
	// before runs before a request is sent; it may block or act.
	before func(req *http.Request)
	// after may replace the response body bytes.
	after func(req *http.Request, body []byte) []byte
	// fail, when it returns true, drops the response (after the server
	// handled the request) and reports a transport error.
	fail func(req *http.Request) bool
	// lose, when it returns true, drops the request before the server
	// sees it and reports a transport error.
	lose func(req *http.Request) bool

	mu    sync.Mutex // guards paths
	paths []string
}

func (h *hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.paths = append(h.paths, req.URL.Path)
	h.mu.Unlock()
	if h.before != nil {
		h.before(req)
	}
	if h.lose != nil && h.lose(req) {
		return nil, errors.New("request lost by test")
	}
	resp, err := h.base.RoundTrip(req)
	if err == nil && h.fail != nil && h.fail(req) {
		_, _ = readAll(resp)
		return nil, errors.New("connection reset by test")
	}
	if err != nil || h.after == nil {
		return resp, err
	}
	body, err := readAll(resp)
	if err != nil {
		return nil, err
	}
	body = h.after(req, body)
	resp.Body = nopCloser(body)
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// peekBody returns a request's body and puts it back for the transport to
// send.
func peekBody(t testing.TB, req *http.Request) []byte {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	req.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

func (h *hookTransport) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.paths {
		if p == path {
			n++
		}
	}
	return n
}

// plainBodies makes a client ask for unencoded responses and send
// unencoded requests, so that a test's transport reads and edits the
// messages themselves.
func plainBodies(cfg *clientd.Config) { cfg.DisableCompression = true }

func withTransport(rt http.RoundTripper) func(*clientd.Config) {
	return func(cfg *clientd.Config) { cfg.HTTPClient = &http.Client{Transport: rt} }
}

// downloadsInExchanges makes a client download in exchanges, never with
// the change info (SP-6.1-8): the path a test of exchange downloads takes.
func downloadsInExchanges(cfg *clientd.Config) { cfg.DownloadsInExchanges = true }

// pageLog records a client's change-info requests and answers, and while
// broken loses every page request once three pages were answered.
type pageLog struct {
	t       *testing.T
	mu      sync.Mutex
	cursors []string // of the requests, in the order sent
	content []bool   // their content flags
	answers []string // cursors of the responses
	broken  bool
}

func (l *pageLog) transport() *hookTransport {
	return &hookTransport{base: http.DefaultTransport,
		before: func(req *http.Request) {
			if req.URL.Path != protocol.PathChanges {
				return
			}
			var x protocol.ChangesRequest
			require.NoError(l.t, protocol.Unmarshal(peekBody(l.t, req), &x))
			l.mu.Lock()
			l.cursors = append(l.cursors, x.Cursor)
			l.content = append(l.content, x.Content)
			l.mu.Unlock()
		},
		after: func(req *http.Request, body []byte) []byte {
			if req.URL.Path == protocol.PathChanges {
				var x protocol.ChangesResponse
				require.NoError(l.t, protocol.Unmarshal(body, &x))
				l.mu.Lock()
				l.answers = append(l.answers, x.Cursor)
				l.mu.Unlock()
			}
			return body
		},
		lose: func(req *http.Request) bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.broken && req.URL.Path == protocol.PathChanges && len(l.answers) >= 3
		},
	}
}

// thirtyNotesInPagesOfFour starts a server whose change-info pages hold 4
// entries, where alice's laptop has synced 30 notes; it returns them.
func thirtyNotesInPagesOfFour(t *testing.T) (*testServer, map[string][]byte) {
	t.Helper()
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxPage: 4}})
	laptop := srv.client(t, "alice", "laptop")
	items := map[string][]byte{}
	for i := range 30 {
		items[fmt.Sprintf("n%02d", i)] = []byte(fmt.Sprint("note ", i))
	}
	require.NoError(t, laptop.PutMany("notes", items))
	mustSync(t, laptop)
	return srv, items
}

// requireDecided asserts the outcome of notes/n edited on both c and
// other, once other has synced after c: both hold winner, and c's
// conflicts list one record of kind holding loser.
func requireDecided(t *testing.T, c, other *clientd.Client, winner, kind, loser string) {
	t.Helper()
	mustSync(t, other)
	require.Equal(t, winner, mustGet(t, c, "notes", "n"))
	require.Equal(t, winner, mustGet(t, other, "notes", "n"))
	cs, err := c.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, kind, cs[0].Kind)
	require.Equal(t, loser, string(cs[0].Content))
}

// corrupting returns a transport that flips a bit of secret in the
// answers to path while on is true (it starts true): content that no
// longer matches its fingerprint.
func corrupting(path string, secret []byte) (hook *hookTransport, on *atomic.Bool) {
	on = new(atomic.Bool)
	on.Store(true)
	return &hookTransport{base: http.DefaultTransport, after: func(req *http.Request, body []byte) []byte {
		if req.URL.Path == path && on.Load() {
			if i := bytes.Index(body, secret); i >= 0 {
				body = bytes.Clone(body)
				body[i+3] ^= 0x20
			}
		}
		return body
	}}, on
}
