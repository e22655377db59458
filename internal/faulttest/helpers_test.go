package faulttest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
	"github.com/syncprint/syncprint/serverd/boltdb"
)

// rules gives every precedence rule a collection.
var rules = map[string]string{"notes": "server-wins", "tasks": "client-wins", "docs": "latest-wins", "wiki": "manual"}

// collections are the collections the tests write, one per rule.
var collections = []string{"notes", "tasks", "docs", "wiki"}

// server is an in-process serverd on a loopback port over a bbolt file on
// disk; it can be stopped and opened again on the same data.
type server struct {
	t    *testing.T
	cfg  serverd.Config
	srv  *serverd.Server
	addr string
	done chan error
}

func startServer(t *testing.T, wrap func(serverd.Store) serverd.Store) *server {
	t.Helper()
	cfg := serverd.Config{DataDir: filepath.Join(t.TempDir(), "server"), DefaultRule: "server-wins", Rules: map[string]protocol.Rule{}, WrapStore: wrap}
	for coll, r := range rules {
		cfg.Rules[coll] = protocol.Rule(r)
	}
	s := &server{t: t, cfg: cfg, addr: "127.0.0.1:0"}
	s.open()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) open() {
	s.t.Helper()
	srv, err := serverd.Open(s.cfg)
	require.NoError(s.t, err)
	ln, err := net.Listen("tcp", s.addr) // a reopened server keeps its port
	require.NoError(s.t, err)
	s.srv, s.addr, s.done = srv, ln.Addr().String(), make(chan error, 1)
	go func() { s.done <- srv.Serve(ln) }()
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(s.t, s.srv.Shutdown(ctx))
	require.NoError(s.t, <-s.done)
	s.srv = nil
}

// reopen stops the server, checks its file and opens it again without the
// store wrapper.
func (s *server) reopen() {
	s.t.Helper()
	s.stop()
	require.NoError(s.t, boltdb.Check(filepath.Join(s.cfg.DataDir, serverd.DBFile)))
	s.cfg.WrapStore = nil
	s.open()
}

func (s *server) token(user, device string) string {
	s.t.Helper()
	tok, err := s.srv.CreateToken(user, device)
	require.NoError(s.t, err)
	return tok
}

// state reads every collection through /v1/changes.
func (s *server) state(token string) (map[string]map[string]faulttest.Item, uint64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	out := map[string]map[string]faulttest.Item{}
	total := uint64(0)
	for _, coll := range collections {
		items, head, err := faulttest.ServerItems(ctx, hc, s.url(), token, coll)
		require.NoError(s.t, err)
		out[coll] = items
		total += head
	}
	return out, total
}

// replica is a clientd client with a recorder under it and a model of
// its own edits. Every replica edits its own items only (IDs r<i>-<k>), so
// that "the last put wins" holds under every rule.
type replica struct {
	t    *testing.T
	i    int
	c    *clientd.Client
	rec  *faulttest.Recorder
	last map[string]version
	n    int
}

type version struct {
	content string
	deleted bool
}

func openReplica(t *testing.T, i int, url, token string, base http.RoundTripper, cfg clientd.Config) *replica {
	t.Helper()
	if base == nil {
		base = &http.Transport{}
	}
	rec := &faulttest.Recorder{Base: base}
	cfg.ServerURL, cfg.Token = url, token
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.HTTPClient.Transport == nil {
		hc := *cfg.HTTPClient
		hc.Transport = rec
		cfg.HTTPClient = &hc
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 2*time.Millisecond, 20*time.Millisecond
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	c, err := clientd.Open(filepath.Join(t.TempDir(), fmt.Sprintf("r%d.db", i)), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &replica{t: t, i: i, c: c, rec: rec, last: map[string]version{}}
}

// edit puts (or deletes) item k of every collection.
func (r *replica) edit(ks ...int) {
	for _, coll := range collections {
		for _, k := range ks {
			id := fmt.Sprintf("r%d-%d", r.i, k)
			key := coll + "/" + id
			r.n++
			if v, ok := r.last[key]; ok && !v.deleted && r.n%5 == 0 {
				require.NoError(r.t, r.c.Delete(coll, id))
				r.last[key] = version{deleted: true}
				continue
			}
			content := fmt.Sprintf("%s edit %d", id, r.n)
			require.NoError(r.t, r.c.Put(coll, id, []byte(content)))
			r.last[key] = version{content: content}
		}
	}
}

// converge syncs every replica until none has anything pending (each at
// most tries rounds), then requires that each holds the last version of
// every item its owner put, and that the server holds them too.
func converge(t *testing.T, s *server, checker string, rs ...*replica) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := 0; round < 2; round++ {
		for _, r := range rs {
			_, err := r.c.Sync(ctx)
			require.NoError(t, err, "replica %d", r.i)
		}
	}
	state, _ := s.state(checker)
	for _, r := range rs {
		require.Zero(t, r.rec.Undecoded(), "replica %d: exchange responses the recorder could not read", r.i)
		st, err := r.c.Status()
		require.NoError(t, err)
		require.Zero(t, st.Pending, "replica %d", r.i)
		for _, owner := range rs {
			for key, v := range owner.last {
				coll, id := splitKey(key)
				got, err := r.c.Get(coll, id)
				if v.deleted {
					require.True(t, errors.Is(err, clientd.ErrNotFound), "replica %d holds %s, deleted last", r.i, key)
				} else {
					require.NoError(t, err, "replica %d lacks %s", r.i, key)
					require.Equal(t, v.content, string(got), "replica %d: %s", r.i, key)
				}
				require.Equal(t, fingerprint.Of(id, v.deleted, []byte(v.content)), state[coll][id].FP, "server: %s", key)
			}
		}
	}
}

func splitKey(key string) (coll, id string) {
	for i := range len(key) {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

// eventually polls cond every 10 ms until it holds, failing the test after
// within: a bounded wait on observable state.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}
