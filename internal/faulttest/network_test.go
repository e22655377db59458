package faulttest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/faultproxy"
	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/protocol"
)

// netEnv is a server behind a fault proxy and two replicas of one user
// talking to it through the proxy.
type netEnv struct {
	t       *testing.T
	s       *server
	p       *faultproxy.Proxy
	a, b    *replica
	checker string
	// anchor is the version of the checker's item wiki/anchor (0: not
	// written), the item moveConflictsSeq makes records of; records
	// counts them.
	anchor  uint64
	records int
}

func newNetEnv(t *testing.T, cfg clientd.Config) *netEnv {
	t.Helper()
	s := startServer(t, nil)
	p, err := faultproxy.New(s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	e := &netEnv{t: t, s: s, p: p, checker: s.token("u", "checker")}
	e.a = openReplica(t, 0, p.URL(), s.token("u", "a"), &http.Transport{}, cfg)
	e.b = openReplica(t, 1, p.URL(), s.token("u", "b"), &http.Transport{}, cfg)
	return e
}

// check requires that every acknowledged upload is on the server, that the
// replicas converge on the last edit of every item, and that every edit
// became exactly one server version.
func (e *netEnv) check() {
	e.t.Helper()
	state, _ := e.s.state(e.checker)
	require.Empty(e.t, faulttest.CheckAcks(append(e.a.rec.Acks(), e.b.rec.Acks()...), state))
	converge(e.t, e.s, e.checker, e.a, e.b)
	_, applied := e.s.state(e.checker)
	edits := e.a.n + e.b.n
	if e.anchor != 0 {
		edits++
	}
	require.Equal(e.t, uint64(edits), applied, "%d edits, %d versions applied: an edit was lost or applied twice", edits, applied)
}

// moveConflictsSeq stores a new conflict record of the user, so that the
// next session sees conflicts_seq move and lists the records (SP-10-9):
// only then does a session send POST /v1/conflicts. The record is a
// manual conflict on the checker's wiki/anchor, which writes no version
// (the anchor's first version, written once, is counted by check).
func (e *netEnv) moveConflictsSeq() {
	e.t.Helper()
	post := func(up protocol.Upload) protocol.UploadResult {
		body, err := protocol.Marshal(protocol.ExchangeRequest{Collection: "wiki", BatchID: fmt.Sprintf("anchor-batch-%08d-%08d", e.anchor, e.records), Uploads: []protocol.Upload{up}})
		require.NoError(e.t, err)
		req, err := http.NewRequest(http.MethodPost, e.s.url()+protocol.PathExchange, bytes.NewReader(body))
		require.NoError(e.t, err)
		req.Header.Set("Authorization", "Bearer "+e.checker)
		req.Header.Set(protocol.HeaderVersion, "1")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(e.t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(e.t, err)
		require.Equal(e.t, http.StatusOK, resp.StatusCode, "%x", b)
		var out protocol.ExchangeResponse
		require.NoError(e.t, protocol.Unmarshal(b, &out))
		return out.Results[0]
	}
	upload := func(base, seen uint64, content string) protocol.Upload {
		fp := fingerprint.Of("anchor", false, []byte(content))
		return protocol.Upload{ID: "anchor", Base: base, Seen: seen, FP: fp.Bytes(), HLC: uint64(time.Now().UnixMilli()) << 16, Content: []byte(content)}
	}
	if e.anchor == 0 {
		res := post(upload(0, 0, "anchor"))
		require.Equal(e.t, protocol.StatusApplied, res.Status)
		e.anchor = res.Version
	}
	e.records++
	res := post(upload(0, e.anchor, fmt.Sprintf("set aside %d", e.records)))
	require.Equal(e.t, protocol.StatusConflict, res.Status)
}

func syncCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A session whose every exchange response is lost ends with an error, but
// the server applied the upload. When the item is edited again before the
// next session, that edit derives from the one whose acknowledgement was
// lost: under every rule it must go up as a fast-forward, not conflict with
// the device's own earlier version (which server-wins would keep, putting
// the newest edit in the conflict log; client-wins and latest-wins would
// keep as an "overwritten" record; manual as a conflict record).
func TestAnEditAfterALostAcknowledgementIsNotAConflict(t *testing.T) {
	for _, coll := range collections {
		for _, lostDelete := range []bool{false, true} {
			name := rules[coll] + "/edit after a lost edit"
			if lostDelete {
				name = rules[coll] + "/put after a lost delete"
			}
			t.Run(name, func(t *testing.T) {
				e := newNetEnv(t, clientd.Config{})
				ctx := syncCtx(t)
				id := "x"
				put := func(v string) {
					require.NoError(t, e.a.c.Put(coll, id, []byte(v)))
					e.a.last[coll+"/"+id] = version{content: v}
					e.a.n++
				}
				put("v1")
				_, err := e.a.c.Sync(ctx)
				require.NoError(t, err)
				// Uploaded and applied; every response is lost.
				if lostDelete {
					require.NoError(t, e.a.c.Delete(coll, id))
					e.a.n++
				} else {
					put("v2")
				}
				e.p.Set(faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/v1/exchange", InBody: true})
				_, err = e.a.c.Sync(ctx)
				require.Error(t, err)
				require.True(t, clientd.Retryable(err), "%v", err)
				require.NotZero(t, e.p.Struck())
				e.p.Heal()
				put("v3") // made on top of the lost-acknowledged version
				_, err = e.a.c.Sync(ctx)
				require.NoError(t, err)
				got, err := e.a.c.Get(coll, id)
				require.NoError(t, err, "the newest edit lost to the device's own older one")
				require.Equal(t, "v3", string(got), "the newest edit lost to the device's own older one")
				conflicts, err := e.a.c.Conflicts()
				require.NoError(t, err)
				require.Empty(t, conflicts, "the device conflicted with itself")
				e.check()
			})
		}
	}
}

// news syncs b's edits, so that the server holds changes a has not seen
// and a's session pulls change info: with nothing new since its cursor it
// pulls none (SP-6.1-9).
func (e *netEnv) news(t *testing.T) {
	t.Helper()
	_, err := e.b.c.Sync(syncCtx(t))
	require.NoError(t, err)
}

// phases are the requests of a sync session, in order (the collections
// come with Info, SP-3-15); the session lists the conflict records only
// when they changed (moveConflictsSeq).
var phases = []string{protocol.PathInfo, protocol.PathChanges, protocol.PathExchange, protocol.PathConflicts}

// strikes are the faults aimed at one message.
var strikes = []struct {
	name string
	f    faultproxy.Fault
}{
	{"reset before the first byte", faultproxy.Fault{Kind: faultproxy.Reset}},
	{"reset inside the headers", faultproxy.Fault{Kind: faultproxy.Reset, After: 40}},
	{"cut inside the headers", faultproxy.Fault{Kind: faultproxy.Cut, After: 40}},
	{"cut between the headers and the body", faultproxy.Fault{Kind: faultproxy.Cut, InBody: true}},
	{"hang", faultproxy.Fault{Kind: faultproxy.Hang, After: 20}},
	// Only exchange bodies are sure to be longer than 10 bytes.
	{"cut inside the body", faultproxy.Fault{Kind: faultproxy.Cut, After: 10, InBody: true}},
}

// TestNetworkFaultsInEveryPhase aims each fault at each phase of a sync in
// each direction: a request that never arrives whole, or a response that
// never does (after the server acted on the request). Struck once, the
// client retries within the session (the same bytes and batch ID) and the
// sync succeeds; struck every time, the sync fails with a retryable network
// error and the next one after the fault heals succeeds. Either way nothing
// acknowledged is lost, every edit is applied once and the replicas
// converge. CI runs a rotation of the faults over the phases;
// SYNCPRINT_FAULT_SWEEP=full runs every combination.
func TestNetworkFaultsInEveryPhase(t *testing.T) {
	full := os.Getenv("SYNCPRINT_FAULT_SWEEP") == "full"
	for pi, path := range phases {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			// A hung request costs one RequestTimeout.
			e := newNetEnv(t, clientd.Config{RequestTimeout: 750 * time.Millisecond})
			k := 0
			for di, dir := range []faultproxy.Dir{faultproxy.Up, faultproxy.Down} {
				for si, st := range strikes {
					if !full && si != (pi*2+di)%(len(strikes)-1) && path != protocol.PathExchange { // the last one strikes exchanges only
						continue
					}
					if dir == faultproxy.Up && st.f.InBody && path == protocol.PathInfo {
						continue // GET /v1/info has no body to strike in
					}
					if st.f.After > 0 && st.f.InBody && path != protocol.PathExchange {
						continue
					}
					t.Run(fmt.Sprintf("%s/%s/once", dir, st.name), func(t *testing.T) {
						f := st.f
						f.Dir, f.Path, f.Times = dir, path, 1
						k++
						e.a.edit(k)
						e.b.edit(k)
						if path == protocol.PathConflicts {
							e.moveConflictsSeq()
						}
						if path == protocol.PathChanges {
							e.news(t)
						}
						e.p.Set(f)
						_, err := e.a.c.Sync(syncCtx(t))
						require.NoError(t, err, "a fault struck once is retried within the session")
						require.Equal(t, 1, e.p.Struck(), "the fault did not strike")
						e.p.Heal()
						e.check()
					})
				}
				// Struck every time: the session gives up with a retryable
				// error, and a later one succeeds.
				st := strikes[(pi+di)%len(strikes)]
				if st.f.Kind == faultproxy.Hang {
					st = strikes[0] // four hung attempts would cost four timeouts
				}
				t.Run(fmt.Sprintf("%s/%s/until healed", dir, st.name), func(t *testing.T) {
					f := st.f
					f.Dir, f.Path = dir, path
					k++
					e.a.edit(k)
					if path == protocol.PathConflicts {
						e.moveConflictsSeq()
					}
					if path == protocol.PathChanges {
						e.b.edit(k)
						e.news(t)
					}
					e.p.Set(f)
					_, err := e.a.c.Sync(syncCtx(t))
					require.Error(t, err)
					require.True(t, clientd.Retryable(err), "not retryable: %v", err)
					require.ErrorIs(t, err, clientd.ErrNetwork)
					require.GreaterOrEqual(t, e.p.Struck(), 2, "the session did not retry")
					e.p.Heal()
					e.check()
				})
			}
		})
	}
}

// TestSlowNetworksStillSync adds latency and a bandwidth limit in both
// directions; a sync takes longer but succeeds, within the request timeout.
func TestSlowNetworksStillSync(t *testing.T) {
	for _, f := range []faultproxy.Fault{
		{Kind: faultproxy.Latency, Delay: 15 * time.Millisecond},
		{Kind: faultproxy.Bandwidth, BytesPerSec: 200_000},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			e := newNetEnv(t, clientd.Config{})
			big := noise(40_000) // 0.2 s each way at 200 KB/s
			require.NoError(t, e.a.c.Put("notes", "big", []byte(big)))
			e.a.last["notes/big"] = version{content: big}
			e.a.n++
			e.a.edit(1, 2)
			e.b.edit(1)
			e.p.Set(f)
			start := time.Now()
			_, err := e.a.c.Sync(syncCtx(t))
			require.NoError(t, err)
			require.NotZero(t, e.p.Struck())
			t.Logf("%s: sync took %v", f, time.Since(start))
			_, err = e.b.c.Sync(syncCtx(t))
			require.NoError(t, err)
			e.p.Heal()
			e.check()
		})
	}
}

// noise returns n bytes that do not compress (bodies may be compressed).
func noise(n int) string {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// A request slower than RequestTimeout fails every attempt: the session
// ends with a retryable network error instead of hanging, and syncs again
// once the link is fast.
func TestATooSlowLinkTimesOutAndRecovers(t *testing.T) {
	e := newNetEnv(t, clientd.Config{RequestTimeout: 300 * time.Millisecond})
	big := noise(60_000)
	require.NoError(t, e.a.c.Put("notes", "big", []byte(big)))
	e.a.last["notes/big"] = version{content: big}
	e.a.n++
	e.p.Set(faultproxy.Fault{Kind: faultproxy.Bandwidth, Dir: faultproxy.Up, Path: protocol.PathExchange, BytesPerSec: 50_000})
	_, err := e.a.c.Sync(syncCtx(t))
	require.Error(t, err)
	require.True(t, clientd.Retryable(err), "%v", err)
	e.p.Heal()
	e.check()
}

// TestTheBackgroundLoopRecoversAfterAnOutage cuts the server off (every
// connection reset) while a started client has a local edit: the loop
// fails, backs off with jitter instead of spinning, and once the network
// heals uploads the edit on its own; its long-poll recovers too and brings
// in another device's edit without any call from the app.
func TestTheBackgroundLoopRecoversAfterAnOutage(t *testing.T) {
	const minBackoff, maxBackoff = 20 * time.Millisecond, 80 * time.Millisecond
	e := newNetEnv(t, clientd.Config{MinBackoff: minBackoff, MaxBackoff: maxBackoff, Debounce: 5 * time.Millisecond,
		SyncInterval: time.Hour, WatchTimeout: time.Second, HTTPClient: &http.Client{Timeout: 3 * time.Second}})
	a := e.a
	status := func() clientd.Status {
		st, err := a.c.Status()
		require.NoError(t, err)
		return st
	}
	require.NoError(t, a.c.Start())
	eventually(t, 10*time.Second, "the first background sync", func() bool { return !status().LastSync.IsZero() })

	e.p.Set(faultproxy.Fault{Kind: faultproxy.Reset}) // the server is unreachable
	start := time.Now()
	a.edit(1)
	eventually(t, 10*time.Second, "the loop to report the failure", func() bool { st := status(); return st.LastError != "" && st.Pending > 0 })
	eventually(t, 10*time.Second, "more failed attempts", func() bool { return e.p.Struck() >= 12 })
	elapsed, struck := time.Since(start), e.p.Struck()
	// Two loops (sync and watch), each request tried up to 4 times per
	// session, at most one session per MinBackoff: a loop without backoff
	// would make thousands of attempts.
	bound := 2 * 4 * (int(elapsed/minBackoff) + 2)
	require.LessOrEqual(t, struck, bound, "%d attempts in %v: the loop does not back off", struck, elapsed)
	st := status()
	require.False(t, st.NextAttempt.IsZero(), "a retryable failure must schedule another attempt")

	e.p.Heal()
	eventually(t, 10*time.Second, "the loop to upload the edit after the outage", func() bool {
		st := status()
		return st.Pending == 0 && st.LastError == ""
	})

	// The long-poll works again: an edit of b reaches a with no call on a.
	events, cancel := a.c.Subscribe()
	defer cancel()
	e.b.edit(2)
	_, err := e.b.c.Sync(syncCtx(t))
	require.NoError(t, err)
	coll, id := collections[0], "r1-2"
	want := e.b.last[coll+"/"+id].content
	eventually(t, 10*time.Second, "the watch to bring b's edit to a", func() bool {
		select {
		case <-events:
		default:
		}
		got, err := a.c.Get(coll, id)
		return err == nil && string(got) == want
	})
	e.check()
}

// TestTheWatchRecoversFromFaults breaks the long-poll alone, in each
// direction, until healed: the watch loop retries with backoff and, once
// the network heals, another device's edit reaches the started client by
// notification (its periodic sync is an hour away). A hung watch is cut by
// the app's http.Client.Timeout. CI runs a rotation of the faults;
// SYNCPRINT_FAULT_SWEEP=full runs them all.
func TestTheWatchRecoversFromFaults(t *testing.T) {
	full := os.Getenv("SYNCPRINT_FAULT_SWEEP") == "full"
	for di, dir := range []faultproxy.Dir{faultproxy.Up, faultproxy.Down} {
		for si, st := range strikes[:5] {
			if !full && (si+di)%2 == 1 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", dir, st.name), func(t *testing.T) {
				t.Parallel()
				e := newNetEnv(t, clientd.Config{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
					SyncInterval: time.Hour, WatchTimeout: time.Second, HTTPClient: &http.Client{Timeout: 2500 * time.Millisecond}})
				require.NoError(t, e.a.c.Start())
				eventually(t, 10*time.Second, "the first background sync", func() bool {
					st, err := e.a.c.Status()
					return err == nil && !st.LastSync.IsZero()
				})
				f := st.f
				f.Dir, f.Path = dir, protocol.PathWatch
				e.p.Set(f)
				eventually(t, 10*time.Second, "the fault to strike a watch", func() bool { return e.p.Struck() > 0 })
				e.b.edit(1)
				_, err := e.b.c.Sync(syncCtx(t))
				require.NoError(t, err)
				e.p.Heal()
				coll, id := collections[0], "r1-1"
				want := e.b.last[coll+"/"+id].content
				eventually(t, 15*time.Second, "the watch to bring b's edit to a", func() bool {
					got, err := e.a.c.Get(coll, id)
					return err == nil && string(got) == want
				})
				e.check()
			})
		}
	}
}

// Under manual, an upload that loses is kept as a server conflict record.
// If every response of that exchange is lost, the next session uploads
// the same version again: the server must not keep it twice.
func TestALostConflictResponseKeepsOneRecord(t *testing.T) {
	e := newNetEnv(t, clientd.Config{})
	ctx := syncCtx(t)
	coll, id := "wiki", "x"
	require.NoError(t, e.a.c.Put(coll, id, []byte("from a")))
	_, err := e.a.c.Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, e.b.c.Put(coll, id, []byte("from b")))
	e.p.Set(faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: protocol.PathExchange, InBody: true})
	_, err = e.b.c.Sync(ctx)
	require.Error(t, err)
	e.p.Heal()
	_, err = e.b.c.Sync(ctx)
	require.NoError(t, err)
	_, err = e.a.c.Sync(ctx)
	require.NoError(t, err)
	for _, r := range []*replica{e.a, e.b} {
		cs, err := r.c.Conflicts()
		require.NoError(t, err)
		require.Len(t, cs, 1, "replica %d: the losing version is kept %d times", r.i, len(cs))
		require.Equal(t, "from b", string(cs[0].Content))
	}
	got, err := e.b.c.Get(coll, id)
	require.NoError(t, err)
	require.Equal(t, "from a", string(got))
}
