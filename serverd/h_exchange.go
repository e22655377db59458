package serverd

import (
	"context"
	"crypto/sha256"
	"encoding/binary"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/reconcile"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// pruneBatchesPerWrite bounds how many idempotency records one exchange
// prunes; each exchange adds one, so pruning keeps up.
const pruneBatchesPerWrite = 16

// validateExchange checks a request before anything is read or written,
// in the order of SP-6.3-2: the first failure is answered.
func (s *Server) validateExchange(req *protocol.ExchangeRequest) error {
	lim := s.cfg.Limits
	if err := protocol.ValidateCollection(req.Collection); err != nil {
		return err
	}
	if err := protocol.ValidateBatchID(req.BatchID); err != nil {
		return err
	}
	if len(req.Uploads) > lim.MaxBatchItems {
		return protocol.Errorf(protocol.CodeTooManyItems, "%d uploads, max_batch_items is %d", len(req.Uploads), lim.MaxBatchItems)
	}
	if len(req.Downloads) > lim.MaxIDs {
		return protocol.Errorf(protocol.CodeTooManyItems, "%d downloads, max_ids is %d", len(req.Downloads), lim.MaxIDs)
	}
	seen := make(map[string]struct{}, max(len(req.Uploads), len(req.Downloads)))
	for i := range req.Uploads {
		id := req.Uploads[i].ID
		if err := validateID(id); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return protocol.Errorf(protocol.CodeDuplicateID, "item %q is uploaded twice", id).WithIDs(id)
		}
		seen[id] = struct{}{}
	}
	clear(seen)
	for _, id := range req.Downloads {
		if err := validateID(id); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return protocol.Errorf(protocol.CodeDuplicateID, "item %q is requested twice", id).WithIDs(id)
		}
		seen[id] = struct{}{}
	}
	for i := range req.Uploads {
		if err := checkUploadShape(&req.Uploads[i]); err != nil {
			return err
		}
	}
	var tooLarge []string
	total := 0
	for i := range req.Uploads {
		up := &req.Uploads[i]
		if len(up.Content) > lim.MaxItemBytes {
			tooLarge = append(tooLarge, up.ID)
		}
		total += len(up.Content)
	}
	if len(tooLarge) > 0 {
		return protocol.Errorf(protocol.CodeItemTooLarge, "%d item(s) over max_item_bytes %d", len(tooLarge), lim.MaxItemBytes).WithIDs(tooLarge...)
	}
	if total > lim.MaxBatchBytes {
		return protocol.Errorf(protocol.CodePayloadTooLarge, "uploads hold %d content bytes, max_batch_bytes is %d", total, lim.MaxBatchBytes)
	}
	fps := make([]fingerprint.Fingerprint, len(req.Uploads))
	fingerprint.OfEach(fps, func(i int) fingerprint.Item {
		up := &req.Uploads[i]
		return fingerprint.Item{ID: up.ID, Deleted: up.Deleted, Content: up.Content}
	})
	var bad []string
	for i := range req.Uploads {
		up := &req.Uploads[i]
		if fps[i] != fingerprint.Fingerprint(up.FP) && !(faultsEnabled && fault("skip-fingerprint-check")) {
			bad = append(bad, up.ID)
		}
	}
	if len(bad) > 0 {
		return protocol.Errorf(protocol.CodeFingerprintMismatch, "%d upload(s) carry a fingerprint that is not that of their content", len(bad)).WithIDs(bad...)
	}
	return nil
}

// validateID is protocol.ValidateID with the offending ID always in ids
// (an empty ID too).
func validateID(id string) error {
	err := protocol.ValidateID(id)
	if e, ok := err.(*protocol.Error); ok && len(e.IDs) == 0 {
		e.IDs = []string{id}
	}
	return err
}

// checkUploadShape checks what decoding cannot: a 32-byte fingerprint and
// no content in a tombstone.
func checkUploadShape(up *protocol.Upload) error {
	if len(up.FP) != fingerprint.Size {
		return protocol.Errorf(protocol.CodeMalformed, "item %q: fp is %d bytes, want %d", up.ID, len(up.FP), fingerprint.Size).WithIDs(up.ID)
	}
	if up.Deleted && len(up.Content) > 0 {
		return protocol.Errorf(protocol.CodeMalformed, "item %q: a tombstone carries no content", up.ID).WithIDs(up.ID)
	}
	return nil
}

// effectiveHLC clamps an uploaded timestamp and folds it into the clock.
func (s *Server) effectiveHLC(h uint64) changelog.HLC {
	eff, _ := reconcile.Clamp(changelog.HLC(h), s.clock.Wall(), uint64(s.cfg.MaxSkew.Milliseconds()), s.clock.Now)
	s.clock.Observe(eff)
	return eff
}

// handleExchange answers POST /v1/exchange.
func (s *Server) handleExchange(c *call) (any, error) {
	var req protocol.ExchangeRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := s.validateExchange(&req); err != nil {
		return nil, err
	}
	reqHash := sha256.Sum256(c.body)
	var out []byte
	changed := false
	// replay answers from the idempotency record of the batch ID, if any
	// (SP-6.4-2); ok is false when there is none.
	replay := func(tx storage.Tx) (ok bool, err error) {
		b, ok, err := tx.Batch(c.user, req.BatchID)
		if err != nil || !ok || faultsEnabled && fault("double-apply-retry") {
			return false, err
		}
		if b.RequestHash != reqHash {
			return true, protocol.Errorf(protocol.CodeBatchReused, "batch_id %q was used for a different request", req.BatchID)
		}
		out = b.Response
		return true, nil
	}
	if len(req.Uploads) == 0 {
		// Downloads only: nothing to write, so a read transaction that
		// runs beside others, and no idempotency record (SP-6.4-3).
		err := s.view(context.Background(), func(tx storage.Tx) error {
			if ok, err := replay(tx); ok || err != nil {
				return err
			}
			resp, _, err := s.exchange(tx, c, &req)
			if err != nil {
				return err
			}
			out, err = protocol.Marshal(resp)
			return err
		})
		if err != nil {
			return nil, err
		}
		return rawResponse(out), nil
	}
	err := s.update(context.Background(), func(tx storage.Tx) error {
		changed = false
		if ok, err := replay(tx); ok || err != nil {
			return err
		}
		resp, wrote, err := s.exchange(tx, c, &req)
		if err != nil {
			return err
		}
		changed = wrote
		if out, err = protocol.Marshal(resp); err != nil {
			return err
		}
		if !wrote {
			// Every upload was unchanged, stale or rejected: nothing to
			// record, and the store skips the commit (SP-6.4-3).
			return nil
		}
		now := s.cfg.Now()
		if err := tx.PutBatch(c.user, req.BatchID, storage.Batch{CreatedMillis: uint64(now.UnixMilli()), RequestHash: reqHash, Response: out}); err != nil {
			return err
		}
		cutoff := now.Add(-s.batchRetention).UnixMilli()
		if _, err := tx.PruneBatches(uint64(max(cutoff, 0)), s.batchKeep, pruneBatchesPerWrite); err != nil {
			return err
		}
		return tx.PutMeta(metaHLC, binary.BigEndian.AppendUint64(nil, uint64(s.clock.Now())))
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.hub.notify(c.user)
	}
	return rawResponse(out), nil
}

// exchange applies a validated request inside tx (steps 3 to 5) and
// reports whether it wrote anything.
func (s *Server) exchange(tx storage.Tx, c *call, req *protocol.ExchangeRequest) (*protocol.ExchangeResponse, bool, error) {
	rule := s.cfg.ruleFor(req.Collection)
	coll, err := tx.Collection(c.user, req.Collection)
	if err != nil {
		return nil, false, err
	}
	headBefore, err := coll.Head()
	if err != nil {
		return nil, false, err
	}
	resp := &protocol.ExchangeResponse{
		Results:  make([]protocol.UploadResult, 0, len(req.Uploads)),
		Items:    []protocol.Item{},
		Missing:  []string{},
		Deferred: []string{},
	}
	nowMs := uint64(s.cfg.Now().UnixMilli())
	wrote := false
	kept := keptConflicts{tx: tx, user: c.user, coll: req.Collection}
	var keep []string // IDs whose server item the response must carry (rejected, conflict)
	for i := range req.Uploads {
		up := &req.Uploads[i]
		cur, ok, err := coll.Get(up.ID)
		if err != nil {
			return nil, false, err
		}
		var curp *changelog.Entry
		if ok {
			curp = &cur
		}
		fp := fingerprint.Fingerprint(up.FP)
		in := reconcile.Incoming{
			Side: reconcile.Side{Fingerprint: fp, Deleted: up.Deleted, HLC: s.effectiveHLC(up.HLC), Replica: c.replica},
			Base: changelog.Seq(up.Base),
			Seen: changelog.Seq(up.Seen),
		}
		v := reconcile.Arbitrate(rule, in, curp)
		if faultsEnabled && fault("ignore-rule") && (v == reconcile.Reject || v == reconcile.Conflict) {
			v = reconcile.Apply
		}
		if faultsEnabled && fault("apply-stale") && v == reconcile.Stale {
			v = reconcile.Apply
		}
		res := protocol.UploadResult{ID: up.ID, Status: v.Status(), Version: uint64(cur.Seq)}
		switch v {
		case reconcile.Apply:
			if reconcile.Overwrites(v, in, curp) {
				content, err := coll.Content(up.ID)
				if err != nil {
					return nil, false, err
				}
				if err := tx.PutConflict(c.user, storage.Conflict{
					ConflictID: newConflictID(), Collection: req.Collection, Entry: cur,
					Reason: protocol.ReasonOverwritten, ServerVersion: cur.Seq, Content: content, CreatedMillis: nowMs,
				}); err != nil {
					return nil, false, err
				}
			}
			var content []byte
			if !up.Deleted {
				content = up.Content
			}
			seq, err := coll.Put(changelog.Entry{ID: up.ID, Fingerprint: fp, HLC: in.HLC, Deleted: up.Deleted, Replica: c.replica}, content)
			if err != nil {
				return nil, false, err
			}
			res.Version, res.HLC = uint64(seq), uint64(in.HLC)
			wrote = true
		case reconcile.Unchanged:
		case reconcile.Stale:
			if curp != nil {
				ci := cur.ToWire()
				res.Current = &ci
			}
		case reconcile.Reject:
			ci := cur.ToWire()
			res.Current = &ci
			keep = append(keep, up.ID)
		case reconcile.Conflict:
			// The same version kept already (a resent upload whose
			// response was lost) is not kept twice: its record is named.
			id, err := kept.find(keptKey{up.ID, fp, c.replica, cur.Seq})
			if err != nil {
				return nil, false, err
			}
			if id == "" {
				id = newConflictID()
				if err := tx.PutConflict(c.user, storage.Conflict{
					ConflictID: id, Collection: req.Collection,
					Entry:  changelog.Entry{ID: up.ID, Fingerprint: fp, HLC: in.HLC, Deleted: up.Deleted, Replica: c.replica, Size: uint32(len(up.Content))},
					Reason: protocol.ReasonManual, ServerVersion: cur.Seq, Base: in.Base, Content: up.Content, CreatedMillis: nowMs,
				}); err != nil {
					return nil, false, err
				}
				wrote = true
			}
			ci := cur.ToWire()
			res.Conflict, res.Current = id, &ci
			keep = append(keep, up.ID)
		}
		resp.Results = append(resp.Results, res)
	}
	if err := s.downloads(coll, req.Downloads, keep, resp); err != nil {
		return nil, false, err
	}
	headAfter, err := coll.Head()
	if err != nil {
		return nil, false, err
	}
	resp.Head = uint64(headAfter)
	if resp.ConflictsSeq, err = conflictsSeq(tx, c.user); err != nil {
		return nil, false, err
	}
	resp.Cursor = req.Cursor
	if req.Cursor != "" {
		if v, err := s.cursors.parse(c.user, req.Collection, req.Cursor); err == nil && v == headBefore {
			resp.Cursor = s.cursors.issue(c.user, req.Collection, headAfter)
		}
	}
	return resp, wrote, nil
}

// downloads fills items, missing and deferred (step 4): requested items
// in request order while the response's content stays within
// max_batch_bytes (at least one item always goes), then the server's item
// of every rejected or conflict upload not already listed.
func (s *Server) downloads(coll storage.Collection, ids, keep []string, resp *protocol.ExchangeResponse) error {
	kept := make(map[string]bool, len(keep))
	var slab fpSlab
	budget := s.cfg.Limits.MaxBatchBytes
	used := 0
	contents := newContentSlab(coll)
	load := func(id string) (protocol.Item, bool, error) {
		e, ok, err := coll.Get(id)
		if err != nil || !ok {
			return protocol.Item{}, ok, err
		}
		content, err := contents.content(id, int(e.Size))
		if err != nil {
			return protocol.Item{}, false, err
		}
		return protocol.Item{ID: e.ID, Version: uint64(e.Seq), FP: slab.bytes(e.Fingerprint), HLC: uint64(e.HLC), Deleted: e.Deleted, Replica: string(e.Replica), Content: content}, true, nil
	}
	keepSet := make(map[string]bool, len(keep))
	for _, id := range keep {
		keepSet[id] = true
		if e, ok, err := coll.Get(id); err != nil {
			return err
		} else if ok {
			used += int(e.Size)
		}
	}
	deferring := false
	downloaded := 0
	for _, id := range ids {
		if deferring && !keepSet[id] {
			resp.Deferred = append(resp.Deferred, id)
			continue
		}
		it, ok, err := load(id)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			resp.Missing = append(resp.Missing, id)
		case keepSet[id]:
			resp.Items = append(resp.Items, it)
			kept[id] = true
			downloaded++
		case downloaded > 0 && used+len(it.Content) > budget:
			deferring = true
			resp.Deferred = append(resp.Deferred, id)
		default:
			resp.Items = append(resp.Items, it)
			used += len(it.Content)
			downloaded++
		}
	}
	for _, id := range keep {
		if kept[id] {
			continue
		}
		it, ok, err := load(id)
		if err != nil {
			return err
		}
		if ok {
			resp.Items = append(resp.Items, it)
		}
	}
	return nil
}

// contentBlock is the greatest size of the blocks that download contents
// of up to a quarter of it are copied into; the first block of a response
// is firstContentBlock bytes (or one item's size) and each next one twice
// the last, so that the many small exchanges of a busy server do not each
// allocate and clear 256 KiB.
const (
	contentBlock      = 256 << 10
	firstContentBlock = 4 << 10
)

// contentSlab reads the contents of a response's items: those of up to a
// quarter of contentBlock are copied into shared blocks where the backend
// can (storage.ContentAppender), the others read alone.
type contentSlab struct {
	coll     storage.Collection
	appender storage.ContentAppender
	block    []byte
	next     int // the size of the next block: a small response allocates little
}

func newContentSlab(coll storage.Collection) *contentSlab {
	appender, _ := coll.(storage.ContentAppender)
	return &contentSlab{coll: coll, appender: appender, next: firstContentBlock}
}

// content returns the content of item id, whose size is n: never nil
// (empty for a tombstone).
func (c *contentSlab) content(id string, n int) ([]byte, error) {
	var content []byte
	var err error
	if c.appender != nil && n <= contentBlock/4 {
		if cap(c.block)-len(c.block) < n {
			c.block = make([]byte, 0, max(c.next, n))
			c.next = min(2*c.next, contentBlock)
		}
		start := len(c.block)
		if c.block, err = c.appender.AppendContent(c.block, id); err != nil {
			return nil, err
		}
		content = c.block[start:len(c.block):len(c.block)]
	} else if content, err = c.coll.Content(id); err != nil {
		return nil, err
	}
	if content == nil {
		content = []byte{}
	}
	return content, nil
}

// fpSlab hands out wire fingerprints (32-byte slices, never written to)
// carved from shared blocks: one allocation per block instead of one per
// item of a large response. Blocks start at 8 fingerprints and double up
// to fpSlabItems, so that a small response allocates little.
type fpSlab struct {
	buf  []byte
	next int // fingerprints in the next block; 0: the first
}

const fpSlabItems = 256

func (s *fpSlab) bytes(fp fingerprint.Fingerprint) []byte {
	if len(s.buf) < fingerprint.Size {
		s.next = min(max(2*s.next, 8), fpSlabItems)
		s.buf = make([]byte, s.next*fingerprint.Size)
	}
	b := s.buf[:fingerprint.Size:fingerprint.Size]
	copy(b, fp[:])
	s.buf = s.buf[fingerprint.Size:]
	return b
}

// changeInfo is e.ToWire with the fingerprint from the slab.
func (s *fpSlab) changeInfo(e changelog.Entry) protocol.ChangeInfo {
	return protocol.ChangeInfo{ID: e.ID, Version: uint64(e.Seq), FP: s.bytes(e.Fingerprint), HLC: uint64(e.HLC), Deleted: e.Deleted, Replica: string(e.Replica), Size: e.Size}
}
