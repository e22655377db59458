package serverd

import (
	"net/http"
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
	require.ElementsMatch(t, []string{"watch", "conflicts", "admin-tokens", "info-collections", "zstd", "gzip"}, info.Features)
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
