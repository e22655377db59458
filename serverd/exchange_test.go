package serverd

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// conflictCase: the server holds "x"@1 = "server" (by alice/laptop at
// serverHLC); alice/phone uploads "x" = "phone" based on nothing (base 0)
// having seen version 1, stamped phoneHLC.
func TestExchangeUnderEveryRule(t *testing.T) {
	now := time.Now()
	earlier, later := hlcAt(now.Add(-time.Second)), hlcAt(now)
	cases := []struct {
		name              string
		rule              protocol.Rule
		serverHLC, upHLC  changelog.HLC
		want              protocol.UploadStatus
		wantContent       string // server's content afterwards
		wantReason        string // conflict record kept, "" for none
		wantRecordContent string
		wantServerItem    bool // the response carries the server's item
	}{
		{"server-wins keeps the server's version and returns it", protocol.ServerWins, earlier, later, protocol.StatusRejected, "server", "", "", true},
		{"client-wins applies and keeps the overwritten version", protocol.ClientWins, later, earlier, protocol.StatusApplied, "phone", protocol.ReasonOverwritten, "server", false},
		{"latest-wins applies the later upload and keeps the overwritten version", protocol.LatestWins, earlier, later, protocol.StatusApplied, "phone", protocol.ReasonOverwritten, "server", false},
		{"latest-wins rejects the earlier upload", protocol.LatestWins, later, earlier, protocol.StatusRejected, "server", "", "", true},
		{"manual keeps the server's version and stores the upload as a record", protocol.Manual, earlier, later, protocol.StatusConflict, "server", protocol.ReasonManual, "phone", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{DefaultRule: tc.rule})
			laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
			ts.exchange(laptop, "notes", []protocol.Upload{up("x", "server", 0, 0, tc.serverHLC)})
			resp := ts.exchange(phone, "notes", []protocol.Upload{up("x", "phone", 0, 1, tc.upHLC)})
			require.Len(t, resp.Results, 1)
			r := resp.Results[0]
			require.Equal(t, tc.want, r.Status)
			var cs protocol.ConflictsResponse
			ts.mustCall(protocol.PathConflicts, phone, protocol.ConflictsRequest{}, &cs)
			if tc.wantReason == "" {
				require.Empty(t, cs.Conflicts)
			} else {
				require.Len(t, cs.Conflicts, 1)
				cf := cs.Conflicts[0]
				require.Equal(t, tc.wantReason, cf.Reason)
				require.Equal(t, tc.wantRecordContent, string(cf.Content))
				require.Equal(t, "notes", cf.Collection)
				require.Equal(t, "x", cf.ID)
				require.Equal(t, uint64(1), cf.ServerVersion)
				require.Len(t, cf.ConflictID, 26)
				require.Equal(t, fingerprint.Of("x", false, []byte(tc.wantRecordContent)).Bytes(), cf.FP)
				if tc.wantReason == protocol.ReasonManual {
					require.Equal(t, cf.ConflictID, r.Conflict)
					require.Equal(t, "alice/phone", cf.Replica)
					require.Equal(t, uint64(tc.upHLC), cf.HLC)
				} else {
					require.Equal(t, "alice/laptop", cf.Replica)
					require.Equal(t, uint64(tc.serverHLC), cf.HLC)
				}
			}
			if tc.wantServerItem {
				require.Len(t, resp.Items, 1)
				require.Equal(t, "server", string(resp.Items[0].Content))
				require.NotNil(t, r.Current)
				require.Equal(t, uint64(1), r.Current.Version)
				require.Equal(t, uint64(1), r.Version)
			} else {
				require.Empty(t, resp.Items)
				require.Equal(t, uint64(2), r.Version)
			}
			got := ts.exchange(laptop, "notes", nil, "x")
			require.Equal(t, tc.wantContent, string(got.Items[0].Content))
		})
	}
}

func TestExchangeOutcomesThatNoRuleDecides(t *testing.T) {
	for _, rule := range protocol.Rules {
		t.Run(string(rule), func(t *testing.T) {
			ts := startServer(t, Config{DefaultRule: rule})
			laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
			h := hlcAt(time.Now())
			ts.exchange(laptop, "notes", []protocol.Upload{up("x", "v1", 0, 0, h), up("y", "y1", 0, 0, h)})

			// Equal fingerprints are not a conflict, whatever the base.
			r := ts.exchange(phone, "notes", []protocol.Upload{up("x", "v1", 0, 1, h+5)}).Results[0]
			require.Equal(t, protocol.StatusUnchanged, r.Status)
			require.Equal(t, uint64(1), r.Version)

			// A fast-forward (base = current) applies under every rule.
			r = ts.exchange(phone, "notes", []protocol.Upload{up("x", "v2", 1, 1, h+6)}).Results[0]
			require.Equal(t, protocol.StatusApplied, r.Status)
			require.Equal(t, uint64(3), r.Version)

			// Seen behind the current version is stale: nothing written.
			r = ts.exchange(laptop, "notes", []protocol.Upload{up("x", "v3", 1, 1, h+7)}).Results[0]
			require.Equal(t, protocol.StatusStale, r.Status)
			require.NotNil(t, r.Current)
			require.Equal(t, uint64(3), r.Current.Version)
			require.Equal(t, "alice/phone", r.Current.Replica)

			// Stale for an item the server never held: no current.
			r = ts.exchange(laptop, "notes", []protocol.Upload{up("new", "n", 0, 9, h)}).Results[0]
			require.Equal(t, protocol.StatusStale, r.Status)
			require.Nil(t, r.Current)
			require.Equal(t, uint64(0), r.Version)

			// Tombstones: a delete fast-forwards, downloads as deleted with
			// no content, and a re-create on top of it applies.
			r = ts.exchange(laptop, "notes", []protocol.Upload{tomb("y", 2, 2, h+8)}).Results[0]
			require.Equal(t, protocol.StatusApplied, r.Status)
			resp := ts.exchange(phone, "notes", nil, "y", "nope")
			require.Len(t, resp.Items, 1)
			require.True(t, resp.Items[0].Deleted)
			require.Empty(t, resp.Items[0].Content)
			require.Equal(t, fingerprint.Of("y", true, nil).Bytes(), resp.Items[0].FP)
			require.Equal(t, []string{"nope"}, resp.Missing)
			r = ts.exchange(phone, "notes", []protocol.Upload{up("y", "again", r.Version, r.Version, h+9)}).Results[0]
			require.Equal(t, protocol.StatusApplied, r.Status)

			// Nothing of this left a conflict record.
			var cs protocol.ConflictsResponse
			ts.mustCall(protocol.PathConflicts, phone, protocol.ConflictsRequest{Collection: "notes"}, &cs)
			require.Empty(t, cs.Conflicts)
		})
	}
}

func TestOverwritingATombstoneKeepsNoRecord(t *testing.T) {
	ts := startServer(t, Config{DefaultRule: protocol.ClientWins})
	laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
	h := hlcAt(time.Now())
	ts.exchange(laptop, "notes", []protocol.Upload{up("x", "v1", 0, 0, h)})
	ts.exchange(laptop, "notes", []protocol.Upload{tomb("x", 1, 1, h+1)})
	r := ts.exchange(phone, "notes", []protocol.Upload{up("x", "phone", 1, 2, h+2)}).Results[0]
	require.Equal(t, protocol.StatusApplied, r.Status)
	var cs protocol.ConflictsResponse
	ts.mustCall(protocol.PathConflicts, phone, protocol.ConflictsRequest{}, &cs)
	require.Empty(t, cs.Conflicts)
}

func TestUploadedClockFarAheadIsClampedToTheServers(t *testing.T) {
	wall := time.UnixMilli(1_800_000_000_000)
	ts := startServer(t, Config{DefaultRule: protocol.LatestWins, MaxSkew: time.Minute, Now: func() time.Time { return wall }})
	laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")

	within := hlcAt(wall.Add(59 * time.Second))
	r := ts.exchange(laptop, "notes", []protocol.Upload{up("a", "a", 0, 0, within)}).Results[0]
	require.Equal(t, uint64(within), r.HLC, "an HLC within max skew is kept")

	ahead := hlcAt(wall.Add(time.Hour))
	r = ts.exchange(laptop, "notes", []protocol.Upload{up("b", "b", 0, 0, ahead)}).Results[0]
	require.Less(t, r.HLC, uint64(ahead))
	require.Greater(t, r.HLC, uint64(within), "the server's own HLC has observed earlier uploads")

	// Under latest-wins the clamped timestamp is what competes: a concurrent
	// edit stamped later than the clamped one wins.
	r2 := ts.exchange(phone, "notes", []protocol.Upload{up("b", "phone", 0, 2, changelog.HLC(r.HLC)+1)}).Results[0]
	require.Equal(t, protocol.StatusApplied, r2.Status)
}

func TestRetryWithTheSameBatchIDReturnsTheSameBytesAndAppliesOnce(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	req := protocol.ExchangeRequest{Collection: "notes", BatchID: "retry-batch-0001", Uploads: []protocol.Upload{up("a", "one", 0, 0, h), up("b", "two", 0, 0, h)}, Downloads: []string{"a"}}
	s1, b1 := ts.post(protocol.PathExchange, tok, req)
	require.Equal(t, http.StatusOK, s1)
	before := dump(t, ts.srv)
	s2, b2 := ts.post(protocol.PathExchange, tok, req)
	require.Equal(t, http.StatusOK, s2)
	require.True(t, bytes.Equal(b1, b2), "a retry returns the stored response verbatim")
	require.Equal(t, before, dump(t, ts.srv), "a retry applies nothing")
	var resp protocol.ExchangeResponse
	require.NoError(t, protocol.Unmarshal(b2, &resp))
	require.Equal(t, uint64(2), resp.Head)

	// The same ID with another body is refused, and changes nothing.
	req.Uploads[1] = up("b", "changed", 0, 0, h)
	requireCode(t, protocol.CodeBatchReused, ts.call(protocol.PathExchange, tok, req, nil))
	require.Equal(t, before, dump(t, ts.srv))

	// Batch IDs are per user.
	other := ts.token("bob", "phone")
	var bobResp protocol.ExchangeResponse
	ts.mustCall(protocol.PathExchange, other, req, &bobResp)
	require.Equal(t, protocol.StatusApplied, bobResp.Results[1].Status)
}

func TestIdempotencyRecordsArePrunedOldestFirst(t *testing.T) {
	wall := time.UnixMilli(1_800_000_000_000)
	ts := startServer(t, Config{Now: func() time.Time { return wall }})
	ts.srv.batchKeep = 2
	tok := ts.token("alice", "phone")
	h := hlcAt(wall)
	send := func(id, content string) *protocol.Error {
		return ts.call(protocol.PathExchange, tok, protocol.ExchangeRequest{Collection: "c", BatchID: id, Uploads: []protocol.Upload{up("x-"+id, content, 0, 0, h)}}, &protocol.ExchangeResponse{})
	}
	for _, id := range []string{"batch-aaaaaaaaaaaa", "batch-bbbbbbbbbbbb", "batch-cccccccccccc"} {
		require.Nil(t, send(id, "1"))
	}
	// The oldest record went when the third arrived; the others stay.
	require.Nil(t, send("batch-aaaaaaaaaaaa", "2"), "a pruned batch ID is free again")
	requireCode(t, protocol.CodeBatchReused, send("batch-cccccccccccc", "2"))
	// Records older than the retention go whatever their number.
	ts.srv.batchKeep = 100
	wall = wall.Add(BatchRetention + time.Minute)
	require.Nil(t, send("batch-dddddddddddd", "1"))
	require.Nil(t, send("batch-cccccccccccc", "2"))
}

func TestDownloadsBeyondMaxBatchBytesAreDeferred(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxBatchBytes: 250, MaxItemBytes: 200}})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	content := string(bytes.Repeat([]byte("z"), 100))
	ts.exchange(tok, "notes", []protocol.Upload{up("a", content, 0, 0, h), up("b", content, 0, 0, h)})
	ts.exchange(tok, "notes", []protocol.Upload{up("c", content, 0, 0, h)})
	ts.exchange(tok, "notes", []protocol.Upload{up("d", content+content, 0, 0, h)})
	resp := ts.exchange(tok, "notes", nil, "a", "missing", "b", "c", "d")
	require.Equal(t, []string{"a", "b"}, itemIDs(resp.Items))
	require.Equal(t, []string{"missing"}, resp.Missing)
	require.Equal(t, []string{"c", "d"}, resp.Deferred)
	// One item always goes, even alone over the budget.
	resp = ts.exchange(tok, "notes", nil, "d", "c")
	require.Equal(t, []string{"d"}, itemIDs(resp.Items))
	require.Equal(t, []string{"c"}, resp.Deferred)
}

func itemIDs(items []protocol.Item) []string {
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestExchangeCursorAdvancesOnlyWhenItWasCurrent(t *testing.T) {
	ts := startServer(t, Config{})
	phone, laptop := ts.token("alice", "phone"), ts.token("alice", "laptop")
	h := hlcAt(time.Now())
	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, phone, protocol.ChangesRequest{Collection: "notes"}, &page)
	require.Equal(t, ts.srv.cursors.issue("alice", "notes", 0), page.Cursor, "an empty first page has the cursor of version 0")

	var resp protocol.ExchangeResponse
	ts.mustCall(protocol.PathExchange, phone, protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Cursor: page.Cursor, Uploads: []protocol.Upload{up("a", "a", 0, 0, h)}}, &resp)
	require.Equal(t, ts.srv.cursors.issue("alice", "notes", 1), resp.Cursor)

	ts.exchange(laptop, "notes", []protocol.Upload{up("b", "b", 0, 0, h)})
	ts.mustCall(protocol.PathExchange, phone, protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Cursor: resp.Cursor, Uploads: []protocol.Upload{up("c", "c", 0, 0, h)}}, &resp)
	require.Equal(t, ts.srv.cursors.issue("alice", "notes", 1), resp.Cursor, "someone else wrote in between: the cursor is echoed")
	require.Equal(t, uint64(3), resp.Head)
}

func TestExchangeEdgeCases(t *testing.T) {
	ts := startServer(t, Config{DefaultRule: protocol.Manual})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())

	// An item the server never held applies whatever base the client claims.
	r := ts.exchange(tok, "notes", []protocol.Upload{up("new", "n", 7, 0, h)}).Results[0]
	require.Equal(t, protocol.StatusApplied, r.Status)

	// An ID may be both uploaded and downloaded: the item comes back as stored.
	resp := ts.exchange(tok, "notes", []protocol.Upload{up("both", "b", 0, 0, h)}, "both")
	require.Equal(t, protocol.StatusApplied, resp.Results[0].Status)
	require.Len(t, resp.Items, 1)
	require.Equal(t, "b", string(resp.Items[0].Content))
	require.Equal(t, resp.Results[0].Version, resp.Items[0].Version)

	// A rejected or conflict upload that is also downloaded is listed once.
	resp = ts.exchange(tok, "notes", []protocol.Upload{up("both", "other", 0, 2, h)}, "both")
	require.Equal(t, protocol.StatusConflict, resp.Results[0].Status)
	require.Equal(t, []string{"both"}, itemIDs(resp.Items))

	// A garbage cursor in an exchange is echoed, not an error.
	var er protocol.ExchangeResponse
	ts.mustCall(protocol.PathExchange, tok, protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Cursor: "whatever"}, &er)
	require.Equal(t, "whatever", er.Cursor)
	require.Equal(t, uint64(2), er.Head)
}

func TestServerItemsOfRejectedUploadsTakeTheirShareOfTheBudgetFirst(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxBatchBytes: 250, MaxItemBytes: 200}})
	laptop, phone := ts.token("alice", "laptop"), ts.token("alice", "phone")
	h := hlcAt(time.Now())
	big := string(bytes.Repeat([]byte("z"), 200))
	ts.exchange(laptop, "notes", []protocol.Upload{up("r", big, 0, 0, h)})
	ts.exchange(laptop, "notes", []protocol.Upload{up("a", big[:100], 0, 0, h)})
	// "r" is rejected (server-wins) and requested: it is listed at its place
	// and counts as added, so "a" (over the remaining budget) is deferred.
	resp := ts.exchange(phone, "notes", []protocol.Upload{up("r", "mine", 0, 1, h)}, "r", "a")
	require.Equal(t, protocol.StatusRejected, resp.Results[0].Status)
	require.Equal(t, []string{"r"}, itemIDs(resp.Items))
	require.Equal(t, []string{"a"}, resp.Deferred)
	// Not requested: it still takes its share, and goes after the downloads.
	resp = ts.exchange(phone, "notes", []protocol.Upload{up("r", "mine", 0, 1, h)}, "a")
	require.Equal(t, []string{"a", "r"}, itemIDs(resp.Items), "the first requested item always goes")
}

func TestAnExchangeThatWroteNothingLeavesNoIdempotencyRecord(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "laptop")
	first := ts.exchange(tok, "notes", []protocol.Upload{up("x", "one", 0, 0, hlcAt(time.Now()))})
	require.Equal(t, protocol.StatusApplied, first.Results[0].Status)

	// A download-only exchange and one whose only upload is unchanged:
	// neither wrote, so neither batch ID is recorded, and each can be sent
	// again, with any body, as a new request (SP-6.4-3).
	for i, req := range []protocol.ExchangeRequest{
		{Collection: "notes", BatchID: batchID(), Downloads: []string{"x"}},
		{Collection: "notes", BatchID: batchID(), Uploads: []protocol.Upload{up("x", "one", 1, 1, hlcAt(time.Now()))}},
	} {
		var resp protocol.ExchangeResponse
		ts.mustCall(protocol.PathExchange, tok, req, &resp)
		again := protocol.ExchangeRequest{Collection: "notes", BatchID: req.BatchID, Uploads: []protocol.Upload{up(fmt.Sprint("new", i), "new", 0, 0, hlcAt(time.Now()))}}
		ts.mustCall(protocol.PathExchange, tok, again, &resp)
		require.Equal(t, protocol.StatusApplied, resp.Results[0].Status, "the batch ID was not taken")
		// That one wrote: now it is recorded, and a different body is refused.
		requireCode(t, protocol.CodeBatchReused, ts.call(protocol.PathExchange, tok, req, &resp))
	}
}
