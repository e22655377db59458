package clientd

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// Conflict kinds.
const (
	// KindLocal: a local version that lost to the server's, kept in this
	// client's conflict log.
	KindLocal = "local"
	// KindServer: a server conflict record (a client version set aside
	// under manual, or a server version overwritten under client-wins or
	// latest-wins), as cached at the last sync.
	KindServer = "server"
)

// Conflict is a version of an item that lost a conflict and is kept until
// resolved.
type Conflict struct {
	ConflictID string `json:"conflict_id"`
	// Kind is KindLocal or KindServer.
	Kind string `json:"kind"`
	// Reason is ReasonRejected, ReasonServerWon or ReasonSuperseded for local records,
	// protocol.ReasonManual or protocol.ReasonOverwritten for server ones.
	Reason      string                  `json:"reason"`
	Collection  string                  `json:"collection"`
	ID          string                  `json:"id"`
	Content     []byte                  `json:"content"`
	Deleted     bool                    `json:"deleted"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	HLC         changelog.HLC           `json:"hlc"`
	// Replica is the device that made the losing version.
	Replica   string    `json:"replica"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Base is the server version the losing edit started from (0: unknown).
	Base uint64 `json:"base"`
	// ServerVersion is the server version the losing one conflicted with:
	// for local records, the server's item that won; for server records,
	// see protocol.Conflict.
	ServerVersion uint64 `json:"server_version"`
}

// Conflicts returns the local conflict log, oldest first, then the server
// conflict records cached at the last sync, oldest first. The returned
// slices belong to the caller.
func (c *Client) Conflicts() ([]Conflict, error) {
	var out []Conflict
	err := c.view(func(tx *bolt.Tx) error {
		locals, err := localConflicts(tx, "", "")
		if err != nil {
			return err
		}
		servers, err := serverConflicts(tx, "", "")
		if err != nil {
			return err
		}
		out = append(locals, servers...)
		return nil
	})
	return out, err
}

// RefreshConflicts fetches the user's open server conflict records
// (POST /v1/conflicts) into the cache that Conflicts and Resolve read, so
// that a record made by another device since this client's last session
// shows without a full sync. It uses the Info of the client's latest
// session, or fetches one (SP-3-4); against a server that does not offer
// conflicts it does nothing. It needs the network (ErrOffline without a
// server or token) and waits for a session in progress.
func (c *Client) RefreshConflicts(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.cfg.ServerURL == "" || c.cfg.Token == "" {
		return ErrOffline
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.closeCtx, cancel)()
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if info == nil {
		var err error
		if info, err = c.fetchInfo(ctx); err != nil {
			return fmt.Errorf("refresh conflicts: %w", err)
		}
	}
	if !slices.Contains(info.Features, protocol.FeatureConflicts) {
		return nil
	}
	return c.refreshServerConflicts(ctx, nil)
}

func localConflicts(tx *bolt.Tx, coll, id string) ([]Conflict, error) {
	var out []Conflict
	err := tx.Bucket(bktLocalConf).ForEach(func(k, v []byte) error {
		var lc localConflict
		if err := unmarshal(v, &lc); err != nil {
			return fmt.Errorf("local conflict %s: %w", k, err)
		}
		if coll != "" && (lc.Collection != coll || lc.ID != id) {
			return nil
		}
		fp, _ := fingerprint.FromBytes(lc.FP)
		out = append(out, Conflict{
			ConflictID: lc.ConflictID, Kind: KindLocal, Reason: lc.Reason, Collection: lc.Collection, ID: lc.ID,
			Content: bytes.Clone(lc.Content), Deleted: lc.Deleted, Fingerprint: fp, HLC: changelog.HLC(lc.HLC),
			Replica: lc.Replica, CreatedAt: time.UnixMilli(int64(lc.CreatedMS)), Base: lc.Base, ServerVersion: lc.ServerVersion,
		})
		return nil
	})
	return out, err
}

func serverConflicts(tx *bolt.Tx, coll, id string) ([]Conflict, error) {
	var out []Conflict
	err := tx.Bucket(bktServerConf).ForEach(func(k, v []byte) error {
		var sc protocol.Conflict
		if err := unmarshal(v, &sc); err != nil {
			return fmt.Errorf("server conflict %s: %w", k, err)
		}
		if coll != "" && (sc.Collection != coll || sc.ID != id) {
			return nil
		}
		fp, _ := fingerprint.FromBytes(sc.FP)
		content := sc.Content
		if content == nil {
			content = []byte{}
		}
		out = append(out, Conflict{
			ConflictID: sc.ConflictID, Kind: KindServer, Reason: sc.Reason, Collection: sc.Collection, ID: sc.ID,
			Content: content, Deleted: sc.Deleted, Fingerprint: fp, HLC: changelog.HLC(sc.HLC), Replica: sc.Replica,
			CreatedAt: time.UnixMilli(int64(sc.CreatedMillis)), Base: sc.Base, ServerVersion: sc.ServerVersion,
		})
		return nil
	})
	slices.SortStableFunc(out, func(a, b Conflict) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, err
}

// Resolution is the user's choice for an item in conflict. Exactly one
// field is set.
type Resolution struct {
	// UseConflict makes the version held by that conflict record (local or
	// server) the item's current one.
	UseConflict string
	// Content makes this content current (non-nil; []byte{} is empty
	// content).
	Content []byte
	// Delete deletes the item.
	Delete bool
	// KeepCurrent keeps the item's current version and only closes the
	// records.
	KeepCurrent bool
}

func (r Resolution) choices() int {
	n := 0
	for _, set := range []bool{r.UseConflict != "", r.Content != nil, r.Delete, r.KeepCurrent} {
		if set {
			n++
		}
	}
	return n
}

// Resolve closes every conflict record of an item, local and server, with
// the user's choice. Server records are closed on the server in one step
// with the write (POST /v1/conflicts/resolve; beyond the server's max_ids
// records, the rest are closed by further requests after the write), so
// this needs the network;
// if the item changed on the server since the last sync, Resolve syncs and
// returns ErrStale. Each request carries a batch ID, so that a retry after
// a lost answer gets the first answer from a server with resolve-batch
// (SP-10-10); from one without it, such a retry returns ErrStale although
// the choice was written. An item with local records only is resolved offline by
// a local edit that the next sync uploads. ErrNotFound: the item has no
// conflict records, or UseConflict names none of them.
func (c *Client) Resolve(ctx context.Context, collName, id string, r Resolution) error {
	if err := protocol.ValidateCollection(collName); err != nil {
		return err
	}
	if err := protocol.ValidateID(id); err != nil {
		return err
	}
	if r.choices() != 1 {
		return ErrResolution
	}
	if r.Content != nil {
		if err := c.validateEdit(collName, edit{id: id, content: r.Content}); err != nil {
			return err
		}
	}
	if c.closed.Load() {
		return ErrClosed
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.closeCtx, cancel)()

	var locals, servers []Conflict
	var cur *record
	var pending bool
	err := c.view(func(tx *bolt.Tx) error {
		var err error
		if locals, err = localConflicts(tx, collName, id); err != nil {
			return err
		}
		if servers, err = serverConflicts(tx, collName, id); err != nil {
			return err
		}
		col, err := openColl(tx, collName, false)
		if err != nil || col == nil {
			return err
		}
		cur, err = col.get(id, false)
		pending = col.isPending(id)
		return err
	})
	if err != nil {
		return fmt.Errorf("resolve %s/%q: %w", collName, id, err)
	}
	// The choice is stamped now, as the local state it builds on is read:
	// a local edit made while the resolution is on its way (during the
	// handshake below, say, which also observes the server's clock) is
	// stamped after it, as it must be, since it is then based on the
	// resolution's version (SP-5-4). Every version this store holds was
	// observed, so the stamp also follows the version the choice replaces.
	stamp := c.clock.Now()
	if len(locals)+len(servers) == 0 {
		return fmt.Errorf("resolve %s/%q: no conflict records: %w", collName, id, ErrNotFound)
	}
	var e *edit // nil: keep current
	switch {
	case r.UseConflict != "":
		i := slices.IndexFunc(append(slices.Clip(locals), servers...), func(cf Conflict) bool { return cf.ConflictID == r.UseConflict })
		if i < 0 {
			return fmt.Errorf("resolve %s/%q: conflict %q: %w", collName, id, r.UseConflict, ErrNotFound)
		}
		cf := append(slices.Clip(locals), servers...)[i]
		e = &edit{id: id, content: cf.Content, deleted: cf.Deleted}
		if cf.Deleted {
			e.content = nil
		}
	case r.Content != nil:
		e = &edit{id: id, content: r.Content}
	case r.Delete:
		e = &edit{id: id, deleted: true}
	}

	if len(servers) == 0 {
		return c.resolveLocally(collName, id, e)
	}
	if c.cfg.ServerURL == "" || c.cfg.Token == "" {
		return fmt.Errorf("resolve %s/%q: server conflict records: %w", collName, id, ErrOffline)
	}
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if info == nil {
		var err error
		if info, err = c.fetchInfo(ctx); err != nil {
			return fmt.Errorf("resolve %s/%q: %w", collName, id, err)
		}
	}
	if !slices.Contains(info.Features, protocol.FeatureConflicts) {
		return fmt.Errorf("resolve %s/%q: the server does not offer %q", collName, id, protocol.FeatureConflicts)
	}
	// SP-10-3: a request closes at most max_ids records. The first one
	// carries the put and, first of all, the record whose version the user
	// chose, so that the choice and its record go together; further
	// requests close the rest.
	ids := make([]string, 0, len(servers))
	for _, cf := range servers {
		if cf.ConflictID == r.UseConflict {
			ids = append(ids, cf.ConflictID)
		}
	}
	for _, cf := range servers {
		if cf.ConflictID != r.UseConflict {
			ids = append(ids, cf.ConflictID)
		}
	}
	maxIDs := orDefault(info.Limits.MaxIDs, protocol.DefaultMaxIDs)
	first, rest := ids[:min(len(ids), maxIDs)], ids[min(len(ids), maxIDs):]
	// A batch ID makes a retry after a lost answer get the first answer
	// from a server with resolve-batch, not stale_base (SP-10-10); callRetry
	// sends the identical body.
	req := &protocol.ResolveRequest{Collection: collName, ID: id, Close: first, BatchID: newBatchID()}
	var put *record
	if e != nil {
		content := e.content
		if content == nil || e.deleted {
			content = []byte{}
		}
		put = &record{Content: content, Deleted: e.deleted, FP: fingerprint.Of(id, e.deleted, content), HLC: stamp}
		up := &protocol.Upload{ID: id, FP: put.FP.Bytes(), HLC: uint64(put.HLC), Deleted: put.Deleted, Content: put.Content}
		if cur != nil {
			up.Base, up.Seen = uint64(cur.Base), uint64(cur.Seen)
			if pending && cur.Base < cur.Seen {
				// SP-10-5: the server version the user saw as current is
				// the one the pending edit derives from. The client knows
				// of a newer one from change info only and never held it:
				// a put over it would replace it unseen, with no record
				// (SP-10-4). The server answers stale_base, and the sync
				// that follows brings it in.
				up.Seen = uint64(cur.Base)
			}
		}
		req.Put = up
	}
	// SP-3-4, SP-3-13: never send a body over the announced limit.
	if body, err := protocol.Marshal(req); err != nil {
		return fmt.Errorf("resolve %s/%q: %w", collName, id, err)
	} else if maxBody := orDefault(info.Limits.MaxBodyBytes, protocol.DefaultMaxBodyBytes); len(body) > maxBody {
		return fmt.Errorf("resolve %s/%q: %w", collName, id, protocol.Errorf(protocol.CodePayloadTooLarge,
			"the resolution's request body is %d bytes, over the server's max_body_bytes of %d", len(body), maxBody))
	}
	var resp protocol.ResolveResponse
	if err := c.callRetry(ctx, protocol.PathResolve, req, &resp); err != nil {
		return c.resolveFailed(ctx, collName, id, err)
	}
	self := c.self()
	err = c.update(func(tx *bolt.Tx) error {
		if err := uncacheServerConflicts(tx, first); err != nil {
			return err
		}
		// The records the user resolved go first: storing the put may log
		// a pending edit it replaces, which is a new record.
		if err := deleteLocalConflicts(tx, collName, id); err != nil {
			return err
		}
		if put != nil && resp.Result != nil {
			return c.storeResolution(tx, collName, id, put, cur, resp.Result, self)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resolve %s/%q: store: %w", collName, id, err)
	}
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), maxIDs)]
		var resp protocol.ResolveResponse
		if err := c.callRetry(ctx, protocol.PathResolve, &protocol.ResolveRequest{Collection: collName, ID: id, Close: chunk, BatchID: newBatchID()}, &resp); err != nil {
			// The choice is in place; what is left open is listed
			// again, and resolving the item again closes it.
			return fmt.Errorf("%w (the choice is written; %d server record(s) are left open)", c.resolveFailed(ctx, collName, id, err), len(rest))
		}
		rest = rest[len(chunk):]
		if err := c.update(func(tx *bolt.Tx) error { return uncacheServerConflicts(tx, chunk) }); err != nil {
			return fmt.Errorf("resolve %s/%q: store: %w", collName, id, err)
		}
	}
	return nil
}

// resolveFailed handles a failed resolution request: on stale_base or
// not_found the item or its records moved on, and a sync brings the store
// up to date so that the caller decides on what is current (ErrStale).
// The cache may name a record the server does not hold: the sync lists
// the records again whatever conflicts_seq says (SP-10-9).
func (c *Client) resolveFailed(ctx context.Context, collName, id string, err error) error {
	switch protocol.CodeOf(err) {
	case protocol.CodeStaleBase, protocol.CodeNotFound:
		if ferr := c.update(forgetConfMark); ferr != nil {
			return fmt.Errorf("resolve %s/%q: %w (and forgetting the cache's mark failed: %v)", collName, id, err, ferr)
		}
		if _, serr := c.syncLocked(ctx); serr != nil {
			return fmt.Errorf("resolve %s/%q: %w (and the re-sync failed: %v)", collName, id, err, serr)
		}
		return fmt.Errorf("resolve %s/%q: %w: %w", collName, id, ErrStale, err)
	}
	return fmt.Errorf("resolve %s/%q: %w", collName, id, err)
}

// uncacheServerConflicts removes closed server records from the cache.
func uncacheServerConflicts(tx *bolt.Tx, ids []string) error {
	for _, id := range ids {
		if err := tx.Bucket(bktServerConf).Delete([]byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// storeResolution stores a resolution's written version as the item's
// local one [SP-10-6]. A local edit not yet uploaded that the put replaces
// goes to the local conflict log first: the server has not acknowledged it.
// If that edit (or an earlier one) was sent without an answer, the written
// version stays pending, so that it goes up again should the server apply
// the old upload after it. An item
// edited while the resolution was in flight keeps the newer edit pending
// with base and seen set to the written version, as for an acknowledged
// upload edited again (SP-6.5-3): this device's edits are sequential, so
// the newer edit follows the written version and goes up next.
func (c *Client) storeResolution(tx *bolt.Tx, collName, id string, put, before *record, res *protocol.UploadResult, self changelog.ReplicaID) error {
	col, err := openColl(tx, collName, true)
	if err != nil {
		return err
	}
	v := changelog.Seq(res.Version)
	now, err := col.get(id, true)
	if err != nil {
		return err
	}
	if editOf(now) != editOf(before) {
		now.Base, now.Seen = max(now.Base, v), max(now.Seen, v)
		return col.put(id, now)
	}
	if now != nil && col.isPending(id) && now.FP != put.FP {
		if err := c.addLocalConflict(tx, collName, id, now, ReasonSuperseded, v); err != nil {
			return err
		}
	}
	n, err := nextCounter(tx, keyEdit) // invalidates plans made before
	if err != nil {
		return err
	}
	put.Base, put.Seen, put.Author, put.Edit = v, v, self, n
	if res.HLC != 0 {
		put.HLC = changelog.HLC(res.HLC)
	}
	if err := col.put(id, put); err != nil {
		return err
	}
	if col.hasDoubt(id) {
		// An upload of the item of unknown outcome (a kept exchange, a
		// request still on its way) may yet be applied after the written
		// version. The choice came after it on this device, so it stays
		// pending with the doubt entries: when the upload's version shows
		// up (the kept exchange's answer, or the pull's own version in
		// doubt) the choice goes up over it as a fast-forward; if it never
		// does, the next plan finds the server holding the choice and
		// moves nothing.
		if err := col.setPending(id, n); err != nil {
			return err
		}
	} else if err := col.clearPending(id); err != nil {
		return err
	}
	h := newHistory(tx, c.cfg.HistoryLimit)
	if err := h.add(c.cfg.Now(), collName, id, put, SourceLocal); err != nil {
		return err
	}
	if err := h.flush(); err != nil {
		return err
	}
	return c.persistClock(tx)
}

// resolveLocally closes the local records of an item and applies the
// choice as a local edit.
func (c *Client) resolveLocally(collName, id string, e *edit) error {
	author := c.self()
	changed := false
	err := c.update(func(tx *bolt.Tx) error {
		if e != nil {
			var err error
			if e.deleted {
				col, err := openColl(tx, collName, false)
				if err != nil {
					return err
				}
				if col != nil {
					if r, err := col.get(id, false); err != nil || r == nil || r.Deleted {
						e = nil // already gone
						if err != nil {
							return err
						}
					}
				} else {
					e = nil
				}
			}
			if e != nil {
				if changed, err = c.applyEdits(tx, collName, []edit{*e}, author); err != nil {
					return err
				}
			}
		}
		return deleteLocalConflicts(tx, collName, id)
	})
	if err != nil {
		return fmt.Errorf("resolve %s/%q: %w", collName, id, err)
	}
	if changed {
		notify(c.writeCh)
	}
	return nil
}

func deleteLocalConflicts(tx *bolt.Tx, collName, id string) error {
	b := tx.Bucket(bktLocalConf)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var lc localConflict
		if err := unmarshal(v, &lc); err != nil {
			return err
		}
		if lc.Collection == collName && lc.ID == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
