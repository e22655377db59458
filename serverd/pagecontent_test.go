package serverd

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// SP-6.1-8: a page asked for with content carries each entry's content at
// its index (nil for a tombstone), ends before the content would exceed
// max_batch_bytes (its first entry always goes), and a page asked for
// without content carries none.
func TestAPageAskedWithContentCarriesItWithinTheBatchBudget(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxBatchBytes: 2500, MaxItemBytes: 4000}})
	tok := ts.token("alice", "laptop")
	h := hlcAt(time.Now())
	for _, u := range []protocol.Upload{
		up("a", strings.Repeat("a", 1000), 0, 0, h),
		up("b", "", 0, 0, h),
		tomb("c", 0, 0, h),
		up("d", strings.Repeat("d", 1000), 0, 0, h),
		up("e", strings.Repeat("e", 1000), 0, 0, h), // over the budget with a and d
		up("f", strings.Repeat("f", 2400), 0, 0, h), // not with e
		up("g", "g", 0, 0, h),
	} {
		ts.exchange(tok, "notes", []protocol.Upload{u}) // one at a time: within max_batch_bytes
	}

	var plain protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &plain)
	require.Len(t, plain.Changes, 7)
	require.Nil(t, plain.Contents, "no content unless asked")
	status, raw := ts.post(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"})
	require.Equal(t, 200, status)
	require.False(t, bytes.Contains(raw, []byte("contents")), "the key is absent, not empty")

	var pages [][]string
	cursor := ""
	for range 10 {
		var p protocol.ChangesResponse
		ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Cursor: cursor, Content: true}, &p)
		require.Len(t, p.Contents, len(p.Changes))
		var ids []string
		for i, c := range p.Changes {
			ids = append(ids, c.ID)
			fp := fingerprint.Of(c.ID, c.Deleted, p.Contents[i])
			require.Equal(t, c.FP, fp.Bytes(), "the content of %s is its entry's version", c.ID)
			require.Equal(t, c.Deleted, p.Contents[i] == nil, "nil content for a tombstone only: %s", c.ID)
			require.Len(t, p.Contents[i], int(c.Size))
		}
		pages = append(pages, ids)
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	require.Equal(t, [][]string{{"a", "b", "c", "d"}, {"e"}, {"f", "g"}}, pages,
		fmt.Sprintf("pages end before 2500 B of content: %v", pages))

	// One item over the budget goes alone rather than never.
	var big protocol.ChangesResponse
	ts.cfg.Limits.MaxBatchBytes = 100
	ts.restart()
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes", Content: true}, &big)
	require.Len(t, big.Changes, 1)
	require.True(t, big.More)
}

// SP-6.1-10: a change-info page with more to come says the next page's
// cursor in the header Syncprint-Next-Cursor, byte for byte the body's
// cursor, with and without content; the last page, an empty collection's
// page and an error answer do not carry it.
func TestAPageWithMoreSaysTheNextCursorInItsHeader(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "laptop")
	h := hlcAt(time.Now())
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ts.exchange(tok, "notes", []protocol.Upload{up(id, "content of "+id, 0, 0, h)})
	}
	page := func(req protocol.ChangesRequest) (http.Header, protocol.ChangesResponse) {
		t.Helper()
		body, err := protocol.Marshal(req)
		require.NoError(t, err)
		status, hdr, out := ts.raw(http.MethodPost, protocol.PathChanges, body, authHeaders(tok))
		require.Equal(t, http.StatusOK, status)
		var resp protocol.ChangesResponse
		require.NoError(t, protocol.Unmarshal(out, &resp))
		return hdr, resp
	}
	for _, content := range []bool{false, true} {
		cursor, pages := "", 0
		for {
			hdr, resp := page(protocol.ChangesRequest{Collection: "notes", Cursor: cursor, Limit: 2, Content: content})
			pages++
			if resp.More {
				require.Equal(t, resp.Cursor, hdr.Get(protocol.HeaderNextCursor), "page %d (content %v)", pages, content)
			} else {
				require.Empty(t, hdr.Values(protocol.HeaderNextCursor), "the last page (content %v)", content)
				break
			}
			cursor = resp.Cursor
		}
		require.Equal(t, 3, pages)
	}
	hdr, resp := page(protocol.ChangesRequest{Collection: "empty"})
	require.False(t, resp.More)
	require.Empty(t, hdr.Values(protocol.HeaderNextCursor), "an empty collection's page")

	body, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes", Cursor: "1.0000000000000000.1.0000000000000000", Limit: 2})
	require.NoError(t, err)
	status, errHdr, _ := ts.raw(http.MethodPost, protocol.PathChanges, body, authHeaders(tok))
	require.NotEqual(t, http.StatusOK, status, "a forged cursor")
	require.Empty(t, errHdr.Values(protocol.HeaderNextCursor), "an error answer")
}
