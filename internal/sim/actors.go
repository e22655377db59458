package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// The client actors: each step is one call of the client's API, run to its
// end on the scheduler's goroutine, and recorded in the history.

func (w *world) pickItem() (coll, id string) {
	return w.colls[w.rng.IntN(len(w.colls))], itemIDs[w.rng.IntN(len(itemIDs))]
}

// localCurrent returns the fingerprint of the client's current version of
// an item (a tombstone's for a deleted one); ok is false when the client
// never held the item. Every change of a local version adds a history
// entry, so the newest entry names the current version.
func (w *world) localCurrent(c *client, coll, id string) (fp fingerprint.Fingerprint, ok bool) {
	h, err := c.c.History(coll, id, 1)
	must(err, "history")
	if len(h) == 0 {
		return fingerprint.Fingerprint{}, false
	}
	return h[0].Fingerprint, true
}

func short(fp fingerprint.Fingerprint) string { return fp.String()[:8] }

func prevString(fp fingerprint.Fingerprint, ok bool) string {
	if !ok {
		return "none"
	}
	return short(fp)
}

// put writes new content, unique to this write, to a random item.
func (w *world) put(c *client) {
	coll, id := w.pickItem()
	w.putItem(c, coll, id)
}

func (w *world) putItem(c *client, coll, id string) {
	prev, hasPrev := w.localCurrent(c, coll, id)
	content := w.content(c)
	fp := fingerprint.Of(id, false, content)
	w.hist.written[fp] = true
	err := c.c.Put(coll, id, content)
	w.stats.Puts++
	w.tracef("put %s %s/%s %s (was %s): %s", c.name, coll, id, short(fp), prevString(prev, hasPrev), errClass(err))
	if err != nil {
		w.failf("put %s/%s on %s: %v", coll, id, c.name, err)
		return
	}
	w.hist.addWrite(write{client: c.name, coll: coll, id: id, fp: fp, prev: prev, hasPrev: hasPrev})
	w.followsResolution(c, coll, id, fp)
}

// followsResolution records that an edit c made while its resolution of
// the same item was in flight supersedes the resolution (SP-10-6: the
// device's later edit follows its own resolution).
func (w *world) followsResolution(c *client, coll, id string, fp fingerprint.Fingerprint) {
	if r := c.resolving; r != nil && r.coll == coll && r.id == id && r.fp != fp {
		w.hist.addWrite(write{client: c.name, coll: coll, id: id, fp: fp, prev: r.fp, hasPrev: true})
		w.tracef("  %s's edit follows its resolution in flight", c.name)
	}
}

// del deletes a random live item of the client.
func (w *world) del(c *client) {
	coll := w.colls[w.rng.IntN(len(w.colls))]
	items, err := c.c.List(coll)
	must(err, "list")
	if len(items) == 0 {
		w.tracef("delete %s %s: nothing to delete", c.name, coll)
		return
	}
	w.delItem(c, coll, items[w.rng.IntN(len(items))].ID)
}

// delItem deletes an item the client holds live.
func (w *world) delItem(c *client, coll, id string) {
	prev, hasPrev := w.localCurrent(c, coll, id)
	fp := tombstone(id)
	w.hist.written[fp] = true
	err := c.c.Delete(coll, id)
	w.stats.Deletes++
	w.tracef("delete %s %s/%s (was %s): %s", c.name, coll, id, prevString(prev, hasPrev), errClass(err))
	if err != nil {
		w.failf("delete %s/%s on %s: %v", coll, id, c.name, err)
		return
	}
	w.hist.addWrite(write{client: c.name, coll: coll, id: id, fp: fp, deleted: true, prev: prev, hasPrev: hasPrev})
	w.followsResolution(c, coll, id, fp)
}

// op runs a client operation that talks to the server under a context
// the network cancels when it crashes the client.
func (w *world) op(c *client, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	defer func() { cancel(); c.cancel = nil }()
	return fn(ctx)
}

// expected reports whether a failed Sync or Resolve failed for a fault
// the network injected.
func expected(c *client, err error) bool {
	return errors.Is(err, clientd.ErrNetwork) || c.crashed
}

func (w *world) sync(c *client) {
	var rep clientd.Report
	err := w.op(c, func(ctx context.Context) (err error) {
		rep, err = c.c.Sync(ctx)
		return err
	})
	w.stats.Syncs++
	w.tracef("sync %s: up %d down %d conflicts %d rounds %d: %s", c.name, rep.Uploaded, rep.Downloaded, rep.Conflicts, rep.Rounds, errClass(err))
	if err != nil {
		w.stats.FailedSyncs++
		if !expected(c, err) {
			w.failf("sync of %s failed without a fault to blame: %v", c.name, err)
		}
	}
}

// resolve resolves the conflict records of one item, choosing at random
// among keeping the current version, using a recorded one, writing new
// content and deleting.
func (w *world) resolve(c *client) {
	cfs, err := c.c.Conflicts()
	must(err, "conflicts")
	if len(cfs) == 0 {
		w.tracef("resolve %s: no conflicts", c.name)
		return
	}
	// Server records come in ID order, and their IDs are random: sort by
	// what the run determines.
	slices.SortFunc(cfs, func(a, b clientd.Conflict) int {
		return cmp.Or(cmp.Compare(a.Collection, b.Collection), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Fingerprint.String(), b.Fingerprint.String()), cmp.Compare(a.HLC, b.HLC), cmp.Compare(a.Replica, b.Replica))
	})
	pick := cfs[w.rng.IntN(len(cfs))]
	coll, id := pick.Collection, pick.ID
	var item []clientd.Conflict
	for _, cf := range cfs {
		if cf.Collection == coll && cf.ID == id {
			item = append(item, cf)
		}
	}
	prev, hasPrev := w.localCurrent(c, coll, id)
	var r clientd.Resolution
	var fp fingerprint.Fingerprint
	var how string
	writes, deleted := true, false
	switch w.rng.IntN(4) {
	case 0:
		r.KeepCurrent, writes, how = true, false, "keep-current"
	case 1:
		use := item[w.rng.IntN(len(item))]
		r.UseConflict, fp, deleted = use.ConflictID, use.Fingerprint, use.Deleted
		how = fmt.Sprintf("use %s %s", use.Kind, short(fp))
	case 2:
		r.Content = w.content(c)
		fp = fingerprint.Of(id, false, r.Content)
		how = "write " + short(fp)
	default:
		r.Delete, fp, deleted, how = true, tombstone(id), true, "delete"
	}
	if writes {
		w.hist.written[fp] = true
	}
	// The resolution's write counts once it took effect: when Resolve
	// returns nil, or when the server applies its put, even after Resolve
	// gave up on it (a lost answer, a request that arrives late).
	var res *resolution
	if writes && (!hasPrev || prev != fp) {
		res = &resolution{write: write{client: c.name, coll: coll, id: id, fp: fp, deleted: deleted, prev: prev, hasPrev: hasPrev, resolution: true}}
		w.hist.resolutions = append(w.hist.resolutions, res)
	}
	// SP-10-6: an edit of the item made while the resolution is in flight
	// follows it (putItem and delItem record that it supersedes it).
	if res != nil {
		c.resolving = &res.write
	}
	err = w.op(c, func(ctx context.Context) error { return c.c.Resolve(ctx, coll, id, r) })
	c.resolving = nil
	w.stats.Resolves++
	w.tracef("resolve %s %s/%s (%d records) %s: %s", c.name, coll, id, len(item), how, errClass(err))
	// Local records are closed once the resolution is written, even if
	// closing the rest of the server's records then fails: those gone
	// were closed by the user's choice.
	after, cerr := c.c.Conflicts()
	must(cerr, "conflicts")
	left := map[string]bool{}
	for _, cf := range after {
		left[cf.ConflictID] = true
	}
	for _, cf := range item {
		if cf.Kind == clientd.KindLocal && !left[cf.ConflictID] {
			w.hist.resolvedLocal[itemKey{coll, id}] = append(w.hist.resolvedLocal[itemKey{coll, id}], cf.Fingerprint)
			w.hist.localEntries = append(w.hist.localEntries, localEntry{itemKey{coll, id}, cf.Reason})
		}
	}
	if err != nil {
		// ErrStale, or the server's not_found or stale_base when the
		// re-sync that follows them failed: the item or its records moved
		// on (another client resolved them first).
		code := protocol.CodeOf(err)
		if !expected(c, err) && !errors.Is(err, clientd.ErrStale) && code != protocol.CodeNotFound && code != protocol.CodeStaleBase {
			w.failf("resolve %s/%s on %s failed without a fault to blame: %v", coll, id, c.name, err)
		}
		return
	}
	if res != nil {
		w.hist.took(res)
	}
}
