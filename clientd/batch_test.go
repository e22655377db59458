package clientd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// exchangeLog decodes every exchange request a client sends. onSend,
// when set, runs under mu with the number recorded so far.
type exchangeLog struct {
	t      *testing.T
	dec    *coding.Decoder
	onSend func(n int)

	mu      sync.Mutex
	reqs    []protocol.ExchangeRequest
	bodies  [][]byte // the decoded bodies, in the order sent
	codings []string // the Content-Encoding of each
}

func newExchangeRecorder(t *testing.T) *exchangeLog {
	dec, err := coding.NewDecoder(protocol.DefaultMaxBodyBytes)
	require.NoError(t, err)
	t.Cleanup(dec.Close)
	return &exchangeLog{t: t, dec: dec}
}

func (r *exchangeLog) before(req *http.Request) {
	if req.URL.Path != protocol.PathExchange {
		return
	}
	plain, err := r.dec.Decode(req.Header.Get("Content-Encoding"), peekBody(r.t, req))
	require.NoError(r.t, err)
	var x protocol.ExchangeRequest
	require.NoError(r.t, protocol.Unmarshal(plain, &x))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, x)
	r.bodies = append(r.bodies, bytes.Clone(plain))
	r.codings = append(r.codings, req.Header.Get("Content-Encoding"))
	if r.onSend != nil {
		r.onSend(len(r.bodies))
	}
}

// The reference client bounds the downloads of one exchange below max_ids
// (SP-6.6-2): at most DownloadBatchItems IDs, and at most 1 MiB of content by the sizes
// the change info announces, so that the response it holds stays small.
func TestDownloadsGoInExchangesOfBoundedSize(t *testing.T) {
	// max_ids 5000, max_batch_bytes 16 MiB; items up to 2 MiB
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxItemBytes: 2 << 20}})
	laptop := srv.client(t, "alice", "laptop")
	mustSync(t, laptop) // learns the server's limits
	items := map[string][]byte{}
	for i := range 2*clientd.DownloadBatchItems + 500 {
		items[fmt.Sprintf("small-%04d", i)] = []byte(fmt.Sprintf("note %d", i))
	}
	for i := range 5 {
		items[fmt.Sprintf("big-%d", i)] = bytes.Repeat([]byte{'a' + byte(i)}, 400<<10)
	}
	items["huge"] = bytes.Repeat([]byte{'h'}, 1100<<10) // over 1 MiB: goes alone
	require.NoError(t, laptop.PutMany("notes", items))
	require.Equal(t, len(items), mustSync(t, laptop).Uploaded)

	rec := newExchangeRecorder(t)
	phone := srv.client(t, "alice", "phone", withTransport(&hookTransport{base: http.DefaultTransport, before: rec.before}), downloadsInExchanges)
	require.Equal(t, len(items), mustSync(t, phone).Downloaded)
	for id, want := range items {
		require.Equal(t, string(want), mustGet(t, phone, "notes", id), id)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := map[string]int{}
	for _, x := range rec.reqs {
		require.Empty(t, x.Uploads)
		require.LessOrEqual(t, len(x.Downloads), clientd.DownloadBatchItems, "IDs in one exchange")
		var big int
		for _, id := range x.Downloads {
			got[id]++
			if strings.HasPrefix(id, "big-") {
				big++
			}
			if id == "huge" {
				require.Equal(t, 1, len(x.Downloads), "an item over 1 MiB goes alone")
			}
		}
		require.LessOrEqual(t, big, 2, "at most 1 MiB of content in one exchange: two items of 400 KiB")
	}
	require.Len(t, got, len(items), "every item asked for")
	for id, n := range got {
		require.Equal(t, 1, n, "%s asked for once", id)
	}
	// The small IDs need three exchanges; five items of 400 KiB three more (two, two, one,
	// some sharing with the small ones); the huge one its own.
	require.GreaterOrEqual(t, len(rec.reqs), 4)
}

// The reference client bounds the upload content of one exchange below
// max_batch_bytes (SP-6.6-2): at most UploadBatchBytes, an item larger than
// that going alone, so that a request it must hold, log and maybe send again
// stays bounded.
func TestUploadsGoInExchangesOfBoundedSize(t *testing.T) {
	// max_batch_bytes 16 MiB and max_body_bytes 20 MiB would take all of it at once.
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxItemBytes: 6 << 20}})
	rec := newExchangeRecorder(t)
	laptop := srv.client(t, "alice", "laptop", withTransport(&hookTransport{base: http.DefaultTransport, before: rec.before}))
	mustSync(t, laptop) // learns the server's limits
	items := map[string][]byte{}
	for i := range 100 {
		items[fmt.Sprintf("small-%03d", i)] = []byte(fmt.Sprintf("note %d", i))
	}
	for i := range 6 {
		items[fmt.Sprintf("big-%d", i)] = bytes.Repeat([]byte{'a' + byte(i)}, 1500<<10)
	}
	items["huge"] = bytes.Repeat([]byte{'h'}, 5<<20) // over UploadBatchBytes: goes alone
	require.NoError(t, laptop.PutMany("notes", items))
	require.Equal(t, len(items), mustSync(t, laptop).Uploaded)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := map[string]int{}
	for _, x := range rec.reqs {
		content := 0
		for _, u := range x.Uploads {
			got[u.ID]++
			content += len(u.Content)
			if u.ID == "huge" {
				require.Equal(t, 1, len(x.Uploads), "an item over UploadBatchBytes goes alone")
			}
		}
		if len(x.Uploads) > 1 {
			require.LessOrEqual(t, content, clientd.UploadBatchBytes, "upload content of one exchange")
		}
	}
	require.Len(t, got, len(items), "every item sent")
	for id, n := range got {
		require.Equal(t, 1, n, "%s sent once", id)
	}
	// 9 MiB of big items in exchanges of at most 4 MiB (two each), and the huge one alone.
	require.GreaterOrEqual(t, len(rec.reqs), 4)

	phone := srv.client(t, "alice", "phone")
	require.Equal(t, len(items), mustSync(t, phone).Downloaded)
	for id, want := range items {
		require.Equal(t, string(want), mustGet(t, phone, "notes", id), id)
	}
}

// The next change-info page is fetched while the current one is indexed
// (pullSegment). Each request still carries the cursor of the page before
// it, and a page that cannot be fetched ends the session before anything
// is planned, with nothing left in flight.
func TestChangePagesAreFetchedAheadInCursorOrder(t *testing.T) {
	srv, items := thirtyNotesInPagesOfFour(t)

	log := &pageLog{t: t, broken: true}
	phone := srv.client(t, "alice", "phone", withTransport(log.transport()), downloadsInExchanges, plainBodies)

	_, err := phone.Sync(context.Background())
	require.Error(t, err, "the fourth page cannot be fetched")
	ls, err := phone.List("notes")
	require.NoError(t, err)
	require.Empty(t, ls, "nothing planned from a segment pulled in part")
	log.mu.Lock()
	sent := len(log.cursors)
	log.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	log.mu.Lock()
	require.Equal(t, sent, len(log.cursors), "no request left in flight after the session ended")
	log.broken, log.cursors, log.answers = false, nil, nil
	log.mu.Unlock()

	require.Equal(t, len(items), mustSync(t, phone).Downloaded)
	log.mu.Lock()
	defer log.mu.Unlock()
	require.Len(t, log.cursors, 8, "30 entries in pages of 4")
	require.Equal(t, "", log.cursors[0])
	for i := 1; i < len(log.cursors); i++ {
		require.Equal(t, log.answers[i-1], log.cursors[i], "request %d carries the cursor of answer %d", i+1, i)
	}
}

// nextCursorGate holds back the body of the first change-info page that
// names the next page's cursor in its header (SP-6.1-10) until the
// request for that cursor has gone out, or 5 s have passed (late). With
// rewrite it replaces every such header with a cursor that is not the
// body's.
type nextCursorGate struct {
	t       *testing.T
	base    *http.Transport
	rewrite string
	mu      sync.Mutex
	asked   map[string]bool // cursors of the page requests sent
	waiting string          // the cursor the gated body waits for
	open    chan struct{}   // closed when it is asked for
	gated   bool
	late    bool
	bodies  int // page bodies that came with the header
}

func (g *nextCursorGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != protocol.PathChanges {
		return g.base.RoundTrip(req)
	}
	var x protocol.ChangesRequest
	require.NoError(g.t, protocol.Unmarshal(peekBody(g.t, req), &x))
	g.mu.Lock()
	g.asked[x.Cursor] = true
	if g.open != nil && x.Cursor == g.waiting {
		close(g.open)
		g.open = nil
	}
	g.mu.Unlock()
	resp, err := g.base.RoundTrip(req)
	if err != nil || resp.Header.Get(protocol.HeaderNextCursor) == "" {
		return resp, err
	}
	next := resp.Header.Get(protocol.HeaderNextCursor)
	if g.rewrite != "" {
		resp.Header.Set(protocol.HeaderNextCursor, g.rewrite)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bodies++
	if g.gated || g.rewrite != "" {
		return resp, nil
	}
	g.gated = true
	if g.asked[next] {
		return resp, nil
	}
	open := make(chan struct{})
	g.waiting, g.open = next, open
	resp.Body = &gatedBody{ReadCloser: resp.Body, open: open, late: func() {
		g.mu.Lock()
		g.late = true
		g.mu.Unlock()
	}}
	return resp, nil
}

type gatedBody struct {
	io.ReadCloser
	open <-chan struct{}
	late func()
	once sync.Once
}

func (b *gatedBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		select {
		case <-b.open:
		case <-time.After(5 * time.Second):
			b.late()
		}
	})
	return b.ReadCloser.Read(p)
}

// SP-6.1-10: a new device pulling pages with content asks for the next
// page as soon as a page's header names its cursor, before it reads that
// page's body; and a header that names another cursor than the body's
// costs a request, never a page: the pull still stores every item.
func TestTheNextPageIsAskedForBeforeThePageBodyIsRead(t *testing.T) {
	srv, items := thirtyNotesInPagesOfFour(t)
	for _, rewrite := range []string{"", "1.0000000000000000.4.0000000000000000"} {
		gate := &nextCursorGate{t: t, base: http.DefaultTransport.(*http.Transport).Clone(), rewrite: rewrite, asked: map[string]bool{}}
		t.Cleanup(gate.base.CloseIdleConnections) // before the server stops: it waits for open connections
		phone := srv.client(t, "alice", "phone"+strconv.Itoa(len(rewrite)), withTransport(gate), plainBodies)
		require.Equal(t, len(items), mustSync(t, phone).Downloaded, "rewrite %q", rewrite)
		for id, content := range items {
			got, err := phone.Get("notes", id)
			require.NoError(t, err)
			require.Equal(t, content, got)
		}
		gate.mu.Lock()
		require.Equal(t, 7, gate.bodies, "30 entries in pages of 4: every page but the last names the next")
		if rewrite == "" {
			require.True(t, gate.gated)
			require.False(t, gate.late, "the next page was asked for before the body was read")
		} else {
			require.True(t, gate.asked[rewrite], "the header's cursor was asked for")
		}
		gate.mu.Unlock()
	}
}

// encodingRecorder records the Content-Encoding of every response.
type encodingRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (e *encodingRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := e.base.RoundTrip(req)
	if err == nil {
		e.mu.Lock()
		e.seen = append(e.seen, resp.Header.Get("Content-Encoding"))
		e.mu.Unlock()
	}
	return resp, err
}

// The clients of a process share one body encoder and decoder: closing
// one client leaves the others able to send and read compressed bodies.
func TestClosingOneClientLeavesTheOthersCodersWorking(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	laptop := srv.client(t, "alice", "laptop")
	items := map[string][]byte{}
	for i := range 50 {
		items[fmt.Sprintf("n%02d", i)] = bytes.Repeat([]byte{'a' + byte(i%26)}, 200)
	}
	require.NoError(t, laptop.PutMany("notes", items))
	mustSync(t, laptop)

	first := srv.client(t, "alice", "phone")
	mustSync(t, first)
	require.NoError(t, first.Close())

	rec := &encodingRecorder{base: http.DefaultTransport}
	second := srv.client(t, "alice", "tablet", withTransport(rec))
	require.Equal(t, len(items), mustSync(t, second).Downloaded)
	for id, want := range items {
		require.Equal(t, string(want), mustGet(t, second, "notes", id))
	}
	rec.mu.Lock()
	seen := append([]string(nil), rec.seen...)
	rec.mu.Unlock()
	require.Contains(t, seen, "zstd", "the downloads came compressed")

	// And the other way: a compressed upload after the close.
	big := map[string][]byte{}
	for i := range 50 {
		big[fmt.Sprintf("t%02d", i)] = bytes.Repeat([]byte{'z'}, 300)
	}
	require.NoError(t, second.PutMany("notes", big))
	require.Equal(t, len(big), mustSync(t, second).Uploaded)
	mustSync(t, laptop)
	require.Equal(t, string(big["t07"]), mustGet(t, laptop, "notes", "t07"))
}
