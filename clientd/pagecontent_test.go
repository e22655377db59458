package clientd_test

// Content that comes with the change info (SP-6.1-8): a client with no
// local change in a collection asks for it, and downloads without
// exchanges, each page committed with its cursor.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// changesLog records the change-info requests a client sends and the
// paths of all its requests.
type changesLog struct {
	t     *testing.T
	mu    sync.Mutex
	reqs  []protocol.ChangesRequest
	paths []string
}

func (l *changesLog) before(req *http.Request) {
	l.mu.Lock()
	l.paths = append(l.paths, req.URL.Path)
	l.mu.Unlock()
	if req.URL.Path != protocol.PathChanges {
		return
	}
	var x protocol.ChangesRequest
	require.NoError(l.t, protocol.Unmarshal(peekBody(l.t, req), &x))
	l.mu.Lock()
	l.reqs = append(l.reqs, x)
	l.mu.Unlock()
}

// take returns what was recorded since the last take.
func (l *changesLog) take() ([]protocol.ChangesRequest, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs, paths := l.reqs, l.paths
	l.reqs, l.paths = nil, nil
	return reqs, paths
}

func count(paths []string, path string) int {
	n := 0
	for _, p := range paths {
		if p == path {
			n++
		}
	}
	return n
}

func TestAClientWithNothingLocalTakesTheContentWithTheChangeInfo(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	laptop := srv.client(t, "alice", "laptop")
	items := map[string][]byte{}
	for i := range 2*clientd.DownloadBatchItems + 500 {
		items[fmt.Sprintf("n%04d", i)] = []byte(fmt.Sprintf("note %d", i))
	}
	items["empty"] = []byte{}
	require.NoError(t, laptop.PutMany("notes", items))
	require.NoError(t, laptop.Put("notes", "gone", []byte("soon")))
	mustSync(t, laptop)
	require.NoError(t, laptop.Delete("notes", "gone"))
	mustSync(t, laptop)

	log := &changesLog{t: t}
	phone := srv.client(t, "alice", "phone", withTransport(&hookTransport{base: http.DefaultTransport, before: log.before}))
	rep := mustSync(t, phone)
	require.Equal(t, len(items)+1, rep.Downloaded, "the items and the tombstone")
	reqs, paths := log.take()
	require.Zero(t, count(paths, protocol.PathExchange), "no exchange: the contents came with the change info")
	require.Len(t, reqs, 3, "%d entries in pages of %d", len(items)+1, clientd.DownloadBatchItems)
	for _, r := range reqs {
		require.True(t, r.Content, "every page asks for content")
		require.Equal(t, clientd.DownloadBatchItems, r.Limit, "pages of content are as large as a download exchange")
	}
	for id, want := range items {
		got, err := phone.Get("notes", id)
		require.NoError(t, err, id)
		require.True(t, bytes.Equal(want, got), id)
	}
	_, err := phone.Get("notes", "gone")
	require.ErrorIs(t, err, clientd.ErrNotFound)

	// With a local change the content stays on the server until the
	// fingerprints are compared: the download goes in an exchange.
	require.NoError(t, laptop.Put("notes", "n0001", []byte("from the laptop")))
	mustSync(t, laptop)
	require.NoError(t, phone.Put("notes", "n0002", []byte("from the phone")))
	rep = mustSync(t, phone)
	require.Equal(t, 1, rep.Downloaded)
	require.Equal(t, 1, rep.Uploaded)
	reqs, paths = log.take()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		require.False(t, r.Content, "a client with a local change asks for no content")
	}
	require.Equal(t, 1, count(paths, protocol.PathExchange))
	require.Equal(t, "from the laptop", mustGet(t, phone, "notes", "n0001"))
}

// SP-6.1-8: content that fails its fingerprint is not stored, nor
// anything of its page, and the cursor stays; the next clean session
// gets everything. With 3,000 more items the page is 2,000 entries, which
// the client hashes on two cores, and the bad one is in the second half.
func TestCorruptedContentWithTheChangeInfoIsRefused(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, more := range []int{0, 3000} {
		t.Run(fmt.Sprintf("%d more items", more), func(t *testing.T) {
			srv := startServer(t, serverd.Config{})
			secret := []byte("precious content that must arrive intact")
			hook, corrupt := corrupting(protocol.PathChanges, secret)
			a := srv.client(t, "alice", "laptop")
			b := srv.client(t, "alice", "phone", withTransport(hook), plainBodies)
			items := aroundBad(more)
			items["good"], items["bad"] = []byte("fine"), secret
			require.NoError(t, a.PutMany("notes", items))
			mustSync(t, a)

			_, err := b.Sync(context.Background())
			require.ErrorIs(t, err, clientd.ErrFingerprint)
			for _, id := range []string{"good", "bad"} {
				_, err = b.Get("notes", id)
				require.ErrorIs(t, err, clientd.ErrNotFound, "nothing of the refused page is stored: %s", id)
			}

			corrupt.Store(false)
			require.Equal(t, 2+more, mustSync(t, b).Downloaded)
			require.Equal(t, string(secret), mustGet(t, b, "notes", "bad"))
		})
	}
}

// aroundBad returns n items, half with IDs before "bad" and half after
// it, so that a page or an answer of 2,000 in ID order holds "bad" in its
// second half.
func aroundBad(n int) map[string][]byte {
	items := make(map[string][]byte, n+2)
	for i := range n {
		prefix := "a"
		if i >= n/2 {
			prefix = "c"
		}
		items[fmt.Sprintf("%s%05d", prefix, i)] = []byte(fmt.Sprintf("filler %d", i))
	}
	return items
}

// Each page with content is a segment of its own, committed with its
// cursor while the next is fetched: a session that fails at the fourth page
// keeps the first three, and the next one resumes after them.
func TestPagesWithContentAreCommittedOneByOne(t *testing.T) {
	srv, _ := thirtyNotesInPagesOfFour(t)

	log := &pageLog{t: t, broken: true}
	phone := srv.client(t, "alice", "phone", withTransport(log.transport()), plainBodies)
	_, err := phone.Sync(context.Background())
	require.Error(t, err, "the fourth page cannot be fetched")
	held, err := phone.List("notes")
	require.NoError(t, err)
	require.Len(t, held, 12, "the three pages before it are stored")

	log.mu.Lock()
	log.broken = false
	resumeFrom := log.answers[2]
	log.cursors, log.answers = nil, nil
	log.mu.Unlock()
	require.Equal(t, 18, mustSync(t, phone).Downloaded)
	log.mu.Lock()
	require.Equal(t, resumeFrom, log.cursors[0], "the next session resumes after the third page")
	for i := 1; i < len(log.cursors); i++ {
		require.Equal(t, log.answers[i-1], log.cursors[i], "each page from the cursor of the one before")
	}
	for _, c := range log.content { // both sessions'
		require.True(t, c, "every page asks for content")
	}
	log.mu.Unlock()
	held, err = phone.List("notes")
	require.NoError(t, err)
	require.Len(t, held, 30)
}

// An item edited locally before its page with content is planned is
// decided by the rule like any item touched on both sides; the losing
// version stays recoverable. The pages requested ahead are not in flight
// while the exchange that uploads it is sent.
func TestAnItemEditedBeforeItsPageIsPlannedIsDecidedByTheRule(t *testing.T) {
	for _, tc := range []struct {
		rule          protocol.Rule
		winner, loser string
		kind          string
	}{
		{protocol.ServerWins, "v2", "mine", clientd.KindLocal},
		{protocol.ClientWins, "mine", "v2", clientd.KindServer},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			srv := startServer(t, serverd.Config{DefaultRule: tc.rule, Limits: protocol.Limits{MaxPage: 4}})
			var c *clientd.Client
			var once sync.Once
			var armed sync.Mutex
			arm := false
			pages := 0 // change-info requests in flight
			exchanges := 0
			hook := &hookTransport{base: http.DefaultTransport,
				before: func(req *http.Request) {
					armed.Lock()
					defer armed.Unlock()
					switch req.URL.Path {
					case protocol.PathChanges:
						pages++
					case protocol.PathExchange:
						exchanges++
						require.Zero(t, pages, "no page is fetched while an exchange is sent")
					}
				},
				after: func(req *http.Request, body []byte) []byte {
					armed.Lock()
					go1 := arm
					if req.URL.Path == protocol.PathChanges {
						pages--
					}
					armed.Unlock()
					if req.URL.Path == protocol.PathChanges && go1 {
						once.Do(func() { require.NoError(t, c.Put("notes", "n", []byte("mine"))) })
					}
					return body
				}}
			c = srv.client(t, "alice", "laptop", withTransport(hook))
			other := srv.client(t, "alice", "phone")
			require.NoError(t, other.Put("notes", "n", []byte("v1")))
			mustSync(t, other)
			mustSync(t, c)
			require.NoError(t, other.Put("notes", "n", []byte("v2")))
			for i := range 12 { // pages after n's: requested ahead
				require.NoError(t, other.Put("notes", fmt.Sprintf("x%02d", i), []byte("x")))
			}
			mustSync(t, other)

			armed.Lock()
			arm = true
			armed.Unlock()
			mustSync(t, c)
			armed.Lock()
			if tc.rule == protocol.ClientWins {
				require.Positive(t, exchanges, "the local version goes up in an exchange")
			} else {
				require.Zero(t, exchanges, "the server's version came with its page: nothing to exchange")
			}
			armed.Unlock()
			requireDecided(t, c, other, tc.winner, tc.kind, tc.loser)
		})
	}
}
