package sim

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// The checks, run once the faults healed and the final syncs settled.

// serverItem is an item as the server holds it at the end.
type serverItem struct {
	entry   changelog.Entry
	content []byte
}

// serverState reads the server's items (tombstones included) and open
// conflict records.
func (w *world) serverState() (map[itemKey]serverItem, map[string]storage.Conflict) {
	items := map[itemKey]serverItem{}
	open := map[string]storage.Conflict{}
	err := w.store.View(context.Background(), func(tx storage.Tx) error {
		for _, name := range w.colls {
			coll, err := tx.Collection(user, name)
			if err != nil {
				return err
			}
			err = coll.Since(0, 0, func(e changelog.Entry) error {
				content, err := coll.Content(e.ID)
				items[itemKey{name, e.ID}] = serverItem{entry: e, content: content}
				return err
			})
			if err != nil {
				return err
			}
		}
		return tx.Conflicts(user, "", func(cf storage.Conflict) error {
			open[cf.ConflictID] = cf
			return nil
		})
	})
	must(err, "read server state")
	return items, open
}

func (w *world) check() {
	items, open := w.serverState()
	local := w.checkConvergence(items, open)
	w.checkNoLoss(items, local)
	w.checkNothingUnwritten(local)
	w.checkNoDoubleApply()
	w.checkRules()
	w.checkKeptWhereTheRuleSays()
	w.stats.Versions = len(w.hist.versions)
	w.stats.ServerRecords = len(w.hist.records)
	for _, fps := range local {
		w.stats.LocalRecords += len(fps)
	}
	w.tracef("end: %d versions, %d server records (%d open), %d local records", w.stats.Versions, w.stats.ServerRecords, len(open), w.stats.LocalRecords)
}

// checkConvergence: every client holds the server's live items (IDs,
// contents, fingerprints, HLCs, versions), nothing pending, and the
// server's open conflict records. It returns the versions in the clients'
// local conflict logs.
func (w *world) checkConvergence(items map[itemKey]serverItem, open map[string]storage.Conflict) map[itemKey][]fingerprint.Fingerprint {
	local := map[itemKey][]fingerprint.Fingerprint{}
	for _, c := range w.clients {
		st, err := c.c.Status()
		must(err, "status")
		if st.Pending != 0 {
			w.failf("convergence: %s still has %d pending change(s)", c.name, st.Pending)
		}
		for _, name := range w.colls {
			list, err := c.c.List(name)
			must(err, "list")
			held := map[string]clientd.ItemInfo{}
			for _, it := range list {
				held[it.ID] = it
				content, err := c.c.Get(name, it.ID)
				must(err, "get")
				if fingerprint.Of(it.ID, false, content) != it.Fingerprint {
					w.failf("%s holds %s/%s with content %q that is not that of its fingerprint %s", c.name, name, it.ID, content, short(it.Fingerprint))
				}
				si, ok := items[itemKey{name, it.ID}]
				switch {
				case !ok || si.entry.Deleted:
					w.failf("convergence: %s holds %s/%s (%q), the server does not", c.name, name, it.ID, content)
				case si.entry.Fingerprint != it.Fingerprint || !bytes.Equal(si.content, content):
					w.failf("convergence: %s holds %s/%s = %q (%s), the server %q (%s)", c.name, name, it.ID, content, short(it.Fingerprint), si.content, short(si.entry.Fingerprint))
				case uint64(si.entry.Seq) != it.Version:
					w.failf("convergence: %s holds %s/%s at version %d, the server at version %d", c.name, name, it.ID, it.Version, si.entry.Seq)
				case si.entry.HLC != it.HLC || string(si.entry.Replica) != it.Author:
					// Equal fingerprints settle without a download: a client
					// that learnt of its own upload from the change info (its
					// answer was lost) keeps the HLC it stamped, which the
					// server may have clamped. Not a divergence of data.
					w.stats.MetadataDiffs++
					w.tracef("metadata: %s holds %s/%s with hlc %d by %s, the server hlc %d by %s", c.name, name, it.ID, it.HLC, it.Author, si.entry.HLC, si.entry.Replica)
				}
			}
			for k, si := range items {
				if k.coll == name && !si.entry.Deleted {
					if _, ok := held[k.id]; !ok {
						w.failf("convergence: the server holds %s/%s (%q), %s does not", name, k.id, si.content, c.name)
					}
				}
			}
		}
		cfs, err := c.c.Conflicts()
		must(err, "conflicts")
		cached := map[string]bool{}
		for _, cf := range cfs {
			if cf.Kind == clientd.KindLocal {
				k := itemKey{cf.Collection, cf.ID}
				local[k] = append(local[k], cf.Fingerprint)
				w.hist.localEntries = append(w.hist.localEntries, localEntry{k, cf.Reason})
				w.localLog = append(w.localLog, fmt.Sprintf("%s/%s %s in %s's log (%s)", cf.Collection, cf.ID, short(cf.Fingerprint), c.name, cf.Reason))
				continue
			}
			cached[cf.ConflictID] = true
			if _, ok := open[cf.ConflictID]; !ok {
				w.failf("convergence: %s lists server record %s/%s %s that the server closed", c.name, cf.Collection, cf.ID, short(cf.Fingerprint))
			}
		}
		for id, cf := range open {
			if !cached[id] {
				w.failf("convergence: %s does not list the server's open record %s/%s %s", c.name, cf.Collection, cf.Entry.ID, short(cf.Entry.Fingerprint))
			}
		}
	}
	return local
}

// checkNoLoss: every acknowledged write is still recoverable, or was
// replaced on purpose. A write is lost unless
//   - it is the item's current version on the server (all replicas hold
//     it: convergence);
//   - a server conflict record holds it (open, or closed by a resolution:
//     the user chose);
//   - a client's local conflict log holds it, or held it until a
//     successful Resolve of that client closed it;
//   - it was superseded: some acknowledged write (by any client) was made
//     on a replica whose current version of the item it was;
//   - it is a deletion that reached the server: a replaced tombstone has
//     no content and is not kept (SP-7-7).
func (w *world) checkNoLoss(items map[itemKey]serverItem, local map[itemKey][]fingerprint.Fingerprint) {
	kept := map[itemKey]map[fingerprint.Fingerprint]string{}
	keep := func(k itemKey, fp fingerprint.Fingerprint, where string) {
		if kept[k] == nil {
			kept[k] = map[fingerprint.Fingerprint]string{}
		}
		if _, ok := kept[k][fp]; !ok {
			kept[k][fp] = where
		}
	}
	for k, it := range items {
		keep(k, it.entry.Fingerprint, "current")
	}
	for _, r := range w.hist.records {
		keep(itemKey{r.conflict.Collection, r.conflict.Entry.ID}, r.conflict.Entry.Fingerprint, "server record")
	}
	for k, fps := range local {
		for _, fp := range fps {
			keep(k, fp, "local log")
		}
	}
	for k, fps := range w.hist.resolvedLocal {
		for _, fp := range fps {
			keep(k, fp, "resolved local record")
		}
	}
	for _, wr := range w.hist.writes {
		if wr.hasPrev {
			keep(itemKey{wr.coll, wr.id}, wr.prev, "superseded")
		}
	}
	for _, v := range w.hist.versions {
		if v.entry.Deleted {
			keep(itemKey{v.coll, v.entry.ID}, v.entry.Fingerprint, "deletion on the server")
		}
	}
	for _, wr := range w.hist.writes {
		k := itemKey{wr.coll, wr.id}
		if where, ok := kept[k][wr.fp]; ok {
			w.stats.Accounted[where]++
			continue
		}
		what := "put"
		if wr.deleted {
			what = "delete"
		}
		if wr.resolution {
			what = "resolution"
		}
		w.failf("lost: %s's acknowledged %s #%d of %s/%s (%s, rule %s) is neither current, nor in a conflict record or log, nor superseded; %s",
			wr.client, what, wr.n, wr.coll, wr.id, short(wr.fp), w.rules[wr.coll], w.itemStory(k))
	}
}

// itemStory describes an item's server history, for a failure message.
func (w *world) itemStory(k itemKey) string {
	var parts []string
	for _, v := range w.hist.versions {
		if v.coll == k.coll && v.entry.ID == k.id {
			how := "?"
			if v.from != nil {
				how = v.from.client.name
				if v.from.resolve != nil {
					how += " resolution"
				}
				if v.up != nil {
					how += fmt.Sprintf(" base %d seen %d", v.up.Base, v.up.Seen)
				}
			}
			parts = append(parts, fmt.Sprintf("v%d %s (%s)", v.entry.Seq, short(v.entry.Fingerprint), how))
		}
	}
	for _, r := range w.sortedRecords() {
		if r.conflict.Collection == k.coll && r.conflict.Entry.ID == k.id {
			parts = append(parts, fmt.Sprintf("record %s %s", r.conflict.Reason, short(r.conflict.Entry.Fingerprint)))
		}
	}
	for _, l := range w.localLog {
		if strings.HasPrefix(l, k.coll+"/"+k.id+" ") {
			parts = append(parts, l)
		}
	}
	return "server history: " + strings.Join(parts, ", ")
}

func (w *world) sortedRecords() []*record {
	rs := slices.Collect(maps.Values(w.hist.records))
	slices.SortFunc(rs, func(a, b *record) int {
		return cmp.Or(cmp.Compare(a.txn, b.txn), cmp.Compare(a.conflict.Entry.ID, b.conflict.Entry.ID))
	})
	return rs
}

// checkNothingUnwritten: every version anywhere is one a client wrote.
func (w *world) checkNothingUnwritten(local map[itemKey][]fingerprint.Fingerprint) {
	for _, v := range w.hist.versions {
		if !w.hist.written[v.entry.Fingerprint] {
			w.failf("the server made up version %d of %s/%s (%s): no client wrote it", v.entry.Seq, v.coll, v.entry.ID, short(v.entry.Fingerprint))
		}
		if fingerprint.Of(v.entry.ID, v.entry.Deleted, v.content) != v.entry.Fingerprint {
			w.failf("the server stored version %d of %s/%s with content that is not that of its fingerprint", v.entry.Seq, v.coll, v.entry.ID)
		}
	}
	for _, r := range w.hist.records {
		if !w.hist.written[r.conflict.Entry.Fingerprint] {
			w.failf("a server record of %s/%s holds %s, which no client wrote", r.conflict.Collection, r.conflict.Entry.ID, short(r.conflict.Entry.Fingerprint))
		}
	}
	for k, fps := range local {
		for _, fp := range fps {
			if !w.hist.written[fp] {
				w.failf("a local conflict log holds %s/%s %s, which no client wrote", k.coll, k.id, short(fp))
			}
		}
	}
}

// checkNoDoubleApply: the server applied every exchange (batch ID) at most
// once, however often it was delivered. It also counts writes applied
// more than once from different batches (Stats.Reapplied).
func (w *world) checkNoDoubleApply() {
	applied := map[string]int{} // batch ID -> the delivery that applied it
	note := func(d *delivery) {
		if d == nil || d.exch == nil {
			return
		}
		if n, ok := applied[d.exch.BatchID]; ok && n != d.n {
			w.failf("double apply: %s's exchange of %s was applied by delivery %d and again by delivery %d", d.client.name, d.exch.Collection, n, d.n)
			return
		}
		applied[d.exch.BatchID] = d.n
	}
	for _, v := range w.hist.versions {
		note(v.from)
	}
	for _, r := range w.sortedRecords() {
		note(r.from)
	}
	// A manual record keeps one losing upload: the same version, by the
	// same replica, against the same server version, is named again (a
	// resent upload whose answer was lost), not kept twice while open.
	type keptID struct {
		coll, id string
		fp       fingerprint.Fingerprint
		replica  changelog.ReplicaID
		against  changelog.Seq
	}
	kept := map[keptID]*record{}
	for _, r := range w.sortedRecords() {
		if r.conflict.Reason != protocol.ReasonManual {
			continue
		}
		k := keptID{r.conflict.Collection, r.conflict.Entry.ID, r.conflict.Entry.Fingerprint, r.conflict.Entry.Replica, r.conflict.ServerVersion}
		if first, ok := kept[k]; ok && (first.closedTxn == 0 || first.closedTxn > r.txn) {
			w.failf("%s's upload of %s/%s %s against version %d is kept twice as a manual record", r.conflict.Entry.Replica, k.coll, k.id, short(k.fp), k.against)
		}
		kept[k] = r
	}
	type writeID struct {
		replica changelog.ReplicaID
		coll    string
		id      string
		hlc     uint64
		fp      fingerprint.Fingerprint
	}
	seen := map[writeID]*version{}
	for _, v := range w.hist.versions {
		if v.from == nil || v.from.exch == nil || v.up == nil {
			continue
		}
		k := writeID{v.entry.Replica, v.coll, v.entry.ID, v.up.HLC, v.entry.Fingerprint}
		if first, ok := seen[k]; ok {
			w.stats.Reapplied++
			w.tracef("reapplied: %s/%s %s by %s at version %d and again at %d", v.coll, v.entry.ID, short(v.entry.Fingerprint), v.entry.Replica, first.entry.Seq, v.entry.Seq)
			continue
		}
		seen[k] = v
	}
}

// checkRules replays the server's history of every item against the
// collection's rule: every applied upload was based on what it saw, a
// version replaced without being derived from happened only where the
// rule lets the client take (and was kept as an overwritten record), and
// HLCs grow along every item's fast-forwards.
func (w *world) checkRules() {
	chains := map[itemKey][]*version{}
	var keys []itemKey
	for _, v := range w.hist.versions {
		k := itemKey{v.coll, v.entry.ID}
		if chains[k] == nil {
			keys = append(keys, k)
		}
		chains[k] = append(chains[k], v)
	}
	for _, k := range keys {
		rule := w.rules[k.coll]
		var prev *version
		for _, v := range chains[k] {
			w.checkVersion(rule, k, prev, v)
			prev = v
		}
	}
}

func (w *world) checkVersion(rule protocol.Rule, k itemKey, prev, v *version) {
	where := fmt.Sprintf("%s/%s version %d (%s)", k.coll, k.id, v.entry.Seq, rule)
	if v.from == nil || v.up == nil {
		w.failf("%s: made by no upload or resolution", where)
		return
	}
	if string(v.entry.Replica) != v.from.client.replica {
		w.failf("%s: recorded as by %s, sent by %s", where, v.entry.Replica, v.from.client.replica)
	}
	var prevSeq changelog.Seq
	if prev != nil {
		prevSeq = prev.entry.Seq
	}
	if changelog.Seq(v.up.Seen) != prevSeq {
		w.failf("%s: applied an upload that saw version %d, the item was at %d (stale)", where, v.up.Seen, prevSeq)
	}
	if v.from.resolve != nil || prev == nil {
		return // a resolution is the user's choice, under every rule
	}
	if prev.entry.Fingerprint == v.entry.Fingerprint {
		w.failf("%s: applied an upload equal to the current version (unchanged)", where)
	}
	if changelog.Seq(v.up.Base) == prevSeq {
		// A fast-forward: derived from prev, so its clock had observed
		// prev's HLC (or it was clamped to the server's, later still).
		if v.entry.HLC <= prev.entry.HLC {
			w.failf("%s: a fast-forward from version %d carries HLC %d, not after that version's %d", where, prevSeq, v.entry.HLC, prev.entry.HLC)
		}
		return
	}
	switch rule {
	case protocol.ClientWins:
	case protocol.LatestWins:
		if v.entry.HLC < prev.entry.HLC || v.entry.HLC == prev.entry.HLC && v.entry.Replica <= prev.entry.Replica {
			w.failf("%s: under latest-wins, HLC %d by %s replaced version %d with the later HLC %d by %s", where, v.entry.HLC, v.entry.Replica, prevSeq, prev.entry.HLC, prev.entry.Replica)
		}
	default:
		w.failf("%s: under %s, an upload based on version %d replaced version %d it had not seen", where, rule, v.up.Base, prevSeq)
	}
	if prev.entry.Deleted {
		return // a replaced tombstone is not kept (SP-7-9)
	}
	for _, r := range w.hist.records {
		if r.txn == v.txn && r.conflict.Reason == protocol.ReasonOverwritten && r.conflict.Collection == k.coll &&
			r.conflict.Entry.ID == k.id && r.conflict.Entry.Fingerprint == prev.entry.Fingerprint {
			return
		}
	}
	w.failf("%s: replaced version %d without keeping it as an overwritten record", where, prevSeq)
}

// checkKeptWhereTheRuleSays: losing versions are kept where the
// collection's rule keeps them (SP-7-7): server-wins in the losing
// client's local log, client-wins in overwritten server records, manual
// in manual server records, latest-wins in either a local log or an
// overwritten record.
func (w *world) checkKeptWhereTheRuleSays() {
	for _, r := range w.sortedRecords() {
		rule := w.rules[r.conflict.Collection]
		ok := false
		switch rule {
		case protocol.ClientWins, protocol.LatestWins:
			ok = r.conflict.Reason == protocol.ReasonOverwritten
		case protocol.Manual:
			ok = r.conflict.Reason == protocol.ReasonManual
		}
		if !ok {
			w.failf("a server record with reason %s in %s/%s, under %s", r.conflict.Reason, r.conflict.Collection, r.conflict.Entry.ID, rule)
		}
	}
	// A local edit that the user's resolution replaced is logged under
	// every rule (reason superseded, SP-10-6); a loser of the rule only
	// under server-wins and latest-wins.
	logged := map[itemKey]int{}
	for _, e := range w.hist.localEntries {
		if e.reason != clientd.ReasonSuperseded {
			logged[e.item]++
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(logged), func(a, b itemKey) int { return cmp.Or(cmp.Compare(a.coll, b.coll), cmp.Compare(a.id, b.id)) }) {
		if rule := w.rules[k.coll]; rule == protocol.ClientWins || rule == protocol.Manual {
			w.failf("%d local conflict-log entries for %s/%s that lost to the server, under %s (the server keeps the losers)", logged[k], k.coll, k.id, rule)
		}
	}
}
