package clientd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

func TestPushThenPull(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone")
	require.NoError(t, a.PutMany("notes", map[string][]byte{"n1": []byte("one"), "n2": []byte("two")}))
	require.NoError(t, a.Put("tasks", "t1", []byte("buy milk")))

	rep := mustSync(t, a)
	require.Equal(t, 3, rep.Uploaded)
	require.Zero(t, rep.Downloaded)
	require.Equal(t, 2, rep.Collections)
	st, err := a.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)
	require.Equal(t, "alice/laptop", st.Replica)
	require.False(t, st.LastSync.IsZero())
	items, err := a.List("notes")
	require.NoError(t, err)
	require.Equal(t, "alice/laptop", items[0].Author, "the real replica replaces \"local\" at upload")
	require.NotZero(t, items[0].Version)

	rep = mustSync(t, b)
	require.Equal(t, 3, rep.Downloaded)
	require.Equal(t, "two", mustGet(t, b, "notes", "n2"))
	require.Equal(t, "buy milk", mustGet(t, b, "tasks", "t1"))
	h, err := b.History("notes", "n1", 1)
	require.NoError(t, err)
	require.Equal(t, clientd.SourceRemote, h[0].Source)
	require.Equal(t, "alice/laptop", h[0].Author)

	// Nothing moves the second time, and a's own uploads do not come back.
	require.Equal(t, clientd.Report{Rounds: 2, Collections: 2}, zeroDuration(mustSync(t, a)))
	require.Equal(t, clientd.Report{Rounds: 2, Collections: 2}, zeroDuration(mustSync(t, b)))

	// Another user sees none of it.
	bob := srv.client(t, "bob", "phone")
	mustSync(t, bob)
	colls, err := bob.Collections()
	require.NoError(t, err)
	require.Empty(t, colls)
}

func zeroDuration(r clientd.Report) clientd.Report { r.Duration = 0; return r }

func TestBothWaysInOneSync(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone")
	require.NoError(t, a.Put("notes", "from-a", []byte("A")))
	mustSync(t, a)
	require.NoError(t, b.Put("notes", "from-b", []byte("B")))
	rep := mustSync(t, b)
	require.Equal(t, 1, rep.Uploaded)
	require.Equal(t, 1, rep.Downloaded)
	mustSync(t, a)
	for _, c := range []*clientd.Client{a, b} {
		require.Equal(t, "A", mustGet(t, c, "notes", "from-a"))
		require.Equal(t, "B", mustGet(t, c, "notes", "from-b"))
	}
}

func TestDeletesTravelBothWays(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone")
	require.NoError(t, a.PutMany("notes", map[string][]byte{"x": []byte("1"), "y": []byte("2")}))
	mustSync(t, a)
	mustSync(t, b)

	require.NoError(t, a.Delete("notes", "x"))
	require.NoError(t, b.Delete("notes", "y"))
	mustSync(t, a)
	mustSync(t, b)
	mustSync(t, a)
	for _, c := range []*clientd.Client{a, b} {
		items, err := c.List("notes")
		require.NoError(t, err)
		require.Empty(t, items)
		colls, err := c.Collections()
		require.NoError(t, err)
		require.Empty(t, colls, "a collection of tombstones holds no live item")
	}
	// Re-creating a deleted item is a plain edit on top of the tombstone.
	require.NoError(t, b.Put("notes", "x", []byte("again")))
	mustSync(t, b)
	rep := mustSync(t, a)
	require.Zero(t, rep.Conflicts)
	require.Equal(t, "again", mustGet(t, a, "notes", "x"))
	// A fresh device pulls only the live item and the tombstone.
	c := srv.client(t, "alice", "tablet")
	mustSync(t, c)
	require.Equal(t, "again", mustGet(t, c, "notes", "x"))
	_, err := c.Get("notes", "y")
	require.ErrorIs(t, err, clientd.ErrNotFound)
}

// TestEachRuleDecidesAConcurrentEditAndKeepsTheLoser: laptop and phone both
// hold "v0"; the laptop writes "laptop" and syncs first, then the phone,
// which wrote "phone" offline, syncs.
func TestEachRuleDecidesAConcurrentEditAndKeepsTheLoser(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rule      protocol.Rule
		phoneSkew time.Duration // the phone's clock against the laptop's
		winner    string
		// where the losing version is kept: the phone's local conflict log
		// or a server conflict record, with which reason.
		loserKind, loserReason, loser string
	}{
		{"server-wins keeps the server's version and the phone's in its own log", protocol.ServerWins, 0, "laptop", clientd.KindLocal, clientd.ReasonServerWon, "phone"},
		{"client-wins takes the phone's and keeps the laptop's on the server", protocol.ClientWins, 0, "phone", clientd.KindServer, protocol.ReasonOverwritten, "laptop"},
		{"latest-wins takes the later phone edit and keeps the laptop's on the server", protocol.LatestWins, 10 * time.Second, "phone", clientd.KindServer, protocol.ReasonOverwritten, "laptop"},
		{"latest-wins keeps the later laptop edit and the phone's in its own log", protocol.LatestWins, -10 * time.Second, "laptop", clientd.KindLocal, clientd.ReasonServerWon, "phone"},
		{"manual keeps the server's and the phone's as a server record", protocol.Manual, 0, "laptop", clientd.KindServer, protocol.ReasonManual, "phone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule})
			laptop := srv.client(t, "alice", "laptop")
			phone := srv.client(t, "alice", "phone", func(cfg *clientd.Config) {
				cfg.Now = func() time.Time { return time.Now().Add(tc.phoneSkew) }
			})
			require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
			mustSync(t, laptop)
			mustSync(t, phone)

			require.NoError(t, phone.Put("notes", "n", []byte("phone")))
			require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
			mustSync(t, laptop)
			rep := mustSync(t, phone)
			mustSync(t, laptop)
			require.Equal(t, tc.winner, mustGet(t, phone, "notes", "n"))
			require.Equal(t, tc.winner, mustGet(t, laptop, "notes", "n"))
			if tc.loserKind == clientd.KindLocal || tc.rule == protocol.Manual {
				require.Equal(t, 1, rep.Conflicts)
			}

			st, err := phone.Status()
			require.NoError(t, err)
			require.Zero(t, st.Pending)
			cs, err := phone.Conflicts()
			require.NoError(t, err)
			require.Len(t, cs, 1, "%+v", cs)
			cf := cs[0]
			require.Equal(t, tc.loserKind, cf.Kind)
			require.Equal(t, tc.loserReason, cf.Reason)
			require.Equal(t, tc.loser, string(cf.Content))
			require.Equal(t, "notes", cf.Collection)
			require.Equal(t, "n", cf.ID)
			require.Equal(t, "alice/"+tc.loser, cf.Replica)
			require.NotZero(t, cf.ServerVersion, "the version the loser conflicted with")
			require.False(t, cf.CreatedAt.IsZero())
			lcs, err := laptop.Conflicts()
			require.NoError(t, err)
			if tc.loserKind == clientd.KindServer {
				require.Equal(t, cs, lcs, "every device of the user sees the server records")
			} else {
				require.Empty(t, lcs)
			}
		})
	}
}

func TestAnEditMadeWhileTheExchangeIsInFlightStaysPending(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	var c *clientd.Client
	var once sync.Once
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		if req.URL.Path == protocol.PathExchange {
			once.Do(func() { require.NoError(t, c.Put("notes", "n", []byte("second"))) })
		}
	}}
	c = srv.client(t, "alice", "laptop", withTransport(hook))
	other := srv.client(t, "alice", "phone")
	require.NoError(t, c.Put("notes", "n", []byte("first")))

	rep := mustSync(t, c)
	require.Equal(t, 2, rep.Uploaded, "round 1 acknowledged the first version without clearing the second edit")
	require.Equal(t, 2, rep.Rounds, "the second edit went up in round 2, on top of the first")
	require.Zero(t, rep.Conflicts)
	require.Equal(t, "second", mustGet(t, c, "notes", "n"))
	items, err := c.List("notes")
	require.NoError(t, err)
	require.False(t, items[0].Pending)
	mustSync(t, other)
	require.Equal(t, "second", mustGet(t, other, "notes", "n"))
	cs, err := c.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs)
}

func TestAnItemEditedDuringEveryExchangeStaysPendingAfterMaxRounds(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	var c *clientd.Client
	var edits atomic.Int64
	var editing atomic.Bool
	editing.Store(true)
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		if req.URL.Path == protocol.PathExchange && editing.Load() {
			require.NoError(t, c.Put("notes", "n", []byte(fmt.Sprintf("edit %d", edits.Add(1)))))
		}
	}}
	c = srv.client(t, "alice", "laptop", withTransport(hook))
	require.NoError(t, c.Put("notes", "n", []byte("edit 0")))

	rep := mustSync(t, c)
	require.Equal(t, protocol.MaxRounds, rep.Rounds)
	want := fmt.Sprintf("edit %d", edits.Load())
	require.Equal(t, want, mustGet(t, c, "notes", "n"))
	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, 1, st.Pending, "the newest edit is still pending")

	editing.Store(false)
	mustSync(t, c)
	other := srv.client(t, "alice", "phone")
	mustSync(t, other)
	require.Equal(t, want, mustGet(t, other, "notes", "n"))
}

func TestAnEditMadeWhileADownloadIsInFlightIsNotOverwritten(t *testing.T) {
	for _, tc := range []struct {
		rule   protocol.Rule
		winner string
		kind   string
		loser  string
	}{
		{protocol.ServerWins, "v2", clientd.KindLocal, "mine"},
		{protocol.ClientWins, "mine", clientd.KindServer, "v2"},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule})
			var c *clientd.Client
			var armed atomic.Bool
			hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
				if req.URL.Path == protocol.PathExchange && armed.CompareAndSwap(true, false) {
					require.NoError(t, c.Put("notes", "n", []byte("mine")))
				}
			}}
			c = srv.client(t, "alice", "laptop", withTransport(hook), downloadsInExchanges)
			other := srv.client(t, "alice", "phone")
			require.NoError(t, other.Put("notes", "n", []byte("v1")))
			mustSync(t, other)
			mustSync(t, c)
			require.NoError(t, other.Put("notes", "n", []byte("v2")))
			mustSync(t, other)

			// The session plans a download of v2; "mine" is written while
			// it is in flight, so v2 is not stored over it. Round 2 plans
			// "mine" against v2 and the rule decides.
			armed.Store(true)
			rep := mustSync(t, c)
			require.Equal(t, 2, rep.Rounds)
			requireDecided(t, c, other, tc.winner, tc.kind, tc.loser)
		})
	}
}

func TestACorruptedDownloadIsRefusedAndNothingIsStored(t *testing.T) {
	// With 3,000 more items an answer holds 2,000, which the client hashes
	// on two cores, and the bad one is in its second half.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, more := range []int{0, 3000} {
		t.Run(fmt.Sprintf("%d more items", more), func(t *testing.T) {
			srv := startServer(t, serverd.Config{})
			secret := []byte("precious content that must arrive intact")
			hook, corrupt := corrupting(protocol.PathExchange, secret)
			a := srv.client(t, "alice", "laptop")
			b := srv.client(t, "alice", "phone", withTransport(hook), downloadsInExchanges, plainBodies)
			items := aroundBad(more)
			items["good"], items["bad"] = []byte("fine"), secret
			require.NoError(t, a.PutMany("notes", items))
			mustSync(t, a)

			_, err := b.Sync(context.Background())
			require.ErrorIs(t, err, clientd.ErrFingerprint)
			require.True(t, clientd.Retryable(err))
			_, err = b.Get("notes", "bad")
			require.ErrorIs(t, err, clientd.ErrNotFound)
			_, err = b.Get("notes", "good")
			require.ErrorIs(t, err, clientd.ErrNotFound, "nothing from the refused response is stored")
			st, err := b.Status()
			require.NoError(t, err)
			require.Contains(t, st.LastError, "fingerprint")

			corrupt.Store(false)
			rep := mustSync(t, b)
			require.Equal(t, 2+more, rep.Downloaded, "the cursor did not move past the refused items")
			require.Equal(t, string(secret), mustGet(t, b, "notes", "bad"))
		})
	}
}

// TestAStaleUploadIsPlannedAgain: between the phone's pull and its
// exchange the laptop changes the item, so the phone's upload is stale; the
// phone re-plans it with the server's current version in round 2.
func TestAStaleUploadIsPlannedAgain(t *testing.T) {
	for _, tc := range []struct {
		rule      protocol.Rule
		winner    string
		conflicts int
	}{
		{protocol.ServerWins, "laptop", 1},
		{protocol.ClientWins, "phone", 0},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule})
			laptop := srv.client(t, "alice", "laptop")
			var armed atomic.Bool
			hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
				if req.URL.Path == protocol.PathExchange && armed.CompareAndSwap(true, false) {
					require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
					mustSync(t, laptop)
				}
			}}
			phone := srv.client(t, "alice", "phone", withTransport(hook))
			require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
			mustSync(t, laptop)
			mustSync(t, phone)
			require.NoError(t, phone.Put("notes", "n", []byte("phone")))

			armed.Store(true)
			rep := mustSync(t, phone)
			require.Equal(t, 2, rep.Rounds, "round 1 met stale, round 2 re-planned")
			require.Equal(t, tc.conflicts, rep.Conflicts)
			mustSync(t, laptop)
			require.Equal(t, tc.winner, mustGet(t, phone, "notes", "n"))
			require.Equal(t, tc.winner, mustGet(t, laptop, "notes", "n"))
			cs, err := phone.Conflicts()
			require.NoError(t, err)
			require.Len(t, cs, 1, "the loser is kept either way")
		})
	}
}

func TestBatchesAndPagesStayWithinTheAnnouncedLimits(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxBatchItems: 7, MaxIDs: 5, MaxPage: 4, MaxBatchBytes: 64}})
	var events []clientd.ProgressEvent
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone", func(cfg *clientd.Config) {
		cfg.Progress = func(ev clientd.ProgressEvent) { events = append(events, ev) }
	})
	items := map[string][]byte{}
	for i := 0; i < 30; i++ {
		items[fmt.Sprintf("i%02d", i)] = bytes.Repeat([]byte{byte('a' + i%26)}, 20)
	}
	require.NoError(t, a.PutMany("notes", items))
	rep := mustSync(t, a)
	require.Equal(t, 30, rep.Uploaded)
	rep = mustSync(t, b)
	require.Equal(t, 30, rep.Downloaded)
	for id, want := range items {
		require.Equal(t, string(want), mustGet(t, b, "notes", id))
	}
	require.NotEmpty(t, events)
	last := events[len(events)-1]
	require.Equal(t, 30, last.Downloaded)
}

func TestConcurrentSyncsOfOneClientAreSerialised(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	for i := 0; i < 20; i++ {
		require.NoError(t, a.Put("notes", fmt.Sprint(i), []byte("x")))
	}
	var wg sync.WaitGroup
	total := atomic.Int64{}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := a.Sync(context.Background())
			require.NoError(t, err)
			total.Add(int64(rep.Uploaded))
		}()
	}
	wg.Wait()
	require.Equal(t, int64(20), total.Load(), "each item went up exactly once")
}

func TestAnUnknownTokenIsAFinalError(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	c := openStore(t, t.TempDir()+"/s.db", clientd.Config{ServerURL: srv.url, Token: "sp_" + string(bytes.Repeat([]byte("A"), 43))})
	_, err := c.Sync(context.Background())
	require.Equal(t, protocol.CodeUnauthorized, protocol.CodeOf(err))
	require.False(t, clientd.Retryable(err))
}

func TestAnUnreachableServerIsANetworkError(t *testing.T) {
	c := openStore(t, t.TempDir()+"/s.db", clientd.Config{ServerURL: "http://127.0.0.1:1", Token: "x", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	_, err := c.Sync(context.Background())
	require.ErrorIs(t, err, clientd.ErrNetwork)
	require.True(t, clientd.Retryable(err))
}

func TestALostExchangeResponseIsRetriedWithTheSameBytes(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	var mu sync.Mutex // guards bodies
	var bodies [][]byte
	var dropped atomic.Bool
	hook := &hookTransport{
		base: http.DefaultTransport,
		before: func(req *http.Request) {
			if req.URL.Path != protocol.PathExchange {
				return
			}
			b, err := readAll(&http.Response{Body: req.Body})
			require.NoError(t, err)
			req.Body = nopCloser(b)
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		},
		// The server applies the first exchange; its answer is lost.
		fail: func(req *http.Request) bool {
			return req.URL.Path == protocol.PathExchange && dropped.CompareAndSwap(false, true)
		},
	}
	a := srv.client(t, "alice", "laptop", withTransport(hook))
	require.NoError(t, a.Put("notes", "n", []byte("once")))
	rep := mustSync(t, a)
	require.Equal(t, 1, rep.Uploaded)
	mu.Lock()
	require.Len(t, bodies, 2)
	require.Equal(t, bodies[0], bodies[1], "the retry repeats the batch byte for byte")
	mu.Unlock()

	b := srv.client(t, "alice", "phone")
	mustSync(t, b)
	h, err := b.History("notes", "n", 0)
	require.NoError(t, err)
	require.Len(t, h, 1, "applied once")
	items, err := b.List("notes")
	require.NoError(t, err)
	require.Equal(t, uint64(1), items[0].Version)
}

func TestAStoreRefusesATokenOfAnotherDevice(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	path := t.TempDir() + "/s.db"
	c := openStore(t, path, clientd.Config{ServerURL: srv.url, Token: srv.token("alice", "laptop")})
	mustSync(t, c)
	require.NoError(t, c.Close())
	c = openStore(t, path, clientd.Config{ServerURL: srv.url, Token: srv.token("bob", "laptop")})
	_, err := c.Sync(context.Background())
	require.ErrorIs(t, err, clientd.ErrWrongReplica)
	require.False(t, clientd.Retryable(err))
}

func TestAnItemOverTheServersLimitStaysPendingAndIsReported(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxItemBytes: 10}})
	c := srv.client(t, "alice", "laptop")
	require.NoError(t, c.Put("notes", "big", []byte("twenty bytes of text")), "offline, the server's limit is not known yet")
	require.NoError(t, c.Put("notes", "small", []byte("ok")))
	rep := mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.Equal(t, []string{"notes/big"}, rep.TooLarge)
	info, err := c.Stat("notes", "big")
	require.NoError(t, err)
	require.True(t, info.Pending)
	require.Equal(t, protocol.CodeItemTooLarge, protocol.CodeOf(c.Put("notes", "other", []byte("twenty bytes of text"))),
		"after a sync, Put checks the announced limit")
	require.NoError(t, c.Put("notes", "big", []byte("short")))
	rep = mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.Empty(t, rep.TooLarge)
}

func TestTheTokenIsNotSentOverPlainHTTPToARemoteHost(t *testing.T) {
	_, err := clientd.Open(t.TempDir()+"/s.db", clientd.Config{ServerURL: "http://sync.example.com", Token: "sp_x"})
	require.ErrorContains(t, err, "plain http")
	c, err := clientd.Open(t.TempDir()+"/s.db", clientd.Config{ServerURL: "http://sync.example.com", Token: "sp_x", AllowInsecureHTTP: true})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	for _, url := range []string{"https://sync.example.com", "http://localhost:7070", "http://[::1]:7070", "http://127.0.0.2"} {
		c, err := clientd.Open(t.TempDir()+"/s.db", clientd.Config{ServerURL: url, Token: "sp_x"})
		require.NoError(t, err, url)
		require.NoError(t, c.Close())
	}
}

func TestUploadsTheServerRefusesAreReportedAndTheRestOfTheBatchGoesAgain(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxItemBytes: 10}})
	secret := []byte("flip-me!")
	var flipped atomic.Bool
	hook := &hookTransport{
		base: http.DefaultTransport,
		// The client believes items may be large (a limit that changed
		// after it read Info), so the server refuses the big one.
		after: func(req *http.Request, body []byte) []byte {
			if req.URL.Path != protocol.PathInfo {
				return body
			}
			var info protocol.Info
			require.NoError(t, protocol.Unmarshal(body, &info))
			info.Limits.MaxItemBytes = 1 << 20
			out, err := protocol.Marshal(&info)
			require.NoError(t, err)
			return out
		},
		// One upload's content is damaged on the way: fingerprint_mismatch.
		before: func(req *http.Request) {
			if req.URL.Path != protocol.PathExchange {
				return
			}
			b, err := readAll(&http.Response{Body: req.Body})
			require.NoError(t, err)
			// (The server checks sizes first: damage the request after.)
			if i := bytes.Index(b, secret); i >= 0 && !bytes.Contains(b, []byte("more than ten")) && flipped.CompareAndSwap(false, true) {
				b = bytes.Clone(b)
				b[i] ^= 1
			}
			req.Body, req.ContentLength = nopCloser(b), int64(len(b))
		},
	}
	c := srv.client(t, "alice", "laptop", withTransport(hook))
	require.NoError(t, c.PutMany("notes", map[string][]byte{"big": []byte("more than ten bytes"), "bent": secret, "fine": []byte("ok")}))
	rep := mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.ElementsMatch(t, []string{"notes/big"}, rep.TooLarge)
	require.ElementsMatch(t, []string{"notes/bent"}, rep.Corrupt)
	st, err := c.Status()
	require.NoError(t, err)
	require.Equal(t, 2, st.Pending)
	// The next session tries again (the damage was in transit).
	rep = mustSync(t, c)
	require.Equal(t, 1, rep.Uploaded)
	require.Equal(t, []string{"notes/big"}, rep.TooLarge)
	st, err = c.Status()
	require.NoError(t, err)
	require.Equal(t, rep.TooLarge, st.LastReport.TooLarge, "apps using the loop see it in Status")
}

// TestAReinstalledDeviceMeetsItsOldVersionsAsConcurrentEdits: an app
// reinstalled with its old token opens a fresh store of the same replica
// and writes an item with a fixed ID before its first sync. The server's
// version of that ID was made by the old install - the same replica ID -
// but not uploaded from this store, so it is not rebased on (that would
// overwrite it silently): the rule decides, and the loser is kept.
func TestAReinstalledDeviceMeetsItsOldVersionsAsConcurrentEdits(t *testing.T) {
	for _, tc := range []struct {
		rule       protocol.Rule
		wantServer string
	}{
		{protocol.ServerWins, "the user's real settings"},
		{protocol.ClientWins, "defaults"},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule})
			old := srv.client(t, "alice", "phone")
			require.NoError(t, old.Put("app", "settings", []byte("the user's real settings")))
			mustSync(t, old)

			fresh := srv.client(t, "alice", "phone") // same replica, new store
			require.NoError(t, fresh.Put("app", "settings", []byte("defaults")))
			mustSync(t, fresh)
			require.Equal(t, tc.wantServer, mustGet(t, fresh, "app", "settings"), "the rule decided: no fast-forward")

			// Whichever lost is kept: in the fresh store's log or as a
			// server record.
			cs, err := fresh.Conflicts()
			require.NoError(t, err)
			var kept []string
			for _, c := range cs {
				kept = append(kept, string(c.Content))
			}
			loser := "defaults"
			if tc.wantServer == "defaults" {
				loser = "the user's real settings"
			}
			require.Contains(t, kept, loser)
		})
	}
}

// TestAnExchangeWhoseAnswerWasLostIsSentAgainNotPlannedAgain: the server
// applies the laptop's upload but every answer is lost; the phone then
// builds on it. The laptop's next session sends the same exchange again
// (SP-6.4-5), learns it was applied, and takes the phone's newer version -
// rather than planning the old write anew, which under client-wins would
// apply it a second time over the phone's.
func TestAnExchangeWhoseAnswerWasLostIsSentAgainNotPlannedAgain(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.ClientWins})
	var cut atomic.Bool
	var exchanges atomic.Int32
	hook := &hookTransport{base: http.DefaultTransport, fail: func(req *http.Request) bool {
		if req.URL.Path == protocol.PathExchange {
			exchanges.Add(1)
			return cut.Load()
		}
		return false
	}}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook))
	phone := srv.client(t, "alice", "phone")

	require.NoError(t, laptop.Put("notes", "n", []byte("laptop's first")))
	cut.Store(true)
	_, err := laptop.Sync(context.Background())
	require.Error(t, err, "every answer lost")
	cut.Store(false)

	mustSync(t, phone)
	require.Equal(t, "laptop's first", mustGet(t, phone, "notes", "n"), "the server applied it")
	require.NoError(t, phone.Put("notes", "n", []byte("phone's, built on it")))
	mustSync(t, phone)

	before := exchanges.Load()
	mustSync(t, laptop)
	require.Equal(t, "phone's, built on it", mustGet(t, laptop, "notes", "n"))
	mustSync(t, phone)
	require.Equal(t, "phone's, built on it", mustGet(t, phone, "notes", "n"), "the old write was not applied again")
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs, "no version was overwritten")
	require.Greater(t, exchanges.Load(), before, "the kept exchange went again")
}

// TestASessionWhoseKeptExchangeStillGetsNoAnswerPlansNothing: the
// laptop's upload is applied but its answer lost, and the phone writes on
// top of it. In the laptop's next session the kept exchange again gets no
// answer; the session must end there rather than plan the old write anew,
// which under client-wins would apply it a second time over the phone's.
// The simulation found that (seed 10177453).
func TestASessionWhoseKeptExchangeStillGetsNoAnswerPlansNothing(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.ClientWins})
	var cut atomic.Bool
	hook := &hookTransport{base: http.DefaultTransport, fail: func(req *http.Request) bool {
		return req.URL.Path == protocol.PathExchange && cut.Load()
	}}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook))
	phone := srv.client(t, "alice", "phone")

	require.NoError(t, laptop.Put("notes", "n", []byte("laptop's first")))
	cut.Store(true)
	_, err := laptop.Sync(context.Background())
	require.Error(t, err, "every answer lost")

	mustSync(t, phone)
	require.Equal(t, "laptop's first", mustGet(t, phone, "notes", "n"), "the server applied it")
	require.NoError(t, phone.Put("notes", "n", []byte("phone's, built on it")))
	mustSync(t, phone)

	pulls := hook.count(protocol.PathChanges)
	_, err = laptop.Sync(context.Background())
	require.Error(t, err, "the kept exchange got no answer again")
	require.Equal(t, pulls, hook.count(protocol.PathChanges), "the session ended before the pull")
	cut.Store(false)
	mustSync(t, laptop)
	mustSync(t, phone)
	for name, c := range map[string]*clientd.Client{"phone": phone, "laptop": laptop} {
		require.Equal(t, "phone's, built on it", mustGet(t, c, "notes", "n"), "%s: the old write was not applied again", name)
	}
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, cs, "no version was overwritten")
}

// TestAnExchangeKeptUnderAnotherEpochIsNotSentAgain: an exchange whose
// answer was lost is kept (SP-6.4-5), but the server then shows another
// epoch (a restored data set, SP-3-14). Its base and seen versions number
// the old data set's history, so it is not sent again: its uploads are
// planned anew (here the pull shows the server holds the upload, as one of
// this device's versions in doubt, and nothing more moves).
func TestAnExchangeKeptUnderAnotherEpochIsNotSentAgain(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.ClientWins})
	var cut atomic.Bool
	rw := &seqRewriter{}
	var mu sync.Mutex
	sent := map[string]int{} // batch ID -> times sent
	hook := &hookTransport{base: http.DefaultTransport,
		before: func(req *http.Request) {
			if req.URL.Path != protocol.PathExchange {
				return
			}
			body := peekBody(t, req)
			var x protocol.ExchangeRequest
			require.NoError(t, protocol.Unmarshal(body, &x), "uncompressed exchange")
			mu.Lock()
			sent[x.BatchID]++
			mu.Unlock()
		},
		after: rw.after,
		fail: func(req *http.Request) bool {
			return req.URL.Path == protocol.PathExchange && cut.Load()
		},
	}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook), plainBodies)

	require.NoError(t, laptop.Put("notes", "n", []byte("laptop's")))
	cut.Store(true)
	_, err := laptop.Sync(context.Background())
	require.Error(t, err, "every answer lost")
	cut.Store(false)
	mu.Lock()
	lost := maps.Clone(sent)
	mu.Unlock()
	require.Len(t, lost, 1, "one exchange, tried several times")

	rw.set(nil, "00000000000000aa") // the laptop now meets another data set
	mustSync(t, laptop)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range lost {
		require.Equal(t, n, sent[id], "the kept exchange %s was not sent under the new epoch", id)
	}
	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	require.Equal(t, "laptop's", mustGet(t, phone, "notes", "n"))
}

// TestAResolutionThatSupersedesAnUploadOfUnknownOutcomeGoesUpAfterIt: the
// phone edits an item that has a server conflict record, and the exchange
// carrying the edit gets no answer: the request is still on its way. The
// user then resolves the item by deleting it; the server already holds a
// deletion, so the resolution writes nothing. Then the old request arrives
// and the server applies the edit as a fast-forward. On this device the
// deletion came after the edit, so it must go up again over it: the
// phone's next session learns the outcome of the kept exchange and uploads
// the deletion, and every replica ends with the item deleted (the
// superseded edit stays in the phone's conflict log). The simulation found
// the phone keeping its deletion while the server kept the edit (seed
// 10177073).
func TestAResolutionThatSupersedesAnUploadOfUnknownOutcomeGoesUpAfterIt(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop := srv.client(t, "alice", "laptop")
	var lose atomic.Bool
	var mu sync.Mutex
	var held []byte
	var heldHeader http.Header
	hook := &hookTransport{base: http.DefaultTransport,
		before: func(req *http.Request) {
			if req.URL.Path != protocol.PathExchange || !lose.Load() {
				return
			}
			body := peekBody(t, req)
			mu.Lock()
			held, heldHeader = body, req.Header.Clone()
			mu.Unlock()
		},
		lose: func(req *http.Request) bool { return req.URL.Path == protocol.PathExchange && lose.Load() },
	}
	phone := srv.client(t, "alice", "phone", withTransport(hook))

	require.NoError(t, laptop.Put("wiki", "howto", []byte("the laptop's")))
	mustSync(t, laptop)
	require.NoError(t, phone.Put("wiki", "howto", []byte("the phone's")))
	mustSync(t, phone) // a manual record of the phone's version
	require.NoError(t, laptop.Delete("wiki", "howto"))
	mustSync(t, laptop)
	mustSync(t, phone) // the phone takes the deletion; the record stays open
	_, err := phone.Get("wiki", "howto")
	require.ErrorIs(t, err, clientd.ErrNotFound)

	require.NoError(t, phone.Put("wiki", "howto", []byte("the phone's edit, on its way")))
	lose.Store(true)
	_, err = phone.Sync(context.Background())
	require.Error(t, err, "the exchange got no answer")
	lose.Store(false)

	require.NoError(t, phone.Resolve(context.Background(), "wiki", "howto", clientd.Resolution{Delete: true}))
	_, err = phone.Get("wiki", "howto")
	require.ErrorIs(t, err, clientd.ErrNotFound, "the user's choice is in place")

	// The old request arrives.
	mu.Lock()
	req, err := http.NewRequest(http.MethodPost, srv.url+protocol.PathExchange, bytes.NewReader(held))
	require.NoError(t, err)
	req.Header = heldHeader
	mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var x protocol.ExchangeResponse
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NoError(t, protocol.Unmarshal(body, &x))
	require.Len(t, x.Results, 1)
	require.Equal(t, protocol.StatusApplied, x.Results[0].Status, "the late edit went in as a fast-forward")

	mustSync(t, phone)
	mustSync(t, laptop)
	for name, c := range map[string]*clientd.Client{"phone": phone, "laptop": laptop} {
		_, err := c.Get("wiki", "howto")
		require.ErrorIs(t, err, clientd.ErrNotFound, "%s: the deletion, made after the edit, is current", name)
	}
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	var kept []string
	for _, cf := range cs {
		kept = append(kept, string(cf.Content))
	}
	require.Contains(t, kept, "the phone's edit, on its way", "the superseded edit stays recoverable")
}

// TestAnEditMadeWhileAResolutionIsOnItsWayIsStampedAfterIt: a device
// reopened after a restart resolves a manual conflict; its handshake for
// the resolution observes the server's clock, ten minutes ahead of its own,
// and while that handshake is on its way the user edits the item. The edit
// derives from the resolution's version (it goes up as a fast-forward of
// it), so its HLC must follow the resolution's (SP-5-4): the choice is
// stamped when the resolution starts, not after the handshake. The
// simulation found the reverse (seed 10148085): a fast-forward carrying an
// HLC earlier than the version it replaced.
func TestAnEditMadeWhileAResolutionIsOnItsWayIsStampedAfterIt(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop := srv.client(t, "alice", "laptop")
	require.NoError(t, laptop.Put("wiki", "howto", []byte("the laptop's")))
	mustSync(t, laptop)

	path := filepath.Join(t.TempDir(), "phone.db")
	tok := srv.token("alice", "phone")
	behind := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	phone, err := clientd.Open(path, clientd.Config{ServerURL: srv.url, Token: tok, Now: behind, DisableCompression: true})
	require.NoError(t, err)
	require.NoError(t, phone.Put("wiki", "howto", []byte("the phone's")))
	mustSync(t, phone) // the server keeps the laptop's; the phone's is a manual record
	cs, err := phone.Conflicts()
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	require.NoError(t, phone.Close())

	var mu sync.Mutex
	var putHLC uint64
	var edited bool
	var reopened *clientd.Client
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		switch req.URL.Path {
		case protocol.PathInfo: // the resolution's handshake: the user edits meanwhile
			mu.Lock()
			defer mu.Unlock()
			if !edited {
				edited = true
				require.NoError(t, reopened.Put("wiki", "howto", []byte("edited during the resolution")))
			}
		case protocol.PathResolve:
			body := peekBody(t, req)
			var r protocol.ResolveRequest
			require.NoError(t, protocol.Unmarshal(body, &r))
			require.NotNil(t, r.Put)
			mu.Lock()
			putHLC = r.Put.HLC
			mu.Unlock()
		}
	}}
	reopened = openStore(t, path, clientd.Config{ServerURL: srv.url, Token: tok, Now: behind, DisableCompression: true,
		HTTPClient: &http.Client{Transport: hook}})
	require.NoError(t, reopened.Resolve(context.Background(), "wiki", "howto", clientd.Resolution{Content: []byte("the choice")}))
	mu.Lock()
	defer mu.Unlock()
	require.True(t, edited, "the edit was made during the handshake")
	hist, err := reopened.History("wiki", "howto", 0)
	require.NoError(t, err)
	var editHLC changelog.HLC
	for _, h := range hist {
		if h.Source == clientd.SourceLocal && h.Fingerprint == fingerprint.Of("howto", false, []byte("edited during the resolution")) {
			editHLC = h.HLC
		}
	}
	require.NotZero(t, editHLC, "the edit is in the history")
	require.Greater(t, uint64(editHLC), putHLC, "the edit made while the resolution was on its way is stamped after it")
}

// TestAnExchangeBuiltAheadIsSentAgainByteForByte: a push of 35 items goes
// in four exchanges of at most 10, each built while the one before is in
// flight, its cursor last (SP-4.1-2). The third answer is lost: the
// session ends without sending the fourth, and the next one sends the
// third again with the very bytes the server hashed (SP-6.4-2), which the
// server answers from its record, and then the rest. Every item is on the
// server once.
func TestAnExchangeBuiltAheadIsSentAgainByteForByte(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxBatchItems: 10}})
	var cut atomic.Bool
	log := newExchangeRecorder(t)
	log.onSend = func(n int) {
		if n == 3 {
			cut.Store(true) // this answer and those of its retries are lost
		}
	}
	hook := &hookTransport{base: http.DefaultTransport, before: log.before,
		fail: func(req *http.Request) bool { return req.URL.Path == protocol.PathExchange && cut.Load() }}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook))
	for i := range 35 {
		require.NoError(t, laptop.Put("notes", fmt.Sprintf("n%02d", i), bytes.Repeat([]byte{'a' + byte(i%26)}, 100)))
	}
	_, err := laptop.Sync(context.Background())
	require.Error(t, err, "the third answer was lost")
	cut.Store(false)
	log.mu.Lock()
	sent := log.bodies
	lost, tries := sent[2], len(sent)
	for i, body := range sent[3:] {
		require.Equal(t, lost, body, "send %d: only the third was retried, the fourth, built ahead, was not sent", i+4)
	}
	for i, body := range sent[:3] {
		var x protocol.ExchangeRequest
		require.NoError(t, protocol.Unmarshal(body, &x))
		require.Len(t, x.Uploads, 10)
		require.Equal(t, protocol.AppendExchangeCursor(protocol.AppendExchangeHead(nil, &x), x.Cursor), body,
			"exchange %d: canonical but for the cursor, which goes last", i+1)
		if i > 0 {
			require.NotEmpty(t, x.Cursor, "exchange %d carries the cursor of the answer before it", i+1)
		}
	}
	log.mu.Unlock()

	mustSync(t, laptop)
	log.mu.Lock()
	sent = log.bodies
	require.Len(t, sent, tries+2, "the kept exchange, then the last")
	require.Equal(t, lost, sent[tries], "the kept exchange went again byte for byte")
	log.mu.Unlock()
	st, err := laptop.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)

	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	items, err := phone.List("notes")
	require.NoError(t, err)
	require.Len(t, items, 35)
	versions := map[uint64]bool{}
	for _, it := range items {
		versions[uint64(it.Version)] = true
	}
	for v := uint64(1); v <= 35; v++ {
		require.True(t, versions[v], "the server's versions are 1 to 35: every upload applied once (version %d)", v)
	}
}

// TestAPushOfManyExchangesSendsEachBatchIntact: a push of 75 items goes
// in eight exchanges of at most 10, the later ones built in the buffers of
// bodies already answered and applied. Every body, as the server got it,
// is the canonical encoding of its own batch (no byte of another), the
// batches cover every item once, and the server holds every item's
// content.
func TestAPushOfManyExchangesSendsEachBatchIntact(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxBatchItems: 10}})
	log := newExchangeRecorder(t)
	laptop := srv.client(t, "alice", "laptop", withTransport(&hookTransport{base: http.DefaultTransport, before: log.before}))
	content := func(i int) []byte {
		return []byte(strings.Repeat(fmt.Sprintf("item %02d of the push; ", i), 8))
	}
	for i := range 75 {
		require.NoError(t, laptop.Put("notes", fmt.Sprintf("n%02d", i), content(i)))
	}
	mustSync(t, laptop)

	log.mu.Lock()
	require.Len(t, log.bodies, 8)
	seen := map[string]bool{}
	for i, body := range log.bodies {
		require.NotEmpty(t, log.codings[i], "exchange %d went compressed", i+1)
		var x protocol.ExchangeRequest
		require.NoError(t, protocol.Unmarshal(body, &x))
		require.Equal(t, protocol.AppendExchangeCursor(protocol.AppendExchangeHead(nil, &x), x.Cursor), body,
			"exchange %d: the canonical encoding of its batch, nothing more", i+1)
		for _, u := range x.Uploads {
			require.False(t, seen[u.ID], "exchange %d: %s was sent before", i+1, u.ID)
			seen[u.ID] = true
			var n int
			_, err := fmt.Sscanf(u.ID, "n%d", &n)
			require.NoError(t, err)
			require.Equal(t, content(n), u.Content, "exchange %d: the content of %s", i+1, u.ID)
		}
	}
	require.Len(t, seen, 75)
	log.mu.Unlock()

	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	for i := range 75 {
		got, err := phone.Get("notes", fmt.Sprintf("n%02d", i))
		require.NoError(t, err)
		require.Equal(t, content(i), got)
	}
}

// TestInfoComesShortOnceTheClientHoldsItsTag: SP-3-16. The first session
// gets the full Info and keeps it, in the store too; every later one, in
// this process or a new one, sends its tag and gets the changing keys
// only. When the server's configuration changes, the tag does: the full
// Info comes again and replaces the one held.
func TestInfoComesShortOnceTheClientHoldsItsTag(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, serverd.Config{DataDir: filepath.Join(dir, "server")})
	var mu sync.Mutex
	var tags []string // the tag each GET /v1/info carried
	var shorts []bool // whether each answer was short
	hook := &hookTransport{base: http.DefaultTransport,
		before: func(req *http.Request) {
			if req.URL.Path == protocol.PathInfo {
				mu.Lock()
				tags = append(tags, req.Header.Get(protocol.HeaderInfoTag))
				mu.Unlock()
			}
		},
		after: func(req *http.Request, body []byte) []byte {
			if req.URL.Path == protocol.PathInfo {
				var m protocol.Info
				require.NoError(t, protocol.Unmarshal(body, &m))
				mu.Lock()
				shorts = append(shorts, m.IsShort())
				mu.Unlock()
			}
			return body
		}}
	tok := srv.token("alice", "laptop")
	path := filepath.Join(dir, "laptop.db")
	cfg := clientd.Config{ServerURL: srv.url, Token: tok, HTTPClient: &http.Client{Transport: hook}, DisableCompression: true}
	laptop := openStore(t, path, cfg)
	require.NoError(t, laptop.Put("notes", "a", []byte("one")))
	mustSync(t, laptop)
	require.NoError(t, laptop.Put("notes", "b", []byte("two")))
	mustSync(t, laptop)
	require.NoError(t, laptop.Close())
	laptop = openStore(t, path, cfg) // a new process: the tag comes from the store
	mustSync(t, laptop)

	mu.Lock()
	require.Len(t, tags, 3)
	require.Empty(t, tags[0], "nothing held yet")
	require.NotEmpty(t, tags[1])
	require.Equal(t, tags[1], tags[2], "the same tag, kept in the store")
	require.Equal(t, []bool{false, true, true}, shorts)
	mu.Unlock()
	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	require.Equal(t, "two", mustGet(t, phone, "notes", "b"), "short Infos, working sessions")

	// Another configuration: the tag the laptop holds no longer matches.
	srv.stop()
	srv.cfg.Limits.MaxPage = 3
	srv.start(srv.addr)
	require.NoError(t, phone.Put("notes", "c", []byte("three")))
	require.NoError(t, phone.Put("notes", "d", []byte("four")))
	require.NoError(t, phone.Put("notes", "e", []byte("five")))
	require.NoError(t, phone.Put("notes", "f", []byte("six")))
	mustSync(t, phone)
	mustSync(t, laptop)
	mustSync(t, laptop)
	mu.Lock()
	require.Len(t, tags, 5)
	require.Equal(t, tags[2], tags[3], "the old tag went")
	require.Equal(t, []bool{false, true, true, false, true}, shorts, "the full Info, then short again")
	require.NotEqual(t, tags[3], tags[4], "the new tag is held")
	mu.Unlock()
	require.Equal(t, "six", mustGet(t, laptop, "notes", "f"), "pulled in pages of the new max_page")
}
