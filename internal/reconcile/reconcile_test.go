package reconcile_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/reconcile"
	"github.com/syncprint/syncprint/protocol"
)

// Versions of one item "x" used by the tables: A is what both sides last
// agreed on, C the client's edit, S the server's edit, D a tombstone.
var (
	fpA = fingerprint.Of("x", false, []byte("agreed"))
	fpC = fingerprint.Of("x", false, []byte("client edit"))
	fpS = fingerprint.Of("x", false, []byte("server edit"))
	fpD = fingerprint.Of("x", true, nil)
)

const (
	self  = changelog.ReplicaID("alice/laptop")
	other = changelog.ReplicaID("alice/phone")
	early = changelog.HLC(1000 << 16)
	late  = changelog.HLC(2000 << 16)
)

// The client-side decision table [SP-6.2]: (what the client did, what the
// server did, rule) -> action. "same" means both sides hold the same
// fingerprint; "both" columns list the action per rule in the order
// server-wins, client-wins, latest-wins, manual.
func TestPlanItemDecisionTable(t *testing.T) {
	type side struct {
		name    string
		fp      fingerprint.Fingerprint
		deleted bool
	}
	clientEdit := side{"edits", fpC, false}
	clientDelete := side{"deletes", fpD, true}
	clientSame := side{"writes the server's content", fpS, false}
	serverEdit := side{"edits", fpS, false}
	serverDelete := side{"deletes", fpD, true}

	type row struct {
		client, server side
		// want per rule: server-wins, client-wins, latest-wins (client later), manual
		want [4]reconcile.Action
	}
	U, K, C, N := reconcile.Upload, reconcile.DownloadKeepLocal, reconcile.UploadConflict, reconcile.Nothing
	rows := []row{
		{clientEdit, serverEdit, [4]reconcile.Action{K, U, U, C}},
		{clientEdit, serverDelete, [4]reconcile.Action{K, U, U, C}},
		{clientDelete, serverEdit, [4]reconcile.Action{K, U, U, C}},
		{clientDelete, serverDelete, [4]reconcile.Action{N, N, N, N}}, // equal tombstones
		{clientSame, serverEdit, [4]reconcile.Action{N, N, N, N}},     // equal fingerprints
	}
	for _, r := range rows {
		for i, rule := range protocol.Rules {
			name := fmt.Sprintf("client %s, server %s, %s -> %s", r.client.name, r.server.name, rule, r.want[i])
			t.Run(name, func(t *testing.T) {
				local := &reconcile.Local{Side: reconcile.Side{Fingerprint: r.client.fp, Deleted: r.client.deleted, HLC: late}, Base: 3, Seen: 3, Pending: true}
				remote := &changelog.Entry{ID: "x", Seq: 5, Fingerprint: r.server.fp, Deleted: r.server.deleted, HLC: early, Replica: other}
				step := reconcile.PlanItem(rule, self, "x", local, remote)
				require.Equal(t, r.want[i], step.Action)
				require.Equal(t, changelog.Seq(5), step.Seen, "the client must upload with the version it has now seen")
			})
		}
	}
}

func TestPlanItemOneSidedChangesFlowInTheirNaturalDirection(t *testing.T) {
	remote := &changelog.Entry{ID: "x", Seq: 7, Fingerprint: fpS, HLC: early, Replica: other}
	for _, rule := range protocol.Rules {
		t.Run(string(rule)+": a local-only edit goes up", func(t *testing.T) {
			local := &reconcile.Local{Side: reconcile.Side{Fingerprint: fpC}, Base: 3, Seen: 3, Pending: true}
			step := reconcile.PlanItem(rule, self, "x", local, nil)
			require.Equal(t, reconcile.Upload, step.Action)
			require.Equal(t, changelog.Seq(3), step.Seen)
		})
		t.Run(string(rule)+": a new local item goes up with seen 0", func(t *testing.T) {
			local := &reconcile.Local{Side: reconcile.Side{Fingerprint: fpC}, Pending: true}
			step := reconcile.PlanItem(rule, self, "x", local, nil)
			require.Equal(t, reconcile.Upload, step.Action)
			require.Zero(t, step.Seen)
		})
		t.Run(string(rule)+": a server-only change comes down", func(t *testing.T) {
			local := &reconcile.Local{Side: reconcile.Side{Fingerprint: fpA}, Base: 3, Seen: 3}
			require.Equal(t, reconcile.Download, reconcile.PlanItem(rule, self, "x", local, remote).Action)
		})
		t.Run(string(rule)+": an item the client never held comes down", func(t *testing.T) {
			require.Equal(t, reconcile.Download, reconcile.PlanItem(rule, self, "x", nil, remote).Action)
		})
		t.Run(string(rule)+": a server tombstone comes down", func(t *testing.T) {
			local := &reconcile.Local{Side: reconcile.Side{Fingerprint: fpA}, Base: 3, Seen: 3}
			del := &changelog.Entry{ID: "x", Seq: 8, Fingerprint: fpD, Deleted: true, Replica: other}
			require.Equal(t, reconcile.Download, reconcile.PlanItem(rule, self, "x", local, del).Action)
		})
		t.Run(string(rule)+": an entry the client has already seen is not news", func(t *testing.T) {
			local := &reconcile.Local{Side: reconcile.Side{Fingerprint: fpC}, Base: 7, Seen: 7}
			require.Equal(t, reconcile.Nothing, reconcile.PlanItem(rule, self, "x", local, remote).Action)
		})
	}
}

func TestLatestWinsComparesTimestampsThenReplicaIDs(t *testing.T) {
	cases := []struct {
		name           string
		client, server reconcile.Side
		want           reconcile.Winner
	}{
		{"the later client edit wins", reconcile.Side{HLC: late, Replica: "a"}, reconcile.Side{HLC: early, Replica: "b"}, reconcile.ClientTakes},
		{"the later server edit wins", reconcile.Side{HLC: early, Replica: "b"}, reconcile.Side{HLC: late, Replica: "a"}, reconcile.ServerKeeps},
		{"on equal timestamps the greater replica ID wins (client)", reconcile.Side{HLC: late, Replica: "b"}, reconcile.Side{HLC: late, Replica: "a"}, reconcile.ClientTakes},
		{"on equal timestamps the greater replica ID wins (server)", reconcile.Side{HLC: late, Replica: "a"}, reconcile.Side{HLC: late, Replica: "b"}, reconcile.ServerKeeps},
		{"equal timestamps and replicas keep the server's", reconcile.Side{HLC: late, Replica: "a"}, reconcile.Side{HLC: late, Replica: "a"}, reconcile.ServerKeeps},
		{"logical counters order edits in the same millisecond", reconcile.Side{HLC: late + 1, Replica: "a"}, reconcile.Side{HLC: late, Replica: "z"}, reconcile.ClientTakes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, reconcile.Decide(protocol.LatestWins, tc.client, tc.server))
		})
	}
	t.Run("an unknown rule is treated as server-wins", func(t *testing.T) {
		require.Equal(t, reconcile.ServerKeeps, reconcile.Decide("bogus", reconcile.Side{HLC: late}, reconcile.Side{HLC: early}))
	})
}

// The server-side table [SP-6.3-5]: an upload judged against the server's
// current entry.
func TestArbitrateDecisionTable(t *testing.T) {
	cur := &changelog.Entry{ID: "x", Seq: 5, Fingerprint: fpS, HLC: early, Replica: other}
	curDel := &changelog.Entry{ID: "x", Seq: 5, Fingerprint: fpD, Deleted: true, HLC: early, Replica: other}
	up := func(fp fingerprint.Fingerprint, deleted bool, base, seen changelog.Seq, hlc changelog.HLC) reconcile.Incoming {
		return reconcile.Incoming{Side: reconcile.Side{Fingerprint: fp, Deleted: deleted, HLC: hlc, Replica: self}, Base: base, Seen: seen}
	}
	A, U, S, R, C := reconcile.Apply, reconcile.Unchanged, reconcile.Stale, reconcile.Reject, reconcile.Conflict
	cases := []struct {
		name string
		up   reconcile.Incoming
		cur  *changelog.Entry
		want [4]reconcile.Verdict // server-wins, client-wins, latest-wins, manual
	}{
		{"a new item the server never held is applied", up(fpC, false, 0, 0, late), nil, [4]reconcile.Verdict{A, A, A, A}},
		{"a new item whose ID the server already holds is stale", up(fpC, false, 0, 0, late), cur, [4]reconcile.Verdict{S, S, S, S}},
		{"an edit on top of the current version fast-forwards", up(fpC, false, 5, 5, early), cur, [4]reconcile.Verdict{A, A, A, A}},
		{"a delete on top of the current version fast-forwards", up(fpD, true, 5, 5, early), cur, [4]reconcile.Verdict{A, A, A, A}},
		{"an edit with an old seen version is stale", up(fpC, false, 3, 3, late), cur, [4]reconcile.Verdict{S, S, S, S}},
		{"equal fingerprints change nothing", up(fpS, false, 3, 5, late), cur, [4]reconcile.Verdict{U, U, U, U}},
		{"a concurrent later edit follows the rule", up(fpC, false, 3, 5, late), cur, [4]reconcile.Verdict{R, A, A, C}},
		{"a concurrent earlier edit follows the rule", up(fpC, false, 3, 5, early-1), cur, [4]reconcile.Verdict{R, A, R, C}},
		{"a concurrent later delete follows the rule", up(fpD, true, 3, 5, late), cur, [4]reconcile.Verdict{R, A, A, C}},
		{"a concurrent edit of a deleted item follows the rule", up(fpC, false, 3, 5, late), curDel, [4]reconcile.Verdict{R, A, A, C}},
		{"a concurrent delete of a deleted item changes nothing", up(fpD, true, 3, 5, late), curDel, [4]reconcile.Verdict{U, U, U, U}},
	}
	for _, tc := range cases {
		for i, rule := range protocol.Rules {
			t.Run(fmt.Sprintf("%s (%s -> %s)", tc.name, rule, tc.want[i]), func(t *testing.T) {
				require.Equal(t, tc.want[i], reconcile.Arbitrate(rule, tc.up, tc.cur))
			})
		}
	}
}

func TestOverwritesKeepsOnlyReplacedLiveVersionsTheClientDidNotSee(t *testing.T) {
	cur := &changelog.Entry{ID: "x", Seq: 5, Fingerprint: fpS}
	concurrent := reconcile.Incoming{Base: 3, Seen: 5}
	ff := reconcile.Incoming{Base: 5, Seen: 5}
	require.True(t, reconcile.Overwrites(reconcile.Apply, concurrent, cur), "a concurrent win replaces a version the client never saw")
	require.False(t, reconcile.Overwrites(reconcile.Apply, ff, cur), "a fast-forward replaces the version the edit started from")
	require.False(t, reconcile.Overwrites(reconcile.Reject, concurrent, cur))
	require.False(t, reconcile.Overwrites(reconcile.Apply, concurrent, nil))
	require.False(t, reconcile.Overwrites(reconcile.Apply, concurrent, &changelog.Entry{ID: "x", Seq: 5, Deleted: true}), "a tombstone holds nothing to keep")
}

func TestClampReplacesTimestampsTooFarAhead(t *testing.T) {
	wall := changelog.NewHLC(1_000_000, 0)
	now := func() changelog.HLC { return changelog.NewHLC(1_000_000, 7) }
	h, clamped := reconcile.Clamp(changelog.NewHLC(1_000_000+60_000, 5), wall, 60_000, now)
	require.False(t, clamped, "exactly max skew ahead is accepted")
	require.Equal(t, changelog.NewHLC(1_060_000, 5), h)
	h, clamped = reconcile.Clamp(changelog.NewHLC(1_000_000+60_001, 0), wall, 60_000, now)
	require.True(t, clamped)
	require.Equal(t, now(), h)
	h, clamped = reconcile.Clamp(changelog.NewHLC(5, 0), wall, 60_000, now)
	require.False(t, clamped, "timestamps in the past are kept: they lose latest-wins on their own")
	require.Equal(t, changelog.NewHLC(5, 0), h)
}
