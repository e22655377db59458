package clientd_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// orderTransport records when each request starts and when its answer
// comes back, in one sequence, with the cursor and limit of every
// change-info request; holdInfo, when set, keeps Info's answer back until
// 0.2 s after a change-info request has started (or for a second).
type orderTransport struct {
	t        testing.TB
	base     http.RoundTripper
	holdInfo atomic.Bool

	mu      sync.Mutex
	events  []string
	pages   []protocol.ChangesRequest
	changes chan struct{} // closed at the first change-info request
}

func newOrderTransport(t testing.TB) *orderTransport {
	return &orderTransport{t: t, base: http.DefaultTransport, changes: make(chan struct{})}
}

func (o *orderTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.events = append(o.events, "start "+req.URL.Path)
	if req.URL.Path == protocol.PathChanges {
		var r protocol.ChangesRequest
		if err := protocol.Unmarshal(peekBody(o.t, req), &r); err == nil {
			o.pages = append(o.pages, r)
		}
		select {
		case <-o.changes:
		default:
			close(o.changes)
		}
	}
	o.mu.Unlock()
	resp, err := o.base.RoundTrip(req)
	if req.URL.Path == protocol.PathInfo && o.holdInfo.Load() {
		select {
		case <-o.changes:
			time.Sleep(200 * time.Millisecond) // time for a request that should not go
		case <-time.After(time.Second):
		}
	}
	o.mu.Lock()
	o.events = append(o.events, "answer "+req.URL.Path)
	o.mu.Unlock()
	return resp, err
}

// reset forgets what was recorded.
func (o *orderTransport) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events, o.pages, o.changes = nil, nil, make(chan struct{})
}

func (o *orderTransport) recorded() (events []string, pages []protocol.ChangesRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...), append([]protocol.ChangesRequest(nil), o.pages...)
}

// index returns the position of event in events, or -1.
func index(events []string, event string) int {
	for i, e := range events {
		if e == event {
			return i
		}
	}
	return -1
}

// pausedClock is a clock that a test moves ahead of the real one.
type pausedClock struct{ ahead atomic.Int64 }

func (p *pausedClock) now() time.Time { return time.Now().Add(time.Duration(p.ahead.Load())) }

func (p *pausedClock) pause(d time.Duration) { p.ahead.Add(int64(d)) }

// laptopWithClock returns a client whose requests o records and whose
// clock is clk, synced once (so that it holds the server's full Info).
func laptopWithClock(t *testing.T, srv *testServer, o *orderTransport, clk *pausedClock) *clientd.Client {
	laptop := srv.client(t, "alice", "laptop", withTransport(o), func(cfg *clientd.Config) { cfg.Now = clk.now })
	require.NoError(t, laptop.Put("notes", "mine", []byte("laptop's")))
	mustSync(t, laptop)
	return laptop
}

// TestASessionAfterAPauseAsksForItsFirstPageBesideInfo: a device that has
// not synced for a while asks for its first page of change info without
// waiting for Info (SP-3-4), and uses that page: the round trip is saved,
// not spent twice.
func TestASessionAfterAPauseAsksForItsFirstPageBesideInfo(t *testing.T) {
	// Pages of 2: the early page has more after it, and its successor
	// waits for Info (SP-3-17 allows one request before it).
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxPage: 2}})
	o, clk := newOrderTransport(t), &pausedClock{}
	laptop := laptopWithClock(t, srv, o, clk)
	phone := srv.client(t, "alice", "phone")
	for i := range 5 {
		require.NoError(t, phone.Put("notes", fmt.Sprintf("n%d", i), []byte(fmt.Sprintf("phone's %d", i))))
	}
	mustSync(t, phone)

	clk.pause(clientd.EarlyPullAfter)
	o.reset()
	o.holdInfo.Store(true) // Info's answer waits for the page's request
	rep := mustSync(t, laptop)
	events, pages := o.recorded()
	info := index(events, "answer "+protocol.PathInfo)
	require.Less(t, index(events, "start "+protocol.PathChanges), info, "the page was asked for before Info's answer came: %v", events)
	before := 0
	for _, e := range events[:info] {
		if e == "start "+protocol.PathChanges {
			before++
		}
	}
	require.Equal(t, 1, before, "one change-info request before Info's answer, no page ahead of it: %v", events)
	require.Len(t, pages, 3, "5 entries in pages of 2: %v", events)
	cursors := map[string]bool{}
	for _, p := range pages {
		require.False(t, cursors[p.Cursor], "page of cursor %q asked for twice: the page asked for beside Info was used", p.Cursor)
		cursors[p.Cursor] = true
		require.True(t, p.Content, "a device with nothing to upload asks for the contents with the pages (SP-6.1-8)")
	}
	require.Equal(t, 5, rep.Downloaded)
	for i := range 5 {
		require.Equal(t, fmt.Sprintf("phone's %d", i), mustGet(t, laptop, "notes", fmt.Sprintf("n%d", i)))
	}
}

// TestASessionSoonAfterTheLastWaitsForInfo: sessions less than
// EarlyPullAfter apart ask for change info only once Info has come, which
// may spare the request (SP-6.1-9).
func TestASessionSoonAfterTheLastWaitsForInfo(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	o, clk := newOrderTransport(t), &pausedClock{}
	laptop := laptopWithClock(t, srv, o, clk)
	phone := srv.client(t, "alice", "phone")
	require.NoError(t, phone.Put("notes", "n", []byte("phone's")))
	mustSync(t, phone)

	o.reset()
	mustSync(t, laptop)
	events, pages := o.recorded()
	require.Less(t, index(events, "answer "+protocol.PathInfo), index(events, "start "+protocol.PathChanges),
		"the page was asked for after Info's answer: %v", events)
	require.Len(t, pages, 1)
	require.Equal(t, "phone's", mustGet(t, laptop, "notes", "n"))

	// Nothing new since: Info's heads spare the pull.
	o.reset()
	mustSync(t, laptop)
	events, _ = o.recorded()
	require.Equal(t, -1, index(events, "start "+protocol.PathChanges), "no pull with nothing new: %v", events)
}

// TestAnEarlyPageIsDroppedWhenInfoChanged: the server was reconfigured
// while the device was away, so the page it asked for beside Info was
// asked for under limits that no longer hold. The session drops it and
// asks again under the new Info (SP-3-4).
func TestAnEarlyPageIsDroppedWhenInfoChanged(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	o, clk := newOrderTransport(t), &pausedClock{}
	laptop := laptopWithClock(t, srv, o, clk)
	phone := srv.client(t, "alice", "phone")
	for i := range 5 {
		require.NoError(t, phone.Put("notes", fmt.Sprintf("n%d", i), []byte(fmt.Sprintf("phone's %d", i))))
	}
	mustSync(t, phone)

	srv.stop()
	srv.cfg.Limits.MaxPage = 2 // another Info, with another tag
	srv.start(srv.addr)
	clk.pause(clientd.EarlyPullAfter)
	o.reset()
	o.holdInfo.Store(true)
	rep := mustSync(t, laptop)
	events, pages := o.recorded()
	require.Less(t, index(events, "start "+protocol.PathChanges), index(events, "answer "+protocol.PathInfo),
		"the page was asked for beside Info: %v", events)
	require.Greater(t, len(pages), 1, "%v", events)
	require.Greater(t, pages[0].Limit, 2, "the early page went with the limits the device held")
	require.Equal(t, pages[0].Cursor, pages[1].Cursor, "the page was asked for again, from the same cursor")
	for _, p := range pages[1:] {
		require.LessOrEqual(t, p.Limit, 2, "every page after Info within its max_page")
	}
	require.Equal(t, 5, rep.Downloaded)
	for i := range 5 {
		require.Equal(t, fmt.Sprintf("phone's %d", i), mustGet(t, laptop, "notes", fmt.Sprintf("n%d", i)))
	}
}

// TestAWatchedChangeIsPulledBesideInfo: when the server's watch reports a
// change, the session it starts asks for that collection's first page
// beside Info, however soon after the last session: there is news.
func TestAWatchedChangeIsPulledBesideInfo(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	o := newOrderTransport(t)
	laptop := srv.client(t, "alice", "laptop", withTransport(o), func(cfg *clientd.Config) { cfg.SyncInterval = time.Hour })
	require.NoError(t, laptop.Put("a-first", "x", []byte("sorts before notes")))
	require.NoError(t, laptop.Put("notes", "mine", []byte("laptop's")))
	require.NoError(t, laptop.Start())
	eventually(t, 10*time.Second, "the first sync", func() bool {
		st, err := laptop.Status()
		return err == nil && !st.LastSync.IsZero()
	})
	eventually(t, 10*time.Second, "the watch", func() bool {
		events, _ := o.recorded()
		return index(events, "start "+protocol.PathWatch) >= 0
	})

	o.reset()
	o.holdInfo.Store(true)
	phone := srv.client(t, "alice", "phone")
	require.NoError(t, phone.Put("notes", "n", []byte("phone's")))
	mustSync(t, phone)
	eventually(t, 10*time.Second, "the laptop to pull the change", func() bool {
		v, err := laptop.Get("notes", "n")
		return err == nil && string(v) == "phone's"
	})
	events, pages := o.recorded()
	require.NotEmpty(t, pages, "%v", events)
	require.Equal(t, "notes", pages[0].Collection, "the page of the collection the watch named, not the first by name")
	require.Less(t, index(events, "start "+protocol.PathChanges), index(events, "answer "+protocol.PathInfo),
		"the page was asked for before Info's answer came, though the session before had just ended: %v", events)
}
