package sim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// The checks must catch what they claim to: each is fed a history with
// the fault planted, and the same history without it.

// story builds a server history of one item.
type story struct {
	w     *world
	coll  string
	id    string
	deliv int
}

func newStory(rule protocol.Rule) *story {
	w := &world{hist: newHistory(), rules: map[string]protocol.Rule{collectionOf[rule]: rule}, stats: Stats{Accounted: map[string]int{}}, trace: sha256.New()}
	for i := 1; i <= 3; i++ {
		w.clients = append(w.clients, &client{name: fmt.Sprintf("d%d", i), replica: fmt.Sprintf("%s/d%d", user, i)})
	}
	return &story{w: w, coll: collectionOf[rule], id: "a"}
}

func (s *story) fp(content string) fingerprint.Fingerprint {
	return fingerprint.Of(s.id, false, []byte(content))
}

// upload adds a version made by client i's upload of content with base
// and seen, in a new transaction and delivery (batch ID batch).
func (s *story) upload(i int, content string, base, seen uint64, hlc changelog.HLC, batch string) *version {
	s.deliv++
	s.w.hist.txn++
	c := s.w.clients[i-1]
	fp := s.fp(content)
	s.w.hist.written[fp] = true
	up := protocol.Upload{ID: s.id, Base: base, Seen: seen, FP: fp.Bytes(), HLC: uint64(hlc), Content: []byte(content)}
	d := &delivery{n: s.deliv, client: c, path: protocol.PathExchange, exch: &protocol.ExchangeRequest{Collection: s.coll, BatchID: batch, Uploads: []protocol.Upload{up}}}
	v := &version{txn: s.w.hist.txn, coll: s.coll, content: []byte(content), from: d, up: &d.exch.Uploads[0],
		entry: changelog.Entry{ID: s.id, Seq: changelog.Seq(len(s.w.hist.versions) + 1), Fingerprint: fp, HLC: hlc, Replica: changelog.ReplicaID(c.replica)}}
	s.w.hist.versions = append(s.w.hist.versions, v)
	return v
}

// record adds a conflict record of content in v's transaction.
func (s *story) record(v *version, reason, content string) {
	s.w.hist.records[fmt.Sprint(len(s.w.hist.records))] = &record{txn: v.txn, from: v.from, conflict: storage.Conflict{
		Collection: s.coll, Reason: reason, Content: []byte(content),
		Entry: changelog.Entry{ID: s.id, Fingerprint: s.fp(content)},
	}}
}

// write adds an acknowledged write of content by client i.
func (s *story) write(i int, content, prev string) {
	wr := write{client: s.w.clients[i-1].name, coll: s.coll, id: s.id, fp: s.fp(content)}
	if prev != "" {
		wr.prev, wr.hasPrev = s.fp(prev), true
	}
	s.w.hist.written[wr.fp] = true
	s.w.hist.addWrite(wr)
}

func (s *story) problems() string { return strings.Join(s.w.problems, "\n") }

func TestCheckRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule protocol.Rule
		plot func(s *story)
		want string // "" means no problem
	}{
		{"a fast-forward is fine under server-wins", protocol.ServerWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 1, 1, 20, "b2")
		}, ""},
		{"under server-wins an overwrite is a failure", protocol.ServerWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 0, 1, 20, "b2")
		}, "under server-wins, an upload based on version 0 replaced version 1"},
		{"under manual an overwrite is a failure", protocol.Manual, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 0, 1, 20, "b2")
		}, "under manual"},
		{"under client-wins an overwrite keeps the replaced version", protocol.ClientWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.record(s.upload(2, "y", 0, 1, 5, "b2"), protocol.ReasonOverwritten, "x")
		}, ""},
		{"under client-wins an overwrite without its record is a failure", protocol.ClientWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 0, 1, 5, "b2")
		}, "without keeping it as an overwritten record"},
		{"under latest-wins the later HLC may overwrite", protocol.LatestWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.record(s.upload(2, "y", 0, 1, 20, "b2"), protocol.ReasonOverwritten, "x")
		}, ""},
		{"under latest-wins the earlier HLC must not overwrite", protocol.LatestWins, func(s *story) {
			s.upload(1, "x", 0, 0, 20, "b1")
			s.record(s.upload(2, "y", 0, 1, 10, "b2"), protocol.ReasonOverwritten, "x")
		}, "under latest-wins, HLC 10 by sim/d2 replaced version 1 with the later HLC 20"},
		{"a stale upload applied is a failure", protocol.ClientWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 1, 1, 20, "b2")
			s.upload(3, "z", 1, 1, 30, "b3")
		}, "applied an upload that saw version 1, the item was at 2 (stale)"},
		{"a fast-forward with an earlier HLC breaks causality", protocol.ClientWins, func(s *story) {
			s.upload(1, "x", 0, 0, 10, "b1")
			s.upload(2, "y", 1, 1, 9, "b2")
		}, "a fast-forward from version 1 carries HLC 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStory(tc.rule)
			tc.plot(s)
			s.w.checkRules()
			if tc.want == "" {
				require.Empty(t, s.w.problems)
				return
			}
			require.Contains(t, s.problems(), tc.want)
		})
	}
}

func TestCheckNoLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		plot func(s *story) (final string, local []string)
		lost bool
	}{
		{"the current version is kept", func(s *story) (string, []string) {
			s.write(1, "x", "")
			return "x", nil
		}, false},
		{"a version in no record and no log is lost", func(s *story) (string, []string) {
			s.write(1, "x", "")
			s.write(2, "y", "")
			return "y", nil
		}, true},
		{"a version in a server record is kept", func(s *story) (string, []string) {
			s.write(1, "x", "")
			s.write(2, "y", "")
			s.record(s.upload(2, "y", 0, 0, 1, "b"), protocol.ReasonOverwritten, "x")
			return "y", nil
		}, false},
		{"a version in a local log is kept", func(s *story) (string, []string) {
			s.write(1, "x", "")
			s.write(2, "y", "")
			return "y", []string{"x"}
		}, false},
		{"a version replaced by a device that held it is superseded", func(s *story) (string, []string) {
			s.write(1, "x", "")
			s.write(2, "y", "x")
			return "y", nil
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStory(protocol.ClientWins)
			final, logged := tc.plot(s)
			items := map[itemKey]serverItem{{s.coll, s.id}: {entry: changelog.Entry{ID: s.id, Fingerprint: s.fp(final)}}}
			local := map[itemKey][]fingerprint.Fingerprint{}
			for _, c := range logged {
				local[itemKey{s.coll, s.id}] = append(local[itemKey{s.coll, s.id}], s.fp(c))
			}
			s.w.checkNoLoss(items, local)
			if tc.lost {
				require.Contains(t, s.problems(), "lost: d1's acknowledged put")
			} else {
				require.Empty(t, s.w.problems)
			}
		})
	}
}

func TestCheckNoDoubleApplyAndNothingUnwritten(t *testing.T) {
	s := newStory(protocol.Manual)
	v := s.upload(1, "x", 0, 0, 10, "b1")
	s.w.checkNoDoubleApply()
	require.Empty(t, s.w.problems)

	// The same batch delivered again leaves a second record.
	s.deliv++
	d := *v.from
	d.n = s.deliv
	s.w.hist.records["again"] = &record{txn: v.txn + 1, from: &d, conflict: storage.Conflict{Collection: s.coll, Reason: protocol.ReasonManual, Entry: changelog.Entry{ID: s.id, Fingerprint: s.fp("x")}}}
	s.w.checkNoDoubleApply()
	require.Contains(t, s.problems(), "double apply: d1's exchange of man was applied by delivery 1 and again by delivery 2")

	s = newStory(protocol.Manual)
	s.upload(1, "x", 0, 0, 10, "b1")
	s.w.hist.versions[0].entry.Fingerprint = s.fp("made up")
	s.w.checkNothingUnwritten(nil)
	require.Contains(t, s.problems(), "the server made up version 1")
}

// TestSimCatchesABrokenServer runs the whole simulation over a server
// store broken on purpose: the checks must fail, naming the seed.
func TestSimCatchesABrokenServer(t *testing.T) {
	for _, tc := range []struct {
		mutant string
		want   string
		// A double apply shows only when an exchange arrives twice with
		// another device's write to one of its items in between (else the
		// second delivery finds its own version, and is unchanged): few
		// runs meet that, fewer since devices download with the change
		// info (SP-6.1-8) and send fewer exchanges. So every device
		// downloads in exchanges, every seed has the heaviest faults, and
		// up to 100 seeds run until one catches it.
		seeds         uint64
		exchangesOnly bool
		heavyFaults   bool
	}{
		{"drop-records", "lost: ", 20, false, false},
		{"forget-batches", "double apply: ", 100, true, true},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			var f *Failure
			for seed := uint64(1); seed <= tc.seeds && f == nil; seed++ {
				_, err := Run(Config{Seed: seed, Rules: []protocol.Rule{protocol.Manual}, Dir: t.TempDir(), mutant: tc.mutant, exchangesOnly: tc.exchangesOnly, heavyFaults: tc.heavyFaults})
				if err != nil {
					require.True(t, errors.As(err, &f), "%v", err)
				}
			}
			require.NotNil(t, f, "%d seeds passed over a broken server", tc.seeds)
			require.Contains(t, f.Error(), tc.want)
			require.Contains(t, f.Error(), fmt.Sprintf("replay: go run ./cmd/syncprint sim --seed %d ", f.Config.Seed))
		})
	}
}

func TestVerdictIsTheDecisionTable(t *testing.T) {
	s := newStory(protocol.LatestWins)
	wall := time.UnixMilli(1_000_000)
	cur := &version{entry: changelog.Entry{ID: "a", Seq: 3, Fingerprint: s.fp("cur"), HLC: changelog.NewHLC(999_000, 0), Replica: "sim/d2"}}
	up := func(content string, base, seen uint64, ms uint64) *protocol.Upload {
		return &protocol.Upload{ID: "a", Base: base, Seen: seen, FP: s.fp(content).Bytes(), HLC: uint64(changelog.NewHLC(ms, 0))}
	}
	for _, tc := range []struct {
		name string
		rule protocol.Rule
		up   *protocol.Upload
		cur  *version
		want protocol.UploadStatus
	}{
		{"a new item is applied", protocol.ServerWins, up("x", 0, 0, 1), nil, protocol.StatusApplied},
		{"seen behind the current version is stale", protocol.ClientWins, up("x", 3, 2, 1), cur, protocol.StatusStale},
		{"an equal fingerprint is unchanged", protocol.Manual, up("cur", 1, 3, 1), cur, protocol.StatusUnchanged},
		{"a fast-forward is applied", protocol.ServerWins, up("x", 3, 3, 1), cur, protocol.StatusApplied},
		{"server-wins rejects a concurrent edit", protocol.ServerWins, up("x", 1, 3, 999_500), cur, protocol.StatusRejected},
		{"client-wins applies it", protocol.ClientWins, up("x", 1, 3, 1), cur, protocol.StatusApplied},
		{"manual keeps both", protocol.Manual, up("x", 1, 3, 1), cur, protocol.StatusConflict},
		{"latest-wins applies the later HLC", protocol.LatestWins, up("x", 1, 3, 999_001), cur, protocol.StatusApplied},
		{"latest-wins rejects the earlier HLC", protocol.LatestWins, up("x", 1, 3, 998_999), cur, protocol.StatusRejected},
		{"latest-wins applies an HLC clamped to the server's clock", protocol.LatestWins, up("x", 1, 3, 1_000_000+protocol.DefaultMaxSkewMillis+1), cur, protocol.StatusApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, verdict(tc.rule, tc.up, "sim/d1", tc.cur, wall))
		})
	}
}

func TestCheckKeptWhereTheRuleSays(t *testing.T) {
	s := newStory(protocol.ServerWins)
	s.record(s.upload(1, "x", 0, 0, 10, "b1"), protocol.ReasonOverwritten, "y")
	s.w.checkKeptWhereTheRuleSays()
	require.Contains(t, s.problems(), "a server record with reason overwritten in sw/a, under server-wins")

	s = newStory(protocol.Manual)
	s.record(s.upload(1, "x", 0, 0, 10, "b1"), protocol.ReasonManual, "y")
	s.w.hist.localEntries = []localEntry{{itemKey{s.coll, s.id}, clientd.ReasonSuperseded}}
	s.w.checkKeptWhereTheRuleSays()
	require.Empty(t, s.w.problems, "an edit a resolution replaced is logged under every rule")
	s.w.hist.localEntries = append(s.w.hist.localEntries, localEntry{itemKey{s.coll, s.id}, clientd.ReasonServerWon})
	s.w.checkKeptWhereTheRuleSays()
	require.Contains(t, s.problems(), "1 local conflict-log entries for man/a that lost to the server, under manual")
}
