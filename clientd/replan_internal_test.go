package clientd

// Local steps (no exchange) whose item is edited between planning and
// applying, against a real serverd; the edit is made from the planned hook.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// liveServer is a real serverd on a loopback port with a real bbolt file.
type liveServer struct {
	srv *serverd.Server
	url string
}

func startLiveServer(t *testing.T, cfg serverd.Config) *liveServer {
	t.Helper()
	cfg.DataDir = filepath.Join(t.TempDir(), "server")
	srv, err := serverd.Open(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return &liveServer{srv: srv, url: "http://" + ln.Addr().String()}
}

func (ls *liveServer) client(t *testing.T, device string, rt http.RoundTripper) *Client {
	t.Helper()
	tok, err := ls.srv.CreateToken("alice", device)
	require.NoError(t, err)
	cfg := Config{ServerURL: ls.url, Token: tok, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	c, err := Open(filepath.Join(t.TempDir(), device+".db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func syncOK(t *testing.T, c *Client) Report {
	t.Helper()
	rep, err := c.Sync(context.Background())
	require.NoError(t, err)
	return rep
}

// editAfterPlanning makes c write content to notes/n once, after the
// first round of its next session is planned.
func editAfterPlanning(t *testing.T, c *Client, content string) {
	var once sync.Once
	c.planned = func(coll string, round int) {
		if coll == "notes" && round == 1 {
			once.Do(func() { require.NoError(t, c.Put("notes", "n", []byte(content))) })
		}
	}
}

func storedCursor(t *testing.T, c *Client, coll string) string {
	t.Helper()
	var cur string
	require.NoError(t, c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, coll, false)
		if col != nil {
			cur = col.cursor()
		}
		return err
	}))
	return cur
}

// SP-6.2-3, SP-6.5-3: a nothing step (both sides hold the same version)
// whose item is edited before it is applied still sets base and seen; the
// edit stays pending and goes up on top of the server's version. Skipping
// it left seen at 0: the next session's upload came back stale, and under
// server-wins the user's edit, which derives from the server's version,
// went to the local conflict log — a false conflict.
func TestANothingStepEditedMeanwhileIsNotAFalseConflict(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{DefaultRule: protocol.ServerWins})
	a := ls.client(t, "laptop", nil)
	b := ls.client(t, "phone", nil)
	require.NoError(t, a.Put("notes", "n", []byte("same")))
	syncOK(t, a)
	require.NoError(t, b.Put("notes", "n", []byte("same"))) // pending, base 0

	editAfterPlanning(t, b, "newer")
	rep := syncOK(t, b)
	require.Equal(t, 1, rep.Uploaded, "the newer edit went up in the same session")
	rep = syncOK(t, b)
	require.Zero(t, rep.Conflicts)
	cs, err := b.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs, "no false conflict")
	syncOK(t, a)
	got, err := a.Get("notes", "n")
	require.NoError(t, err)
	require.Equal(t, "newer", string(got))
	st, err := b.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)
}

// SP-6.5-4 for a tombstone applied from change info: an item edited since
// planning is not deleted; the rule decides between the edit and the
// tombstone in the same session.
func TestATombstoneForAnItemEditedMeanwhileIsPlannedAgain(t *testing.T) {
	for _, tc := range []struct {
		rule    protocol.Rule
		deleted bool
	}{
		{protocol.ClientWins, false},
		{protocol.ServerWins, true},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			ls := startLiveServer(t, serverd.Config{DefaultRule: tc.rule})
			a := ls.client(t, "laptop", nil)
			b := ls.client(t, "phone", nil)
			require.NoError(t, a.Put("notes", "n", []byte("x")))
			syncOK(t, a)
			syncOK(t, b)
			require.NoError(t, a.Delete("notes", "n"))
			syncOK(t, a)

			editAfterPlanning(t, b, "z")
			rep := syncOK(t, b)
			require.Equal(t, 2, rep.Rounds)
			st, err := b.Status()
			require.NoError(t, err)
			require.Zero(t, st.Pending, "settled in the same session")
			syncOK(t, a)
			got, err := a.Get("notes", "n")
			mine, berr := b.Get("notes", "n")
			cs, cerr := b.Conflicts()
			require.NoError(t, cerr)
			if tc.deleted {
				require.ErrorIs(t, err, ErrNotFound)
				require.ErrorIs(t, berr, ErrNotFound)
				require.Equal(t, 1, rep.Conflicts)
				require.Len(t, cs, 1)
				require.Equal(t, ReasonServerWon, cs[0].Reason)
				require.Equal(t, "z", string(cs[0].Content))
				return
			}
			require.NoError(t, err)
			require.Equal(t, "z", string(got))
			require.NoError(t, berr)
			require.Equal(t, "z", string(mine))
			require.Equal(t, 1, rep.Uploaded)
			require.Empty(t, cs)
		})
	}
}

// failingExchanges fails every exchange while armed, before sending it.
type failingExchanges struct{ armed atomic.Bool }

func (f *failingExchanges) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.armed.Load() && req.URL.Path == protocol.PathExchange {
		return nil, errors.New("connection refused by test")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// SP-6.5-6: a tombstone entry re-planned because its item was edited
// meanwhile is not handled: the cursor is not stored until the re-planned
// step is carried out.
func TestACursorIsNotStoredWhileARePlannedTombstoneIsLeft(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{DefaultRule: protocol.ClientWins})
	a := ls.client(t, "laptop", nil)
	rt := &failingExchanges{}
	b := ls.client(t, "phone", rt)
	require.NoError(t, a.Put("notes", "n", []byte("x")))
	syncOK(t, a)
	syncOK(t, b)
	before := storedCursor(t, b, "notes")
	require.NotEmpty(t, before)
	require.NoError(t, a.Delete("notes", "n"))
	syncOK(t, a)

	editAfterPlanning(t, b, "z")
	rt.armed.Store(true)
	_, err := b.Sync(context.Background())
	require.ErrorIs(t, err, ErrNetwork, "round 2's upload could not be sent")
	require.Equal(t, before, storedCursor(t, b, "notes"), "the tombstone's entry was not handled")

	rt.armed.Store(false)
	rep := syncOK(t, b)
	require.Equal(t, 1, rep.Uploaded)
	require.NotEqual(t, before, storedCursor(t, b, "notes"))
	syncOK(t, a)
	got, err := a.Get("notes", "n")
	require.NoError(t, err)
	require.Equal(t, "z", string(got))
}

// editThenFail runs edit before the first exchange it sees while armed,
// lets that exchange through, and fails every later one.
type editThenFail struct {
	armed  atomic.Bool
	edited atomic.Bool
	edit   func()
}

func (f *editThenFail) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.armed.Load() && req.URL.Path == protocol.PathExchange {
		if f.edited.Swap(true) {
			return nil, errors.New("connection refused by test")
		}
		f.edit()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// SP-6.5-4: a download whose item was edited while it was in flight is
// planned for the next round against the downloaded version, and seen is
// raised to that version (base and pending stay). When the next round
// never comes (here its exchange fails), a later session finds the item
// pending with seen above base and plans a plain upload; the server
// applies the rule.
func TestADownloadEditedMeanwhileRaisesSeenAndKeepsTheEditPending(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{DefaultRule: protocol.ServerWins})
	a := ls.client(t, "laptop", nil)
	rt := &editThenFail{}
	b := ls.client(t, "phone", rt)
	b.cfg.DownloadsInExchanges = true // the edit is made when the exchange is sent
	rt.edit = func() { require.NoError(t, b.Put("notes", "n", []byte("mine"))) }
	require.NoError(t, a.Put("notes", "n", []byte("v1")))
	syncOK(t, a)
	syncOK(t, b)
	before := storedCursor(t, b, "notes")
	require.NoError(t, a.Put("notes", "n", []byte("v2")))
	syncOK(t, a)

	rt.armed.Store(true)
	_, err := b.Sync(context.Background())
	require.ErrorIs(t, err, ErrNetwork)
	require.Equal(t, before, storedCursor(t, b, "notes"), "the re-planned entry is not handled")
	var rec *record
	require.NoError(t, b.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, "notes", false)
		require.NoError(t, err)
		rec, err = col.get("n", true)
		require.True(t, col.isPending("n"))
		return err
	}))
	require.Equal(t, "mine", string(rec.Content), "the edit was not overwritten")
	require.Equal(t, uint64(1), uint64(rec.Base))
	require.Equal(t, uint64(2), uint64(rec.Seen), "seen is the downloaded version")

	rt.armed.Store(false)
	rep := syncOK(t, b)
	require.Equal(t, 1, rep.Conflicts)
	cs, err := b.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, ReasonRejected, cs[0].Reason, "a plain upload that the server refused under its rule")
	require.Equal(t, "mine", string(cs[0].Content))
	got, err := b.Get("notes", "n")
	require.NoError(t, err)
	require.Equal(t, "v2", string(got))
}

// lostResponses sends every request to the server, then drops the answer
// and reports a transport failure, counting the attempts per path.
type lostResponses struct {
	mu       sync.Mutex
	attempts map[string]int
	armed    atomic.Bool
}

func (l *lostResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !l.armed.Load() {
		return resp, err
	}
	l.mu.Lock()
	l.attempts[req.URL.Path]++
	l.mu.Unlock()
	_ = resp.Body.Close()
	return nil, errors.New("connection reset by test")
}

// SP-3-13, SP-9-4: a request whose body is over max_body_bytes and that
// gets a transport failure instead of a response is final
// payload_too_large and is not retried; one within the limit is retried.
func TestATransportFailureOfAnOversizedBodyIsFinalPayloadTooLarge(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{Limits: protocol.Limits{MaxBodyBytes: 2048}})
	rt := &lostResponses{attempts: map[string]int{}}
	c := ls.client(t, "laptop", rt)
	syncOK(t, c) // learn the limits
	require.Equal(t, 2048, c.maxBody())

	upload := func(size int) *protocol.ExchangeRequest {
		content := make([]byte, size)
		return &protocol.ExchangeRequest{Collection: "notes", BatchID: newBatchID(), Downloads: []string{},
			Uploads: []protocol.Upload{{ID: "n", FP: make([]byte, 32), Content: content}}}
	}
	rt.armed.Store(true)
	var resp protocol.ExchangeResponse
	err := c.callRetry(context.Background(), protocol.PathExchange, upload(4096), &resp)
	require.Equal(t, protocol.CodePayloadTooLarge, protocol.CodeOf(err), "%v", err)
	require.False(t, Retryable(err))
	require.Equal(t, 1, rt.attempts[protocol.PathExchange], "not retried")

	err = c.callRetry(context.Background(), protocol.PathExchange, upload(16), &resp)
	require.ErrorIs(t, err, ErrNetwork)
	require.Equal(t, 1+requestAttempts, rt.attempts[protocol.PathExchange], "a body within the limit is retried")
}
