package serverd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// The conflicts sequence number [SP-10-8] moves exactly when a record of
// the user is stored or closed, and shows in the collections listing and
// in the exchange that made the change.
func TestConflictsSeqMovesExactlyWhenTheUsersRecordsChange(t *testing.T) {
	ts := startServer(t, Config{Rules: map[string]protocol.Rule{"tasks": protocol.ClientWins, "wiki": protocol.Manual}})
	laptop, phone, bob := ts.token("alice", "laptop"), ts.token("alice", "phone"), ts.token("bob", "phone")
	h := hlcAt(time.Now())
	listed := func(tok string) uint64 {
		var resp protocol.CollectionsResponse
		ts.mustCall(protocol.PathCollections, tok, protocol.CollectionsRequest{}, &resp)
		return resp.ConflictsSeq
	}
	require.Equal(t, uint64(1), listed(laptop), "a user who never had a record starts at 1, never 0")

	var recID string
	steps := []struct {
		name  string
		do    func() (exchangeSeq uint64) // 0: not an exchange
		moves bool
	}{
		{"an applied upload without a conflict leaves it", func() uint64 {
			r := ts.exchange(laptop, "tasks", []protocol.Upload{up("t", "v1", 0, 0, h), up("n", "v1", 0, 0, h)})
			ts.exchange(laptop, "wiki", []protocol.Upload{up("w", "v1", 0, 0, h)})
			return r.ConflictsSeq
		}, false},
		{"a download-only exchange leaves it", func() uint64 { return ts.exchange(phone, "tasks", nil, "t", "n").ConflictsSeq }, false},
		{"an overwritten version under client-wins moves it, in the exchange's own response", func() uint64 {
			ts.exchange(laptop, "tasks", []protocol.Upload{up("t", "laptop", 1, 1, h+1)})
			return ts.exchange(phone, "tasks", []protocol.Upload{up("t", "phone", 1, 3, h+2)}).ConflictsSeq
		}, true},
		{"a stale upload leaves it", func() uint64 {
			return ts.exchange(phone, "tasks", []protocol.Upload{up("n", "late", 0, 0, h+3)}).ConflictsSeq
		}, false},
		{"a manual conflict moves it", func() uint64 {
			ts.exchange(laptop, "wiki", []protocol.Upload{up("w", "laptop", 1, 1, h+4)})
			r := ts.exchange(phone, "wiki", []protocol.Upload{up("w", "phone", 1, 2, h+5)})
			require.Equal(t, protocol.StatusConflict, r.Results[0].Status)
			recID = r.Results[0].Conflict
			return r.ConflictsSeq
		}, true},
		{"the same manual upload resent keeps its record and leaves it", func() uint64 {
			r := ts.exchange(phone, "wiki", []protocol.Upload{up("w", "phone", 1, 2, h+5)})
			require.Equal(t, recID, r.Results[0].Conflict)
			return r.ConflictsSeq
		}, false},
		{"another user's record leaves it", func() uint64 {
			ts.exchange(bob, "wiki", []protocol.Upload{up("w", "b1", 0, 0, h)})
			ts.exchange(bob, "wiki", []protocol.Upload{up("w", "b2", 1, 1, h)})
			r := ts.exchange(bob, "wiki", []protocol.Upload{up("w", "b3", 0, 2, h)})
			require.Equal(t, protocol.StatusConflict, r.Results[0].Status)
			require.Greater(t, listed(bob), uint64(1))
			return 0
		}, false},
		{"listing the records leaves it", func() uint64 {
			var cs protocol.ConflictsResponse
			ts.mustCall(protocol.PathConflicts, phone, protocol.ConflictsRequest{}, &cs)
			require.Len(t, cs.Conflicts, 2)
			return 0
		}, false},
		{"a failed resolution leaves it", func() uint64 {
			requireCode(t, protocol.CodeNotFound, ts.call(protocol.PathResolve, phone, protocol.ResolveRequest{Collection: "wiki", ID: "w", Close: []string{recID, "nope"}}, nil))
			return 0
		}, false},
		{"a resolution that closes nothing leaves it", func() uint64 {
			put := up("w", "merged", 0, 2, h+6)
			ts.mustCall(protocol.PathResolve, phone, protocol.ResolveRequest{Collection: "wiki", ID: "w", Put: &put}, &protocol.ResolveResponse{})
			return 0
		}, false},
		{"closing a record moves it", func() uint64 {
			ts.mustCall(protocol.PathResolve, phone, protocol.ResolveRequest{Collection: "wiki", ID: "w", Close: []string{recID}}, &protocol.ResolveResponse{})
			return 0
		}, true},
	}
	prev := listed(laptop)
	for _, st := range steps {
		got := st.do()
		now := listed(laptop)
		if st.moves {
			require.Greater(t, now, prev, st.name)
		} else {
			require.Equal(t, prev, now, st.name)
		}
		if got != 0 {
			require.Equal(t, now, got, "%s: the exchange's response carries the number after it", st.name)
		}
		prev = now
	}
	ts.restart()
	require.Equal(t, prev, listed(phone), "durable, and the same for every device of the user")
}
