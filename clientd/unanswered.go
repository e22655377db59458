package clientd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// Exchanges of unknown outcome (SP-6.4-5).
//
// When an exchange with uploads gets no usable answer (the connection
// failed through every retry, the answer was refused or could not be
// stored, or the server answered internal or unavailable), the server may
// have applied it. Its request is kept in the collection's unanswered/
// bucket, batch ID -> u64be time sent (ms) || the msgpack message, and the
// next session of the collection sends it again, with its batch ID, before
// it pulls: the server answers a batch it applied from its idempotency
// record, and the client takes the acknowledgements. Without this, the next
// session would plan those uploads anew; if another device had written the
// item meanwhile, the old write would meet the newer version as a
// concurrent edit and, under client-wins, be applied a second time.

var bktUnanswered = []byte("unanswered")

// maxUnansweredAge is how long a kept exchange is sent again: SP-6.4-4
// forbids retrying a batch more than 12 hours after it was first sent.
const maxUnansweredAge = 12 * time.Hour

// keepUnanswered records an exchange of unknown outcome, req sent as body:
// the same bytes go again, which the server's idempotency record hashes
// (SP-6.4-2). It is best effort, like markDoubt: without it the uploads
// are planned again. Once kept, the exchange is settled in the sent log; until then the log
// holds it, for the next session to keep.
func (s *session) keepUnanswered(name string, req *protocol.ExchangeRequest, body []byte) {
	if len(req.Uploads) == 0 {
		return // downloads only: nothing was written
	}
	now := uint64(max(s.c.cfg.Now().UnixMilli(), 0))
	epoch := s.info.Epoch
	if len(epoch) > 255 {
		return // not a protocol epoch; without a record the uploads are planned anew
	}
	err := s.c.update(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		b, err := col.b.CreateBucketIfNotExists(bktUnanswered)
		if err != nil {
			return err
		}
		return b.Put([]byte(req.BatchID), encodeKept(now, epoch, body))
	})
	if err != nil {
		// The sent log still holds it: the next session keeps it.
		s.c.cfg.Logger.Warn("could not keep an exchange of unknown outcome", "collection", name, "err", err)
		return
	}
	s.settleSent(req)
}

// encodeKept lays out a kept exchange's value: the time it was first sent
// (ms), the server epoch it was sent under, and the request (decodeKept).
func encodeKept(sentMS uint64, epoch string, body []byte) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(epoch)+len(body)), sentMS)
	v = append(append(v, byte(len(epoch))), epoch...)
	return append(v, body...)
}

// resendUnanswered sends every kept exchange of the collection again and
// applies the acknowledgements of its results. An exchange that gets a
// final answer, or is too old, is forgotten; one that still gets no answer
// is kept for the next session, and the collection's session ends with
// the error, before anything is planned (its uploads are still pending,
// marked in doubt). found says whether the collection had one.
func (s *session) resendUnanswered(name string) (found bool, err error) {
	type kept struct {
		batchID string
		sent    uint64
		epoch   string
		body    []byte
	}
	var ks []kept
	err = s.c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		b := col.b.Bucket(bktUnanswered)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			sent, epoch, body, ok := decodeKept(v)
			if !ok {
				body = nil // undecodable: forgotten below
			}
			ks = append(ks, kept{string(k), sent, epoch, bytes.Clone(body)})
			return nil
		})
	})
	if err != nil || len(ks) == 0 {
		return false, err
	}
	now := uint64(max(s.c.cfg.Now().UnixMilli(), 0))
	for _, k := range ks {
		var req protocol.ExchangeRequest
		switch {
		case now > k.sent+uint64(maxUnansweredAge.Milliseconds()):
			s.c.cfg.Logger.Info("an exchange of unknown outcome is too old to send again; its uploads are planned anew", "collection", name, "batch", k.batchID)
		case k.epoch != s.info.Epoch:
			// Another data set (SP-3-14): the request's base and seen
			// versions number the old one's history, and the server has no
			// record of the batch. Sent again, an upload could pass as a
			// fast-forward over a version that only shares its number.
			s.c.cfg.Logger.Info("an exchange of unknown outcome was sent under another server epoch; its uploads are planned anew", "collection", name, "batch", k.batchID)
		case k.body == nil || protocol.Unmarshal(k.body, &req) != nil:
		default:
			var resp protocol.ExchangeResponse
			callErr := s.c.callRetry(s.ctx, protocol.PathExchange, rawMessage(k.body), &resp)
			if callErr != nil && !definitive(callErr) {
				if s.ctx.Err() != nil {
					return true, s.ctx.Err()
				}
				// Still unknown: it is kept for the next session, and this
				// one ends here. Planned anew, its uploads would meet a
				// version written on top of theirs as a concurrent edit,
				// and under client-wins be applied a second time over it.
				return true, fmt.Errorf("send again an exchange of unknown outcome (batch %s): %w", k.batchID, callErr)
			}
			if callErr == nil {
				if err := s.acknowledge(name, &req, &resp); err != nil {
					return true, err
				}
			}
		}
		err := s.c.update(func(tx *bolt.Tx) error {
			col, err := openColl(tx, name, false)
			if err != nil || col == nil {
				return err
			}
			if b := col.b.Bucket(bktUnanswered); b != nil {
				return b.Delete([]byte(k.batchID))
			}
			return nil
		})
		if err != nil {
			return true, err
		}
	}
	return true, nil
}

// decodeKept splits a kept exchange's value: the time it was first sent,
// the server epoch it was sent under, and the request.
func decodeKept(v []byte) (sent uint64, epoch string, body []byte, ok bool) {
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return 0, "", nil, false
	}
	n := int(v[8])
	return binary.BigEndian.Uint64(v), string(v[9 : 9+n]), v[9+n:], true
}

// acknowledge applies the applied and unchanged results of a kept
// exchange sent again: an item still holding the uploaded version is
// acknowledged (SP-6.5-3); one edited since (pending, a local edit or a
// resolution, storeResolution) becomes based on the version the server
// made of its earlier upload, so the newer edit goes up as a
// fast-forward. Other results change nothing here: the pull and the plan
// that follow settle those items as usual. The answer's items are not
// stored (the pull brings what is new).
func (s *session) acknowledge(name string, req *protocol.ExchangeRequest, resp *protocol.ExchangeResponse) error {
	uploaded := make(map[string]fingerprint.Fingerprint, len(req.Uploads))
	for i := range req.Uploads {
		if fp, err := fingerprint.FromBytes(req.Uploads[i].FP); err == nil {
			uploaded[req.Uploads[i].ID] = fp
		}
	}
	var d counts
	err := s.c.update(func(tx *bolt.Tx) error {
		d = counts{}
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		for i := range resp.Results {
			r := &resp.Results[i]
			fp, ok := uploaded[r.ID]
			if !ok || r.Status != protocol.StatusApplied && r.Status != protocol.StatusUnchanged {
				continue
			}
			rec, err := col.get(r.ID, true)
			if err != nil {
				return err
			}
			v := changelog.Seq(r.Version)
			if rec == nil || v <= rec.Base {
				continue
			}
			if rec.FP == fp && col.isPending(r.ID) {
				rec.Base, rec.Seen = v, max(rec.Seen, v)
				if r.Status == protocol.StatusApplied {
					d.uploaded++
					if r.HLC != 0 {
						rec.HLC = changelog.HLC(r.HLC)
						s.c.clock.Observe(rec.HLC)
					}
					rec.Author = s.self
				}
				if err := col.clearPending(r.ID); err != nil {
					return err
				}
			} else if col.isPending(r.ID) {
				// Edited since: the edit derives from this version.
				rec.Base, rec.Seen = v, max(rec.Seen, v)
			} else {
				// Replaced since by a version the device did not make
				// after the upload: the pull brings the server's version,
				// and the store must not claim to have seen it before.
				continue
			}
			if err := col.put(r.ID, rec); err != nil {
				return err
			}
		}
		return s.c.persistClock(tx)
	})
	if err != nil {
		return fmt.Errorf("acknowledge a resent exchange: %w", err)
	}
	s.merge(name, d)
	return nil
}

// rawMessage is a request body already encoded: callRetry sends it as it
// is (an exchange sent again must carry the same bytes).
type rawMessage []byte

// keepSent moves the exchanges the sent log holds unsettled (a process
// killed before their answers were committed, or a session that ended
// before it could keep them) into the store's kept exchanges, which the
// collections' sessions send again before they plan, and empties the log.
func (c *Client) keepSent() error {
	recs, err := c.sent.unsettled()
	if err != nil || len(recs) == 0 {
		return err
	}
	c.mu.Lock()
	replica := c.replica
	c.mu.Unlock()
	dec := c.dec
	bodies := make([][]byte, len(recs))
	for i, r := range recs {
		if r.replica != string(replica) {
			// Written beside another store that had this path (or before
			// a reset): not this store's exchange.
			c.cfg.Logger.Warn("the sent log holds an exchange of another replica; it is dropped", "collection", r.collection, "batch", r.batchID, "replica", r.replica)
			continue
		}
		bodies[i] = r.wire
		if r.coding == "" {
			continue
		}
		if dec == nil {
			if _, dec, err = sharedCoders(); err != nil {
				return fmt.Errorf("keep sent exchanges: %w", err)
			}
		}
		if bodies[i], err = dec.Decode(r.coding, r.wire); err != nil {
			// Not what this client wrote: the uploads are planned anew.
			c.cfg.Logger.Warn("an exchange in the sent log does not decode; its uploads are planned anew", "collection", r.collection, "batch", r.batchID, "err", err)
			bodies[i] = nil
		}
	}
	err = c.update(func(tx *bolt.Tx) error {
		for i, r := range recs {
			if bodies[i] == nil {
				continue
			}
			col, err := openColl(tx, r.collection, false)
			if err != nil {
				return err
			}
			if col == nil {
				continue // no such collection here: nothing of it is pending
			}
			b, err := col.b.CreateBucketIfNotExists(bktUnanswered)
			if err != nil {
				return err
			}
			if b.Get([]byte(r.batchID)) != nil {
				continue // kept already, with the time it was first sent
			}
			if err := b.Put([]byte(r.batchID), encodeKept(r.sentMS, r.epoch, bodies[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keep sent exchanges: %w", err)
	}
	return c.sent.reset()
}

// settleSent records in the sent log that an exchange needs no resending.
// A failure only costs the next session one exchange sent again.
func (s *session) settleSent(req *protocol.ExchangeRequest) {
	if len(req.Uploads) == 0 {
		return
	}
	if err := s.c.sent.settle(req.BatchID); err != nil {
		s.c.cfg.Logger.Warn("could not settle an exchange in the sent log; the next session sends it again", "batch", req.BatchID, "err", err)
	}
}
