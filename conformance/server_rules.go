package conformance

import (
	"bytes"
	"fmt"

	"github.com/syncprint/syncprint/protocol"
)

// The precedence rules: the decision table of SP-7-5, row by row, under
// every rule the server announces.

// outcome is what the server must do with a conflicting upload.
type outcome int

const (
	outRejected outcome = iota // server keeps; the client gets the server's item
	outApplied                 // client takes; a non-tombstone server version goes to an overwritten record
	outConflict                // keep both: a manual record of the upload
)

func (o outcome) String() string {
	return [...]string{"rejected", "applied", "conflict"}[o]
}

// conflictSpec sets up row 6, 7 or 8 of the decision table.
type conflictSpec struct {
	clientDel, serverDel bool
	clientHLC, serverHLC int64 // offsets from the run's server_time, ms
	clientAs, serverAs   Who
}

// runConflict writes a base version, a server change since it (by
// spec.serverAs) and then uploads a conflicting client change (by
// spec.clientAs) with base = the base version and seen = the server
// change's version, and asserts the outcome, including where the loser is
// kept (SP-7-7).
func (t *T) runConflict(ns Namespace, spec conflictSpec, want outcome) {
	id := ns.ID("item")
	h0 := t.HLC(-40_000)
	base := t.Upload(UserA, ns, Up(id, 0, 0, h0, "base version"))[0]
	t.WantStatus(base, protocol.StatusApplied)
	var srvUp protocol.Upload
	if spec.serverDel {
		srvUp = Del(id, base.Version, base.Version, t.HLC(spec.serverHLC))
	} else {
		srvUp = Up(id, base.Version, base.Version, t.HLC(spec.serverHLC), "server's edit")
	}
	srv := t.Upload(spec.serverAs, ns, srvUp)[0]
	t.WantStatus(srv, protocol.StatusApplied)
	srvInfo := t.GetInfo(spec.serverAs)
	cliInfo := t.GetInfo(spec.clientAs)
	var up protocol.Upload
	if spec.clientDel {
		up = Del(id, base.Version, srv.Version, t.HLC(spec.clientHLC))
	} else {
		up = Up(id, base.Version, srv.Version, t.HLC(spec.clientHLC), "client's edit")
	}
	before := t.ConflictIDs(ns, id)
	resp := t.Exchange(spec.clientAs, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{up}})
	res := resp.Results[0]
	t.Logf("rule %s, client %s (hlc %+d ms, %s), server %s (hlc %+d ms, %s): want %s", ns.Rule,
		map[bool]string{true: "delete", false: "edit"}[spec.clientDel], spec.clientHLC, cliInfo.Replica,
		map[bool]string{true: "delete", false: "edit"}[spec.serverDel], spec.serverHLC, srvInfo.Replica, want)
	switch want {
	case outRejected, outConflict:
		status := protocol.StatusRejected
		if want == outConflict {
			status = protocol.StatusConflict
		}
		t.WantStatus(res, status)
		t.Equal("the result's version (the server's, which stays current) [SP-6.3-6]", srv.Version, res.Version)
		t.Check(res.Current != nil && res.Current.Version == srv.Version && bytes.Equal(res.Current.FP, srvUp.FP),
			fmt.Sprintf("the result's current = the server's change info (version %d) [SP-6.3-6]", srv.Version), "current %+v", res.Current)
		// The server's item is in items, with its content [SP-6.3-8].
		var it *protocol.Item
		for i := range resp.Items {
			if resp.Items[i].ID == id {
				it = &resp.Items[i]
			}
		}
		t.Check(it != nil, "the server's current item in items [SP-6.3-8]", "items %d without %q", len(resp.Items), id)
		t.Check(it.Version == srv.Version && bytes.Equal(it.FP, srvUp.FP) && bytes.Equal(it.Content, srvUp.Content) && it.Deleted == srvUp.Deleted,
			fmt.Sprintf("items[%q] = the server's version %d with its content", id, srv.Version), "version %d, deleted %v, content %q", it.Version, it.Deleted, it.Content)
		cur, _ := t.Current(UserA, ns, id)
		t.Equal("the current version after the upload (unchanged)", srv.Version, cur.Version)
		added := t.newConflicts(ns, id, before)
		if want == outRejected {
			t.Check(res.Conflict == "", `conflict "" for a rejected upload [SP-6.3-6]`, "%q", res.Conflict)
			t.Check(len(added) == 0, "no server conflict record for a rejected upload (the client keeps the loser)", "%d new records", len(added))
			return
		}
		t.Check(res.Conflict != "", "the new conflict record's ID in the result [SP-7-8]", `conflict ""`)
		if added == nil {
			return // the conflicts feature is not announced: records cannot be read
		}
		t.Check(len(added) == 1 && added[0].ConflictID == res.Conflict, fmt.Sprintf("one new record, %q [SP-7-8]", res.Conflict), "%d new records", len(added))
		r := added[0]
		t.Equal("record reason", protocol.ReasonManual, r.Reason)
		t.Equal("record server_version (the kept version)", srv.Version, r.ServerVersion)
		t.Equal("record base (the upload's)", base.Version, r.Base)
		t.Check(bytes.Equal(r.FP, up.FP) && bytes.Equal(r.Content, up.Content) && r.Deleted == up.Deleted,
			"the record holds the client's version: fp, content, deletion mark", "fp %x, deleted %v, content %q", r.FP, r.Deleted, r.Content)
		t.Equal("record hlc (the effective HLC)", up.HLC, r.HLC)
		t.Equal("record replica (the uploader's)", cliInfo.Replica, r.Replica)
	case outApplied:
		t.WantStatus(res, protocol.StatusApplied)
		t.Check(res.Version > srv.Version, fmt.Sprintf("a new version above %d", srv.Version), "version %d", res.Version)
		t.Check(res.Current == nil, "current nil for an applied upload [SP-6.3-6]", "%s", brief(res.Current))
		cur, _ := t.Current(UserA, ns, id)
		t.Check(cur.Version == res.Version && bytes.Equal(cur.FP, up.FP), "the client's version is current", "version %d, fp %x", cur.Version, cur.FP)
		t.Equal("replica of the new version (the uploader's)", cliInfo.Replica, cur.Replica)
		added := t.newConflicts(ns, id, before)
		if added == nil {
			return
		}
		if spec.serverDel {
			t.Check(len(added) == 0, "no record for a replaced tombstone [SP-7-7]", "%d new records", len(added))
			return
		}
		t.Check(len(added) == 1, "one overwritten record holding the replaced version [SP-7-9]", "%d new records", len(added))
		r := added[0]
		t.Equal("record reason", protocol.ReasonOverwritten, r.Reason)
		t.Equal("record server_version (the replaced version)", srv.Version, r.ServerVersion)
		t.Equal("record base", uint64(0), r.Base)
		t.Check(bytes.Equal(r.FP, srvUp.FP) && bytes.Equal(r.Content, srvUp.Content) && !r.Deleted,
			"the record holds the replaced server version", "fp %x, content %q", r.FP, r.Content)
		t.Equal("record hlc", srvUp.HLC, r.HLC)
		t.Equal("record replica (the replaced version's writer)", srvInfo.Replica, r.Replica)
	}
}

// ConflictIDs returns the IDs of the open records of an item, nil when the
// server does not announce conflicts.
func (t *T) ConflictIDs(ns Namespace, id string) map[string]bool {
	if !t.HasFeature(protocol.FeatureConflicts) {
		return nil
	}
	m := map[string]bool{}
	for _, c := range t.ConflictsOf(UserA, ns, id) {
		m[c.ConflictID] = true
	}
	return m
}

// newConflicts returns the records of an item not in before; nil (not
// empty) when the server does not announce conflicts.
func (t *T) newConflicts(ns Namespace, id string, before map[string]bool) []protocol.Conflict {
	if before == nil {
		t.Logf("conflicts is not announced: the server's conflict records were not checked")
		return nil
	}
	out := []protocol.Conflict{}
	for _, c := range t.ConflictsOf(UserA, ns, id) {
		if !before[c.ConflictID] {
			out = append(out, c)
		}
	}
	return out
}

// otherDevice returns C when given, else A: the device that makes the
// "server change" (any device works; the server decides by base and seen).
func (t *T) otherDevice() Who {
	if t.target.TokenC != "" {
		return UserC
	}
	return UserA
}

func init() {
	rows := []struct {
		name, desc string
		clientDel  bool
		serverDel  bool
		row        string
	}{
		{"concurrent-edit", "both sides edited to different contents", false, false, "6"},
		{"edit-vs-delete", "the client edited an item the server deleted", false, true, "7"},
		{"delete-vs-edit", "the client deleted an item the server edited", true, false, "8"},
	}
	type variant struct {
		rule     protocol.Rule
		suffix   string
		cli, srv int64
		want     func(clientDel, serverDel bool) outcome
		reqs     []string
		note     string
	}
	variants := []variant{
		{protocol.ServerWins, "", -10_000, -20_000, func(bool, bool) outcome { return outRejected },
			[]string{"SP-7-1", "SP-7-2", "SP-6.3-5", "SP-6.3-8", "SP-7-7"}, "rejected; the server's item (with content) is in items so the client can keep its own version in its local log"},
		{protocol.ClientWins, "", -20_000, -10_000, func(bool, bool) outcome { return outApplied },
			[]string{"SP-7-1", "SP-7-2", "SP-6.3-5", "SP-7-9", "SP-7-7"}, "applied; a replaced non-tombstone server version is kept as a conflict record with reason overwritten"},
		{protocol.LatestWins, "-client-later", -10_000, -20_000, func(bool, bool) outcome { return outApplied },
			[]string{"SP-7-1", "SP-7-2", "SP-6.3-5", "SP-7-9", "SP-7-7"}, "the client's HLC is greater: applied, like client-wins"},
		{protocol.LatestWins, "-server-later", -20_000, -10_000, func(bool, bool) outcome { return outRejected },
			[]string{"SP-7-1", "SP-7-2", "SP-6.3-5", "SP-6.3-8", "SP-7-7"}, "the server's HLC is greater: rejected, like server-wins"},
		{protocol.Manual, "", -10_000, -20_000, func(bool, bool) outcome { return outConflict },
			[]string{"SP-7-1", "SP-7-2", "SP-6.3-5", "SP-7-8", "SP-6.3-8", "SP-7-7"}, "conflict; the server's version stays and the client's is kept as a record with reason manual"},
	}
	for _, v := range variants {
		for _, row := range rows {
			v, row := v, row
			serverCase(Case{
				ID: fmt.Sprintf("server/rules/%s/%s%s", v.rule, row.name, v.suffix), Level: MUST,
				Reqs:  append(append([]string(nil), v.reqs...), "SP-7-5", "SP-7-4"),
				Needs: []string{"rule:" + string(v.rule)},
				Desc:  fmt.Sprintf("%s, %s (decision table row %s): %s", v.rule, row.desc, row.row, v.note),
				Procedure: fmt.Sprintf(`
					In a namespace whose collection has rule %s (skipped when none is announced): write
					a base version (base 0, seen 0); from another device (C, else A) write %s based on
					it (HLC %+d ms from the server's time); then upload %s with base = the base version
					and seen = the server change's version (HLC %+d ms). Assert status %s: %s.
					rejected/conflict: version and current are the server's, the server's item with its
					content is in items, the item stays at the server's version. applied: a new version
					with the uploader's replica. Conflict records (when the conflicts feature is
					announced): manual holds the client's version (fp, content, deletion, effective HLC,
					uploader, base, server_version); overwritten holds the replaced version (base 0);
					a replaced tombstone and a rejected upload leave no record.`,
					v.rule, map[bool]string{true: "a deletion", false: "an edit"}[row.serverDel], v.srv,
					map[bool]string{true: "a deletion", false: "a different edit"}[row.clientDel], v.cli,
					v.want(row.clientDel, row.serverDel), v.note),
			}, func(t *T) {
				ns := t.WithRule(v.rule)
				t.runConflict(ns, conflictSpec{clientDel: row.clientDel, serverDel: row.serverDel, clientHLC: v.cli, serverHLC: v.srv,
					clientAs: UserA, serverAs: t.otherDevice()}, v.want(row.clientDel, row.serverDel))
			})
		}
	}

	serverCase(Case{
		ID: "server/rules/latest-wins/equal-hlc-replica-tiebreak", Level: MUST,
		Reqs:  []string{"SP-7-2", "SP-6.3-5", "SP-12-2"},
		Needs: []string{"rule:latest-wins", "token-c for the case of two replicas"},
		Desc:  "latest-wins with equal HLCs: the greater replica ID wins; equal replicas keep the server's version",
		Procedure: `
			In a latest-wins namespace: a base version, a server edit and a conflicting client edit
			with the same HLC. With one device (A makes both): rejected (equal replicas keep the
			server's). With --token-c: A against C and C against A; the upload applies exactly when
			the uploader's replica ID (from Info.replica) is byte-wise greater.`,
	}, func(t *T) {
		ns := t.WithRule(protocol.LatestWins)
		same := ns
		same.Prefix += "same-"
		t.runConflict(same, conflictSpec{clientHLC: -15_000, serverHLC: -15_000, clientAs: UserA, serverAs: UserA}, outRejected)
		if t.target.TokenC == "" {
			t.Logf("without --token-c only equal replicas were checked")
			return
		}
		ra, rc := t.GetInfo(UserA).Replica, t.GetInfo(UserC).Replica
		for _, p := range []struct {
			cli, srv Who
			cr, sr   string
		}{{UserA, UserC, ra, rc}, {UserC, UserA, rc, ra}} {
			n := ns
			n.Prefix += string(p.cli) + "-"
			want := outRejected
			if p.cr > p.sr {
				want = outApplied
			}
			t.runConflict(n, conflictSpec{clientHLC: -15_000, serverHLC: -15_000, clientAs: p.cli, serverAs: p.srv}, want)
		}
	})

	forEachRule := func(t *T, f func(ns Namespace)) {
		n := 0
		for _, r := range protocol.Rules {
			ns, ok := t.tryWithRule(r)
			if !ok {
				t.Logf("rule %s: not announced, not checked", r)
				continue
			}
			n++
			f(ns)
		}
		if n == 0 {
			t.Errorf("no rule available")
		}
	}

	serverCase(Case{
		ID: "server/exchange/fast-forward-every-rule", Level: MUST,
		Reqs: []string{"SP-7-4", "SP-7-5", "SP-6.3-5", "SP-2-6"},
		Desc: "one-sided changes flow both ways under every announced rule: an upload based on the current version is applied",
		Procedure: `
			Under every announced rule: device A creates an item (row 1: applied, version v1);
			device C (else A) downloads it and uploads an edit with base = seen = v1 (row 2:
			applied, v2 > v1), then a deletion based on v2 (applied, v3); device A downloads and
			sees the deletion (a one-sided change in the other direction). No conflict record is
			made at any step.`,
	}, func(t *T) {
		other := t.otherDevice()
		forEachRule(t, func(ns Namespace) {
			id := ns.ID("ff")
			before := t.ConflictIDs(ns, id)
			v1 := t.Put(UserA, ns, id, 0, 0, "first")
			it, ok := t.Current(other, ns, id)
			t.Check(ok && string(it.Content) == "first", "the other device downloads the first version", "ok %v, content %q", ok, it.Content)
			v2 := t.Put(other, ns, id, v1, v1, "second")
			t.Check(v2 > v1, "a greater version", "%d after %d", v2, v1)
			res := t.Upload(other, ns, Del(id, v2, v2, t.HLC(0)))[0]
			t.WantStatus(res, protocol.StatusApplied)
			it, _ = t.Current(UserA, ns, id)
			t.Check(it.Deleted && len(it.Content) == 0 && it.Version == res.Version, "device A downloads the tombstone", "%s", brief(it))
			added := t.newConflicts(ns, id, before)
			t.Check(len(added) == 0, "no conflict record for fast-forwards", "%d records", len(added))
		})
	})

	serverCase(Case{
		ID: "server/exchange/equal-fingerprint-unchanged", Level: MUST,
		Reqs: []string{"SP-7-3", "SP-7-5", "SP-4.2-3", "SP-6.3-5"},
		Desc: "an upload whose fingerprint equals the current one is unchanged under every rule and moves nothing",
		Procedure: `
			Under every announced rule: write "same" (v1). Upload the same content with base v1
			(row 3), with base 0 and seen v1 (row 4: both sides made the same edit); delete it
			(v2) and upload another deletion with base v1, seen v2 (row 5). Assert: unchanged with
			the current version each time, no new version, no conflict record.`,
	}, func(t *T) {
		forEachRule(t, func(ns Namespace) {
			id := ns.ID("eq")
			before := t.ConflictIDs(ns, id)
			v1 := t.Put(UserA, ns, id, 0, 0, "same")
			for _, up := range []protocol.Upload{Up(id, v1, v1, t.HLC(-5000), "same"), Up(id, 0, v1, t.HLC(-4000), "same")} {
				res := t.Upload(UserA, ns, up)[0]
				t.WantStatus(res, protocol.StatusUnchanged)
				t.Equal("the unchanged result's version", v1, res.Version)
			}
			del := t.Upload(UserA, ns, Del(id, v1, v1, t.HLC(0)))[0]
			t.WantStatus(del, protocol.StatusApplied)
			res := t.Upload(t.otherDevice(), ns, Del(id, v1, del.Version, t.HLC(-1000)))[0]
			t.WantStatus(res, protocol.StatusUnchanged)
			t.Equal("the unchanged result's version", del.Version, res.Version)
			cur, _ := t.Current(UserA, ns, id)
			t.Equal("the current version", del.Version, cur.Version)
			added := t.newConflicts(ns, id, before)
			t.Check(len(added) == 0, "no conflict record", "%d records", len(added))
		})
	})

	serverCase(Case{
		ID: "server/exchange/stale-base-upload", Level: MUST,
		Reqs: []string{"SP-7-4", "SP-7-5", "SP-6.3-5", "SP-6.3-6"},
		Desc: "an upload whose seen is not the current version is stale, never decided, and writes nothing",
		Procedure: `
			Under every announced rule: write v1, edit to v2. Upload an edit with seen = v1 (the
			server changed since), with seen = v2 + 5 (more than the server holds), and, for a new
			ID the server does not hold, with seen = 3. Assert: stale each time; for the held item
			version = v2 and current = its change info (version v2, its fp); for the missing item
			version 0 and current nil; the item stays at v2 and no record is made.`,
	}, func(t *T) {
		forEachRule(t, func(ns Namespace) {
			id := ns.ID("st")
			before := t.ConflictIDs(ns, id)
			v1 := t.Put(UserA, ns, id, 0, 0, "one")
			v2 := t.Put(UserA, ns, id, v1, v1, "two")
			for _, seen := range []uint64{v1, v2 + 5} {
				res := t.Upload(UserA, ns, Up(id, v1, seen, t.HLC(0), "stale edit"))[0]
				t.WantStatus(res, protocol.StatusStale)
				t.Equal("the stale result's version", v2, res.Version)
				t.Check(res.Current != nil && res.Current.Version == v2 && bytes.Equal(res.Current.FP, FP(id, false, []byte("two"))),
					fmt.Sprintf("current = the change info of version %d", v2), "%s", brief(res.Current))
			}
			res := t.Upload(UserA, ns, Up(ns.ID("st-missing"), 0, 3, t.HLC(0), "x"))[0]
			t.WantStatus(res, protocol.StatusStale)
			t.Equal("version of a stale upload of an item the server does not hold", uint64(0), res.Version)
			t.Check(res.Current == nil, "current nil when the server holds no such item", "%s", brief(res.Current))
			t.Unchanged(UserA, ns, id, &protocol.Item{Version: v2})
			t.Unchanged(UserA, ns, ns.ID("st-missing"), nil)
			added := t.newConflicts(ns, id, before)
			t.Check(len(added) == 0, "no conflict record for a stale upload", "%d records", len(added))
		})
	})
}

// tryWithRule is WithRule without the skip.
func (t *T) tryWithRule(rule protocol.Rule) (ns Namespace, ok bool) {
	if t.info.DefaultRule == rule {
		return t.NewCollection(), true
	}
	for name, r := range t.info.Rules {
		if r == rule && (ns.Collection == "" || name < ns.Collection) {
			ns = Namespace{Collection: name, Prefix: "cf-" + RandomName(10) + "/", Rule: rule}
		}
	}
	return ns, ns.Collection != ""
}
