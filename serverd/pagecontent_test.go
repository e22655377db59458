package serverd

import (
	"bytes"
	"fmt"
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
