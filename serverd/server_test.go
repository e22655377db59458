package serverd

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

func TestHandshakeAnnouncesConfigAndIdentifiesTheCaller(t *testing.T) {
	ts := startServer(t, Config{Rules: map[string]protocol.Rule{"notes": protocol.Manual}, Version: "1.2.3", Limits: protocol.Limits{MaxPage: 7}})
	tok := ts.token("alice", "phone")

	status, hdr, b := ts.raw(http.MethodGet, protocol.PathInfo, nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, protocol.ContentType, hdr.Get("Content-Type"))
	var info protocol.Info
	require.NoError(t, protocol.Unmarshal(b, &info))
	require.Equal(t, []int{1}, info.Versions)
	require.Equal(t, "syncprint/1.2.3", info.Server)
	require.Equal(t, ts.srv.Epoch(), info.Epoch)
	require.Len(t, info.Epoch, 16)
	require.Equal(t, protocol.ServerWins, info.DefaultRule)
	require.Equal(t, map[string]protocol.Rule{"notes": protocol.Manual}, info.Rules)
	require.Equal(t, 7, info.Limits.MaxPage)
	require.Equal(t, protocol.DefaultMaxItemBytes, info.Limits.MaxItemBytes)
	require.Equal(t, protocol.MaxIDBytes, info.Limits.MaxIDBytes)
	require.Equal(t, protocol.DefaultMaxSkewMillis, info.MaxSkewMillis)
	require.ElementsMatch(t, []string{"watch", "conflicts", "admin-tokens", "info-collections", "info-tag", "next-cursor", "resolve-batch", "zstd", "gzip"}, info.Features)
	require.InDelta(t, time.Now().UnixMilli(), int64(info.ServerTime>>16), 5000)
	require.Empty(t, info.User)

	status, _, b = ts.raw(http.MethodGet, protocol.PathInfo, nil, map[string]string{"Authorization": "Bearer " + tok})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, protocol.Unmarshal(b, &info))
	require.Equal(t, "alice", info.User)
	require.Equal(t, "alice/phone", info.Replica)

	status, _, b = ts.raw(http.MethodGet, protocol.PathInfo, nil, map[string]string{"Authorization": "Bearer sp_nope"})
	requireCode(t, protocol.CodeUnauthorized, decodeResponse(t, status, b, nil))
}

func TestExchangeThenChangesPagesThroughEveryItem(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxPage: 3}})
	tok := ts.token("alice", "phone")
	now := hlcAt(time.Now())
	var ups []protocol.Upload
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ups = append(ups, up(id, "content of "+id, 0, 0, now))
	}
	resp := ts.exchange(tok, "notes", ups)
	require.Len(t, resp.Results, 5)
	for i, r := range resp.Results {
		require.Equal(t, protocol.StatusApplied, r.Status)
		require.Equal(t, uint64(i+1), r.Version)
		require.Equal(t, uint64(now), r.HLC)
	}
	require.Equal(t, uint64(5), resp.Head)

	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Limit: 2}, &page)
	require.Len(t, page.Changes, 2)
	require.True(t, page.More)
	require.Equal(t, uint64(5), page.Head)
	require.Equal(t, "a", page.Changes[0].ID)
	require.Equal(t, "alice/phone", page.Changes[0].Replica)
	require.Equal(t, uint32(len("content of a")), page.Changes[0].Size)
	var got []string
	cursor := ""
	for {
		var p protocol.ChangesResponse
		ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: cursor}, &p)
		for _, c := range p.Changes {
			got = append(got, c.ID)
		}
		require.NotEmpty(t, p.Cursor)
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
	// An empty page keeps the cursor.
	var p protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: cursor}, &p)
	require.Empty(t, p.Changes)
	require.False(t, p.More)
	require.Equal(t, cursor, p.Cursor)

	var colls protocol.CollectionsResponse
	ts.mustCall(protocol.PathCollections, tok, protocol.CollectionsRequest{}, &colls)
	require.Equal(t, []protocol.Collection{{Name: "notes", Rule: protocol.ServerWins, Head: 5}}, colls.Collections)
}

// TestInfoIsShortWhenTheCallerHoldsItsTag: SP-3-16. The tag names the
// unchanging keys, the caller's identity among them; a request that sends
// it back gets server_time, tag, collections and conflicts_seq only, and
// one that sends another gets the full Info.
func TestInfoIsShortWhenTheCallerHoldsItsTag(t *testing.T) {
	ts := startServer(t, Config{Version: "1.2.3"})
	alice, bob := ts.token("alice", "phone"), ts.token("bob", "phone")
	ts.exchange(alice, "notes", []protocol.Upload{up("a", "one", 0, 0, hlcAt(time.Now()))})
	get := func(tok, tag string) (protocol.Info, []byte) {
		t.Helper()
		hdr := map[string]string{}
		if tok != "" {
			hdr["Authorization"] = "Bearer " + tok
		}
		if tag != "" {
			hdr[protocol.HeaderInfoTag] = tag
		}
		status, _, b := ts.raw(http.MethodGet, protocol.PathInfo, nil, hdr)
		require.Equal(t, http.StatusOK, status)
		var info protocol.Info
		require.NoError(t, protocol.Unmarshal(b, &info))
		return info, b
	}
	full, _ := get(alice, "")
	require.True(t, protocol.ValidInfoTag(full.Tag), "tag %q", full.Tag)
	require.False(t, full.IsShort())
	require.Equal(t, protocol.InfoTag(&full), full.Tag)

	short, b := get(alice, full.Tag)
	require.True(t, short.IsShort())
	var want protocol.InfoShort
	require.NoError(t, protocol.Unmarshal(b, &want))
	canonical, err := protocol.Marshal(&want)
	require.NoError(t, err)
	require.Equal(t, canonical, b, "the short Info, canonical: its four keys only")
	require.Equal(t, full.Tag, short.Tag)
	require.Equal(t, full.Collections, short.Collections)
	require.GreaterOrEqual(t, short.ServerTime, full.ServerTime)
	merged := short.WithStatic(&full)
	require.Equal(t, full.Limits, merged.Limits)
	require.Equal(t, full.Replica, merged.Replica)

	// Another caller's Info has another tag; a tag that is not the one of
	// the Info the server would send gets the full Info.
	ofBob, _ := get(bob, "")
	anon, _ := get("", "")
	require.NotEqual(t, full.Tag, ofBob.Tag)
	require.NotEqual(t, full.Tag, anon.Tag)
	for _, other := range []string{ofBob.Tag, anon.Tag, "nonsense", strings.Repeat("x", 200)} {
		again, _ := get(alice, other)
		require.False(t, again.IsShort(), "tag %q", other)
		require.Equal(t, full.Tag, again.Tag)
	}
	anonShort, _ := get("", anon.Tag)
	require.True(t, anonShort.IsShort())
	require.Empty(t, anonShort.Collections)

	// Another configuration, another tag.
	ts2 := startServer(t, Config{Version: "1.2.3", Limits: protocol.Limits{MaxPage: 9}})
	status, _, b2 := ts2.raw(http.MethodGet, protocol.PathInfo, nil, map[string]string{protocol.HeaderInfoTag: anon.Tag})
	require.Equal(t, http.StatusOK, status)
	var other protocol.Info
	require.NoError(t, protocol.Unmarshal(b2, &other))
	require.False(t, other.IsShort())
	require.NotEqual(t, anon.Tag, other.Tag)
}
