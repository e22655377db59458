package serverd

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// conflictsSeq is the user's conflicts sequence number as announced
// [SP-10-8]: the store's count of changes to the user's records after
// protocol.FirstConflictsSeq, so that it is never 0, which on the wire
// means that the server keeps none, and is FirstConflictsSeq exactly while
// the user never had a record.
func conflictsSeq(tx storage.Tx, user string) (uint64, error) {
	n, err := tx.ConflictsSeq(user)
	if err != nil {
		return 0, fmt.Errorf("conflicts seq: %w", err)
	}
	return protocol.FirstConflictsSeq + n, nil
}

// handleConflicts answers POST /v1/conflicts: the user's open records,
// oldest first, with content.
func (s *Server) handleConflicts(c *call) (any, error) {
	var req protocol.ConflictsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Collection != "" {
		if err := protocol.ValidateCollection(req.Collection); err != nil {
			return nil, err
		}
	}
	resp := protocol.ConflictsResponse{Conflicts: []protocol.Conflict{}}
	err := s.view(context.Background(), func(tx storage.Tx) error {
		return tx.Conflicts(c.user, req.Collection, func(cf storage.Conflict) error {
			resp.Conflicts = append(resp.Conflicts, cf.ToWire())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return &resp, nil
}

// validateResolve checks a resolution before anything is read.
func (s *Server) validateResolve(req *protocol.ResolveRequest) error {
	if err := protocol.ValidateCollection(req.Collection); err != nil {
		return err
	}
	if err := validateID(req.ID); err != nil {
		return err
	}
	if req.BatchID != "" {
		if err := protocol.ValidateBatchID(req.BatchID); err != nil {
			return err
		}
	}
	if len(req.Close) > s.cfg.Limits.MaxIDs {
		return protocol.Errorf(protocol.CodeTooManyItems, "%d conflict ids to close, max_ids is %d", len(req.Close), s.cfg.Limits.MaxIDs)
	}
	seen := make(map[string]bool, len(req.Close))
	for _, id := range req.Close {
		if seen[id] {
			return protocol.Errorf(protocol.CodeDuplicateID, "conflict %q is listed twice", clip(id)).WithIDs(id)
		}
		seen[id] = true
	}
	up := req.Put
	if up == nil {
		return nil
	}
	if up.ID == "" {
		up.ID = req.ID
	}
	if up.ID != req.ID {
		return protocol.Errorf(protocol.CodeMalformed, "put.id %q is not the resolved item %q", clip(up.ID), req.ID).WithIDs(up.ID)
	}
	if err := checkUploadShape(up); err != nil {
		return err
	}
	if len(up.Content) > s.cfg.Limits.MaxItemBytes {
		return protocol.Errorf(protocol.CodeItemTooLarge, "content is %d bytes, max_item_bytes is %d", len(up.Content), s.cfg.Limits.MaxItemBytes).WithIDs(up.ID)
	}
	if fingerprint.Of(up.ID, up.Deleted, up.Content) != fingerprint.Fingerprint(up.FP) {
		return protocol.Errorf(protocol.CodeFingerprintMismatch, "put carries a fingerprint that is not that of its content").WithIDs(up.ID)
	}
	return nil
}

// handleResolve answers POST /v1/conflicts/resolve: close records of one
// item and optionally write it, atomically.
func (s *Server) handleResolve(c *call) (any, error) {
	var req protocol.ResolveRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := s.validateResolve(&req); err != nil {
		return nil, err
	}
	var resp protocol.ResolveResponse
	var out []byte // the recorded answer, with a batch ID (SP-10-10)
	reqHash := sha256.Sum256(c.body)
	changed := false
	err := s.update(context.Background(), func(tx storage.Tx) error {
		changed, out = false, nil
		resp = protocol.ResolveResponse{Closed: []string{}}
		if req.BatchID != "" && !(faultsEnabled && fault("resolve-replay-off")) {
			b, ok, err := tx.Batch(c.user, req.BatchID)
			if err != nil {
				return err
			}
			if ok {
				if b.RequestHash != reqHash {
					return protocol.Errorf(protocol.CodeBatchReused, "batch_id %q was used for a different request", req.BatchID)
				}
				out = b.Response
				return nil
			}
		}
		for _, id := range req.Close {
			cf, ok, err := tx.Conflict(c.user, id)
			if err != nil {
				return err
			}
			if !ok || cf.Collection != req.Collection || cf.Entry.ID != req.ID {
				return protocol.Errorf(protocol.CodeNotFound, "no conflict record %q for item %q of collection %q", clip(id), req.ID, req.Collection).WithIDs(id)
			}
		}
		if up := req.Put; up != nil {
			coll, err := tx.Collection(c.user, req.Collection)
			if err != nil {
				return err
			}
			cur, ok, err := coll.Get(req.ID)
			if err != nil {
				return err
			}
			if changelog.Seq(up.Seen) != cur.Seq {
				return protocol.Errorf(protocol.CodeStaleBase, "item %q is at version %d, the resolution saw %d", req.ID, cur.Seq, up.Seen).WithIDs(req.ID)
			}
			fp := fingerprint.Fingerprint(up.FP)
			res := &protocol.UploadResult{ID: req.ID, Status: protocol.StatusUnchanged, Version: uint64(cur.Seq)}
			if !ok || cur.Fingerprint != fp {
				hlc := s.effectiveHLC(up.HLC)
				var content []byte
				if !up.Deleted {
					content = up.Content
				}
				seq, err := coll.Put(changelog.Entry{ID: req.ID, Fingerprint: fp, HLC: hlc, Deleted: up.Deleted, Replica: c.replica}, content)
				if err != nil {
					return err
				}
				res.Status, res.Version, res.HLC = protocol.StatusApplied, uint64(seq), uint64(hlc)
				changed = true
			}
			resp.Result = res
		}
		if changed {
			if err := tx.PutMeta(metaHLC, binary.BigEndian.AppendUint64(nil, uint64(s.clock.Now()))); err != nil {
				return err
			}
		}
		for _, id := range req.Close {
			if err := tx.DeleteConflict(c.user, id); err != nil {
				return err
			}
			resp.Closed = append(resp.Closed, id)
		}
		if req.BatchID == "" || !changed && len(resp.Closed) == 0 {
			return nil // nothing written: nothing to record (SP-6.4-3)
		}
		var err error
		if out, err = protocol.Marshal(&resp); err != nil {
			return err
		}
		now := s.cfg.Now()
		if err := tx.PutBatch(c.user, req.BatchID, storage.Batch{CreatedMillis: uint64(now.UnixMilli()), RequestHash: reqHash, Response: out}); err != nil {
			return err
		}
		cutoff := now.Add(-s.batchRetention).UnixMilli()
		_, err = tx.PruneBatches(uint64(max(cutoff, 0)), s.batchKeep, pruneBatchesPerWrite)
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.hub.notify(c.user)
	}
	if out != nil {
		return rawResponse(out), nil
	}
	return &resp, nil
}
