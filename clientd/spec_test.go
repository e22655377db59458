package clientd_test

// Tests of the client commit rules of spec/PROTOCOL.md 6.5 and of the body
// limit of SP-3-13, each against a real serverd.

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// exchangeRecorder records the exchange requests a client sends and may
// run an action before one is sent.
type exchangeRecorder struct {
	t  *testing.T
	mu sync.Mutex // guards reqs
	// reqs are the decoded exchange requests, in the order sent.
	reqs []protocol.ExchangeRequest
	// act runs once, before the next exchange is sent, when armed.
	act   func()
	armed atomic.Bool
}

func (r *exchangeRecorder) before(req *http.Request) {
	if req.URL.Path != protocol.PathExchange {
		return
	}
	b, err := readAll(&http.Response{Body: req.Body})
	require.NoError(r.t, err)
	req.Body, req.ContentLength = nopCloser(b), int64(len(b))
	var er protocol.ExchangeRequest
	require.NoError(r.t, protocol.Unmarshal(b, &er))
	r.mu.Lock()
	r.reqs = append(r.reqs, er)
	r.mu.Unlock()
	if r.armed.CompareAndSwap(true, false) {
		r.act()
	}
}

func (r *exchangeRecorder) requests() []protocol.ExchangeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]protocol.ExchangeRequest(nil), r.reqs...)
}

// SP-6.5-4: a download whose item was edited while it was in flight is not
// stored over the edit; the newer edit is planned against the downloaded
// version with seen unchanged, so the rule decides in the client's own next
// round. Under server-wins that is download-keep-local (the edit goes to
// the local conflict log as server-won), not a plain upload the server
// would reject.
func TestADownloadEditedMeanwhileIsPlannedByTheRuleAgainstTheDownloadedVersion(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.ServerWins})
	rec := &exchangeRecorder{t: t}
	var c *clientd.Client
	rec.act = func() { require.NoError(t, c.Put("notes", "n", []byte("mine"))) }
	c = srv.client(t, "alice", "laptop", withTransport(&hookTransport{base: http.DefaultTransport, before: rec.before}), downloadsInExchanges)
	other := srv.client(t, "alice", "phone")
	require.NoError(t, other.Put("notes", "n", []byte("v1")))
	mustSync(t, other)
	mustSync(t, c)
	require.NoError(t, other.Put("notes", "n", []byte("v2")))
	mustSync(t, other)

	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()
	rec.armed.Store(true)
	rep := mustSync(t, c)
	require.Equal(t, 2, rep.Rounds)
	require.Equal(t, 1, rep.Conflicts)
	reqs := rec.requests()
	require.Len(t, reqs, 2)
	for i, r := range reqs {
		require.Empty(t, r.Uploads, "exchange %d: server-wins never uploads over the server's version", i+1)
		require.Equal(t, []string{"n"}, r.Downloads, "exchange %d", i+1)
	}
	require.Equal(t, "v2", mustGet(t, c, "notes", "n"))
	cs, err := c.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, clientd.ReasonServerWon, cs[0].Reason)
	require.Equal(t, "mine", string(cs[0].Content))
	require.Equal(t, uint64(2), cs[0].ServerVersion)
	info, err := c.Stat("notes", "n")
	require.NoError(t, err)
	require.False(t, info.Pending)
}

// SP-6.5-3/SP-6.5-4: a conflict upload edited again while in flight keeps
// the newer edit; it is planned against the server's item before seen is
// raised. Here the newer edit equals the server's version, so the step is
// nothing (both agree) and no second exchange goes out; raising seen
// first made it a plain upload answered unchanged.
func TestAConflictUploadEditedMeanwhileIsPlannedAgainstTheServersItem(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	rec := &exchangeRecorder{t: t}
	var c *clientd.Client
	rec.act = func() { require.NoError(t, c.Put("notes", "n", []byte("theirs"))) }
	c = srv.client(t, "alice", "laptop", withTransport(&hookTransport{base: http.DefaultTransport, before: rec.before}))
	other := srv.client(t, "alice", "phone")
	require.NoError(t, other.Put("notes", "n", []byte("v1")))
	mustSync(t, other)
	mustSync(t, c)
	require.NoError(t, other.Put("notes", "n", []byte("theirs")))
	mustSync(t, other)
	require.NoError(t, c.Put("notes", "n", []byte("mine")))

	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()
	rec.armed.Store(true)
	rep := mustSync(t, c)
	reqs := rec.requests()
	require.Len(t, reqs, 1, "the step after the conflict is nothing: no second exchange")
	require.Len(t, reqs[0].Uploads, 1)
	require.Equal(t, uint64(2), reqs[0].Uploads[0].Seen)
	require.Zero(t, rep.Uploaded)
	require.Equal(t, 1, rep.Conflicts, "the server kept the uploaded version as a conflict record")
	require.Equal(t, "theirs", mustGet(t, c, "notes", "n"))
	info, err := c.Stat("notes", "n")
	require.NoError(t, err)
	require.False(t, info.Pending)
	require.Equal(t, uint64(2), info.Version)
	cs, err := c.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, clientd.KindServer, cs[0].Kind)
	require.Equal(t, "mine", string(cs[0].Content))
}

// pulls records the number of change entries of each session's pull of a
// collection (Config.Progress).
type pulls struct {
	mu sync.Mutex
	n  []int
}

func (p *pulls) progress(coll string) func(clientd.ProgressEvent) {
	return func(ev clientd.ProgressEvent) {
		if ev.Collection != coll {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev.Phase {
		case clientd.PhasePull:
			if len(p.n) == 0 || p.n[len(p.n)-1] < 0 {
				p.n = append(p.n, 0)
			}
			p.n[len(p.n)-1] = ev.Pulled
		case clientd.PhaseDone:
			if len(p.n) == 0 || p.n[len(p.n)-1] < 0 {
				// No page pulled: nothing new on the server (SP-6.1-9).
				p.n = append(p.n, 0)
			}
			p.n = append(p.n, -1) // a marker: the next pull is a new session
		}
	}
}

// last returns the entries pulled by the last session.
func (p *pulls) last() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.n) - 1; i >= 0; i-- {
		if p.n[i] >= 0 {
			return p.n[i]
		}
	}
	return -1
}

// SP-6.5-6: an item edited during every exchange is left pending at
// MaxRounds, but it has no unhandled entry in the pulled change info: the
// cursor is stored and the next session pulls nothing old again.
func TestALocalEditLeftAtMaxRoundsDoesNotKeepTheCursor(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	var c *clientd.Client
	var editing atomic.Bool
	var edits atomic.Int64
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		if req.URL.Path == protocol.PathExchange && editing.Load() {
			require.NoError(t, c.Put("notes", "n", []byte(strings.Repeat("e", int(edits.Add(1))))))
		}
	}}
	var p pulls
	c = srv.client(t, "alice", "laptop", withTransport(hook), func(cfg *clientd.Config) { cfg.Progress = p.progress("notes") })
	other := srv.client(t, "alice", "phone")
	require.NoError(t, other.Put("notes", "theirs", []byte("x")))
	mustSync(t, other)
	require.NoError(t, c.Put("notes", "n", []byte("edit 0")))

	editing.Store(true)
	rep := mustSync(t, c)
	require.Equal(t, protocol.MaxRounds, rep.Rounds)
	require.Equal(t, 1, rep.Downloaded)
	require.Equal(t, 1, p.last(), "the first session pulled theirs")
	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, 1, st.Pending)

	editing.Store(false)
	rep = mustSync(t, c)
	require.Zero(t, p.last(), "the cursor of the first session was stored: nothing pulled again")
	require.Equal(t, 1, rep.Uploaded)
	mustSync(t, other)
	require.Equal(t, mustGet(t, c, "notes", "n"), mustGet(t, other, "notes", "n"))
}

// SP-3-13: an upload that does not fit in a body of max_body_bytes even
// alone is never sent; it stays pending and is reported like an item over
// max_item_bytes, and (SP-6.5-6, a local-only item) does not keep the
// cursor.
func TestAnUploadTooLargeForABodyIsNotSentAndDoesNotKeepTheCursor(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxBodyBytes: 2048}})
	var p pulls
	hook := &hookTransport{base: http.DefaultTransport}
	c := srv.client(t, "alice", "laptop", withTransport(hook), func(cfg *clientd.Config) { cfg.Progress = p.progress("notes") })
	other := srv.client(t, "alice", "phone")
	require.NoError(t, other.Put("notes", "theirs", []byte("x")))
	mustSync(t, other)
	require.NoError(t, c.PutMany("notes", map[string][]byte{"big": []byte(strings.Repeat("b", 3000)), "small": []byte("ok")}))

	rep := mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.Equal(t, 1, rep.Downloaded)
	require.Equal(t, []string{"notes/big"}, rep.TooLarge)
	info, err := c.Stat("notes", "big")
	require.NoError(t, err)
	require.True(t, info.Pending)
	require.Equal(t, 1, hook.count(protocol.PathExchange))

	rep = mustSync(t, c)
	require.Zero(t, p.last(), "the cursor was stored although big is pending")
	require.Equal(t, []string{"notes/big"}, rep.TooLarge)
	require.Equal(t, 1, hook.count(protocol.PathExchange), "big is never sent")

	require.NoError(t, c.Put("notes", "big", []byte("smaller now")))
	rep = mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.Empty(t, rep.TooLarge)
}

// SP-3-4, SP-3-13: a resolution whose body would exceed max_body_bytes is
// refused locally as payload_too_large; it is never sent.
func TestAResolutionOverTheBodyLimitIsNotSent(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual, Limits: protocol.Limits{MaxBodyBytes: 2048}})
	hook := &hookTransport{base: http.DefaultTransport}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook))
	phone := srv.client(t, "alice", "phone")
	require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
	mustSync(t, laptop)
	mustSync(t, phone)
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	mustSync(t, phone)
	mustSync(t, laptop)
	cs, err := laptop.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, clientd.KindServer, cs[0].Kind)

	err = laptop.Resolve(context.Background(), "notes", "n", clientd.Resolution{Content: []byte(strings.Repeat("m", 3000))})
	require.Equal(t, protocol.CodePayloadTooLarge, protocol.CodeOf(err), "%v", err)
	require.False(t, clientd.Retryable(err))
	require.Zero(t, hook.count(protocol.PathResolve), "not sent")

	require.NoError(t, laptop.Resolve(context.Background(), "notes", "n", clientd.Resolution{Content: []byte("merged")}))
	require.Equal(t, 1, hook.count(protocol.PathResolve))
}

// SP-6.6-1: the session plans the items pending after the pull, so an edit
// made while the change info is pulled goes up in the same session.
func TestAnEditMadeDuringThePullIsUploadedInTheSameSession(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	var c *clientd.Client
	var armed atomic.Bool
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		if req.URL.Path == protocol.PathChanges && armed.CompareAndSwap(true, false) {
			require.NoError(t, c.Put("notes", "n", []byte("during the pull")))
		}
	}}
	c = srv.client(t, "alice", "laptop", withTransport(hook))
	require.NoError(t, c.Put("notes", "n", []byte("first")))
	mustSync(t, c)
	// Something new on the server, so that the session pulls (SP-6.1-9).
	other := srv.client(t, "alice", "phone")
	require.NoError(t, other.Put("notes", "o", []byte("other")))
	mustSync(t, other)

	armed.Store(true)
	rep := mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.False(t, armed.Load(), "the session pulled")
	st, err := c.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)
	mustSync(t, other)
	require.Equal(t, "during the pull", mustGet(t, other, "notes", "n"))
}

// SP-6.5-3: a rejected or conflict result whose server item the server left
// out of items (a server fault, SP-6.3-8) is downloaded in the next round.
// Under manual the uploaded version is in the server's record and is not
// uploaded again (re-planned against current, it was: another record every
// round); under server-wins it goes to the local conflict log.
func TestAResultWithoutItsServerItemIsDownloadedNotUploadedAgain(t *testing.T) {
	for _, tc := range []struct {
		rule protocol.Rule
		// told is the rule Info announces: under server-wins the client
		// uploads only when it was told another rule (SP-7-5: a wrong
		// prediction, as when the rule changes after Info).
		told protocol.Rule
		kind string
	}{
		{protocol.Manual, protocol.Manual, clientd.KindServer},
		{protocol.ServerWins, protocol.ClientWins, clientd.KindLocal},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule, DisableCompression: true})
			rec := &exchangeRecorder{t: t}
			dropped := atomic.Int32{}
			drop := func(req *http.Request, body []byte) []byte {
				if req.URL.Path == protocol.PathInfo {
					var info protocol.Info
					require.NoError(t, protocol.Unmarshal(body, &info))
					info.DefaultRule = tc.told
					b, err := protocol.Marshal(info)
					require.NoError(t, err)
					return b
				}
				var x protocol.ExchangeResponse
				if req.URL.Path != protocol.PathExchange || protocol.Unmarshal(body, &x) != nil {
					return body
				}
				refused := map[string]bool{}
				for _, r := range x.Results {
					refused[r.ID] = r.Status == protocol.StatusRejected || r.Status == protocol.StatusConflict
				}
				kept := x.Items[:0]
				for _, it := range x.Items {
					if refused[it.ID] {
						dropped.Add(1)
						continue
					}
					kept = append(kept, it)
				}
				x.Items = kept
				b, err := protocol.Marshal(x)
				require.NoError(t, err)
				return b
			}
			c := srv.client(t, "alice", "laptop", withTransport(&hookTransport{base: http.DefaultTransport, before: rec.before, after: drop}))
			other := srv.client(t, "alice", "phone")
			require.NoError(t, other.Put("notes", "n", []byte("v1")))
			mustSync(t, other)
			mustSync(t, c)
			require.NoError(t, other.Put("notes", "n", []byte("theirs")))
			mustSync(t, other)
			require.NoError(t, c.Put("notes", "n", []byte("mine")))

			n := len(rec.requests())
			rep := mustSync(t, c)
			uploads, downloads := 0, 0
			for _, x := range rec.requests()[n:] {
				uploads += len(x.Uploads)
				downloads += len(x.Downloads)
			}
			require.EqualValues(t, 1, dropped.Load(), "the fault happened")
			require.Equal(t, 1, uploads, "the refused version is not uploaded again")
			require.Equal(t, 1, downloads, "the server's item is downloaded in the next round")
			require.Equal(t, 1, rep.Conflicts)
			require.Equal(t, "theirs", mustGet(t, c, "notes", "n"))
			info, err := c.Stat("notes", "n")
			require.NoError(t, err)
			require.False(t, info.Pending)
			cs, err := c.Conflicts()
			require.NoError(t, err)
			require.Len(t, cs, 1, "one record of the refused version: %+v", cs)
			require.Equal(t, tc.kind, cs[0].Kind)
			require.Equal(t, "mine", string(cs[0].Content))
		})
	}
}
