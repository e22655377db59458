package serverd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/syncprint/syncprint/protocol"
)

func TestResolveClosesRecordsAndWritesTheChoice(t *testing.T) {
	ts := startServer(t, Config{Rules: map[string]protocol.Rule{"notes": protocol.Manual}})
	laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
	h := hlcAt(time.Now())
	ts.exchange(laptop, "notes", []protocol.Upload{up("x", "server", 0, 0, h)})
	r := ts.exchange(phone, "notes", []protocol.Upload{up("x", "phone", 0, 1, h+1)}).Results[0]
	require.Equal(t, protocol.StatusConflict, r.Status)
	var cs protocol.ConflictsResponse
	ts.mustCall(protocol.PathConflicts, laptop, protocol.ConflictsRequest{Collection: "notes"}, &cs)
	require.Len(t, cs.Conflicts, 1)
	cid := cs.Conflicts[0].ConflictID

	before := dump(t, ts.srv)
	// A put based on an old version is stale_base, and closes nothing.
	merged := up("x", "merged", 1, 0, h+2)
	requireCode(t, protocol.CodeStaleBase, ts.call(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "notes", ID: "x", Close: []string{cid}, Put: &merged}, nil))
	// Unknown records, or records of another item, are not_found.
	requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "notes", ID: "x", Close: []string{cid, "nope"}}, nil))
	requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "notes", ID: "y", Close: []string{cid}}, nil))
	requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "other", ID: "x", Close: []string{cid}}, nil))
	require.Equal(t, before, dump(t, ts.srv))

	merged.Seen = 1
	var res protocol.ResolveResponse
	ts.mustCall(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "notes", ID: "x", Close: []string{cid}, Put: &merged}, &res)
	require.Equal(t, []string{cid}, res.Closed)
	require.NotNil(t, res.Result)
	require.Equal(t, protocol.StatusApplied, res.Result.Status)
	require.Equal(t, uint64(2), res.Result.Version)
	ts.mustCall(protocol.PathConflicts, phone, protocol.ConflictsRequest{}, &cs)
	require.Empty(t, cs.Conflicts)
	got := ts.exchange(phone, "notes", nil, "x")
	require.Equal(t, "merged", string(got.Items[0].Content))
	require.Equal(t, "alice/laptop", got.Items[0].Replica)
	// A closed record is gone.
	requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, laptop, protocol.ResolveRequest{Collection: "notes", ID: "x", Close: []string{cid}}, nil))
}

func TestWatchReturnsAtOnceOnChangeOnTimeoutAndOnShutdown(t *testing.T) {
	ts := startServer(t, Config{})
	phone, laptop := ts.token("alice", "phone"), ts.token("alice", "laptop")
	h := hlcAt(time.Now())
	ts.exchange(laptop, "notes", []protocol.Upload{up("a", "a", 0, 0, h)})

	// An unnamed collection that holds items, or a cursor behind: at once.
	var w protocol.WatchResponse
	ts.mustCall(protocol.PathWatch, phone, protocol.WatchRequest{TimeoutMillis: 60_000}, &w)
	require.Equal(t, []string{"notes"}, w.Changed)
	ts.mustCall(protocol.PathWatch, phone, protocol.WatchRequest{Cursors: map[string]string{"notes": ""}, TimeoutMillis: 60_000}, &w)
	require.Equal(t, []string{"notes"}, w.Changed)

	// Up to date: waits until the timeout.
	cur := ts.srv.cursors.issue("alice", "notes", 1)
	start := time.Now()
	ts.mustCall(protocol.PathWatch, phone, protocol.WatchRequest{Cursors: map[string]string{"notes": cur}, TimeoutMillis: 150}, &w)
	require.Empty(t, w.Changed)
	require.NotNil(t, w.Changed, "an empty list, not nil")
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// A change by another device wakes the watcher.
	type result struct {
		w   protocol.WatchResponse
		err *protocol.Error
	}
	watch := func(tok string) chan result {
		ch := make(chan result, 1)
		go func() {
			var r result
			r.err = ts.call(protocol.PathWatch, tok, protocol.WatchRequest{Cursors: map[string]string{"notes": cur}, TimeoutMillis: 60_000}, &r.w)
			ch <- r
		}()
		return ch
	}
	waitWatchers := func(n int) {
		require.Eventually(t, func() bool { return ts.srv.watching.Load() == int64(n) }, 5*time.Second, time.Millisecond)
	}
	ch := watch(phone)
	waitWatchers(1)
	ts.exchange(laptop, "notes", []protocol.Upload{up("b", "b", 0, 0, h)})
	select {
	case r := <-ch:
		require.Nil(t, r.err)
		require.Equal(t, []string{"notes"}, r.w.Changed)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return after a change")
	}

	// Shutdown ends a wait early with an empty answer.
	cur = ts.srv.cursors.issue("alice", "notes", 2)
	ch = watch(phone)
	waitWatchers(1)
	start = time.Now()
	ts.stop()
	select {
	case r := <-ch:
		require.Nil(t, r.err)
		require.Empty(t, r.w.Changed)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end at shutdown")
	}
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestAdminTokenEndpointCreatesWorkingTokens(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.srv.AdminToken()
	b, err := os.ReadFile(filepath.Join(ts.cfg.DataDir, AdminTokenFile))
	require.NoError(t, err)
	require.Equal(t, admin+"\n", string(b))
	st, err := os.Stat(filepath.Join(ts.cfg.DataDir, AdminTokenFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	var tr protocol.TokenResponse
	ts.mustCall(protocol.PathAdminTokens, admin, protocol.TokenRequest{User: "carol", Device: "tablet"}, &tr)
	require.Regexp(t, `^sp_[A-Za-z0-9_-]{43}$`, tr.Token)
	require.Equal(t, "carol", tr.User)
	n, err := ts.srv.UserCount()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var colls protocol.CollectionsResponse
	ts.mustCall(protocol.PathCollections, tr.Token, protocol.CollectionsRequest{}, &colls)
	require.Empty(t, colls.Collections)

	requireCode(t, protocol.CodeUnauthorized, ts.call(protocol.PathAdminTokens, tr.Token, protocol.TokenRequest{User: "eve", Device: "x"}, nil))
	requireCode(t, protocol.CodeUnauthorized, ts.call(protocol.PathCollections, admin, protocol.CollectionsRequest{}, nil))
	requireCode(t, protocol.CodeMalformed, ts.call(protocol.PathAdminTokens, admin, protocol.TokenRequest{User: "a/b", Device: "x"}, nil))
	requireCode(t, protocol.CodeMalformed, ts.call(protocol.PathAdminTokens, admin, protocol.TokenRequest{User: "a", Device: ""}, nil))
	_, err = ts.srv.CreateToken("bad name", "x")
	require.ErrorIs(t, err, ErrInvalidName)
}

func TestUsersCannotSeeEachOthersData(t *testing.T) {
	ts := startServer(t, Config{DefaultRule: protocol.Manual})
	alice, alice2, bob := ts.token("alice", "phone"), ts.token("alice", "laptop"), ts.token("bob", "phone")
	h := hlcAt(time.Now())
	ts.exchange(alice, "notes", []protocol.Upload{up("secret", "s", 0, 0, h)})
	ts.exchange(alice2, "notes", []protocol.Upload{up("secret", "other", 0, 1, h+1)}) // manual: a record

	resp := ts.exchange(bob, "notes", nil, "secret", "nonexistent")
	require.Empty(t, resp.Items)
	require.Equal(t, []string{"secret", "nonexistent"}, resp.Missing, "another user's item looks like no item")
	require.Equal(t, uint64(0), resp.Head)
	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, bob, protocol.ChangesRequest{Collection: "notes"}, &page)
	require.Empty(t, page.Changes)
	var cs protocol.ConflictsResponse
	ts.mustCall(protocol.PathConflicts, alice, protocol.ConflictsRequest{}, &cs)
	require.Len(t, cs.Conflicts, 1)
	cid := cs.Conflicts[0].ConflictID
	ts.mustCall(protocol.PathConflicts, bob, protocol.ConflictsRequest{}, &cs)
	require.Empty(t, cs.Conflicts)
	requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, bob, protocol.ResolveRequest{Collection: "notes", ID: "secret", Close: []string{cid}}, nil))
	var colls protocol.CollectionsResponse
	ts.mustCall(protocol.PathCollections, bob, protocol.CollectionsRequest{}, &colls)
	require.Empty(t, colls.Collections)
	// Alice's cursor does not work for Bob.
	ts.mustCall(protocol.PathChanges, alice, protocol.ChangesRequest{Collection: "notes"}, &page)
	requireCode(t, protocol.CodeInvalidCursor, ts.call(protocol.PathChanges, bob, protocol.ChangesRequest{Collection: "notes", Cursor: page.Cursor}, nil))
	// Bob's own write to the same ID is independent.
	r := ts.exchange(bob, "notes", []protocol.Upload{up("secret", "bob's", 0, 0, h)}).Results[0]
	require.Equal(t, protocol.StatusApplied, r.Status)
	require.Equal(t, uint64(1), r.Version)
}

func TestDataSurvivesShutdownAndOpen(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "alpha", 0, 0, h), tomb("b", 0, 0, h)})
	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &page)
	epoch, admin, before := ts.srv.Epoch(), ts.srv.AdminToken(), dump(t, ts.srv)
	ts.restart()
	require.Equal(t, epoch, ts.srv.Epoch())
	require.Equal(t, admin, ts.srv.AdminToken())
	require.Equal(t, before, dump(t, ts.srv))
	var again protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: page.Cursor}, &again)
	require.Empty(t, again.Changes, "cursors stay valid across restarts")
	resp := ts.exchange(tok, "notes", nil, "a")
	require.Equal(t, "alpha", string(resp.Items[0].Content))
	// The clock does not go back across restarts.
	var info protocol.Info
	_, _, b := ts.raw(http.MethodGet, protocol.PathInfo, nil, nil)
	require.NoError(t, protocol.Unmarshal(b, &info))
	require.Greater(t, info.ServerTime, uint64(h))
}

func TestSecondOpenOfADataDirFailsClearly(t *testing.T) {
	dir := t.TempDir()
	s1, err := Open(Config{DataDir: dir})
	require.NoError(t, err)
	start := time.Now()
	_, err = Open(Config{DataDir: dir})
	require.ErrorIs(t, err, ErrDataDirLocked)
	require.Contains(t, err.Error(), "in use by another process")
	require.Less(t, time.Since(start), 5*time.Second)
	// Shutdown of a server that never served closes it, and is idempotent.
	require.NoError(t, s1.Shutdown(context.Background()))
	require.NoError(t, s1.Shutdown(context.Background()))
	s2, err := Open(Config{DataDir: dir})
	require.NoError(t, err)
	require.NoError(t, s2.Shutdown(context.Background()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, s2.Serve(ln), "Serve after Shutdown returns at once")
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no data dir":           {},
		"unknown default rule":  {DataDir: "x", DefaultRule: "whoever"},
		"unknown rule":          {DataDir: "x", Rules: map[string]protocol.Rule{"notes": "x"}},
		"bad collection name":   {DataDir: "x", Rules: map[string]protocol.Rule{"No!": protocol.Manual}},
		"negative limit":        {DataDir: "x", Limits: protocol.Limits{MaxPage: -1}},
		"limit over 2^31-1":     {DataDir: "x", Limits: protocol.Limits{MaxBatchItems: 1 << 31}},
		"negative rate limit":   {DataDir: "x", RateLimit: -1},
		"negative maximum skew": {DataDir: "x", MaxSkew: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestRateLimitAnswersRateLimitedWithRetryAfter(t *testing.T) {
	ts := startServer(t, Config{RateLimit: 0.5}) // burst 1
	tok, other := ts.token("alice", "phone"), ts.token("alice", "laptop")
	status, _, _ := ts.raw(http.MethodPost, protocol.PathCollections, []byte{0x80}, authHeaders(tok))
	require.Equal(t, http.StatusOK, status)
	status, hdr, b := ts.raw(http.MethodPost, protocol.PathCollections, []byte{0x80}, authHeaders(tok))
	requireCode(t, protocol.CodeRateLimited, decodeResponse(t, status, b, nil))
	secs, err := strconv.Atoi(hdr.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 2, secs, 1)
	status, _, _ = ts.raw(http.MethodPost, protocol.PathCollections, []byte{0x80}, authHeaders(other))
	require.Equal(t, http.StatusOK, status, "the limit is per token")
}

func TestHandlerServesInProcess(t *testing.T) {
	s, err := Open(Config{DataDir: t.TempDir(), Limits: protocol.Limits{MaxBodyBytes: 64}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	tok, err := s.CreateToken("alice", "phone")
	require.NoError(t, err)
	do := func(body []byte) (int, []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI(protocol.PathCollections)
		ctx.Request.Header.Set(protocol.HeaderVersion, "1")
		ctx.Request.Header.Set("Authorization", "Bearer "+tok)
		ctx.Request.SetBody(body)
		s.Handler()(&ctx)
		return ctx.Response.StatusCode(), append([]byte{}, ctx.Response.Body()...)
	}
	status, _ := do([]byte{0x80})
	require.Equal(t, http.StatusOK, status)
	status, b := do(make([]byte, 65))
	requireCode(t, protocol.CodePayloadTooLarge, decodeResponse(t, status, b, nil))
}

func TestShutdownAnswersLateRequestsUnavailable(t *testing.T) {
	s, err := Open(Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(context.Background()))
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(protocol.PathInfo)
	s.Handler()(&ctx)
	var e protocol.Error
	require.NoError(t, protocol.Unmarshal(ctx.Response.Body(), &e))
	require.Equal(t, protocol.CodeUnavailable, e.Code)
	require.Equal(t, http.StatusServiceUnavailable, ctx.Response.StatusCode())
	require.Equal(t, "1", string(ctx.Response.Header.Peek("Retry-After")))
	_, err = s.CreateToken("a", "b")
	require.True(t, errors.Is(err, ErrClosed), "%v", err)
}

func TestEveryRequestIsLoggedOnceAtDebug(t *testing.T) {
	var buf syncBuffer
	ts := startServer(t, Config{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tok := ts.token("alice", "phone")
	ts.mustCall(protocol.PathCollections, tok, protocol.CollectionsRequest{}, &protocol.CollectionsResponse{})
	requireCode(t, protocol.CodeUnauthorized, ts.call(protocol.PathCollections, "sp_x", protocol.CollectionsRequest{}, nil))
	ts.stop()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	require.Len(t, lines, 2)
	require.Equal(t, "DEBUG", lines[0]["level"])
	require.Equal(t, "POST", lines[0]["method"])
	require.Equal(t, protocol.PathCollections, lines[0]["path"])
	require.Equal(t, float64(200), lines[0]["status"])
	require.Equal(t, "alice", lines[0]["user"])
	require.Contains(t, lines[0], "duration")
	require.Equal(t, "WARN", lines[1]["level"])
	require.Equal(t, string(protocol.CodeUnauthorized), lines[1]["code"])
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
