package conformance

import (
	"fmt"
	"sync/atomic"

	"github.com/syncprint/syncprint/protocol"
)

// setConflictsSeq sets the scripted server's conflicts_seq (SP-10-8).
func (s *scripted) setConflictsSeq(v uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conflictsSeq = v
}

func init() {
	clientCase(Case{
		ID: "client/conflicts/lists-when-seq-moves", Level: MUST,
		Reqs: []string{"SP-10-9", "SP-10-8"},
		Desc: "a client that lists the server's conflict records after its sessions lists them again whenever conflicts_seq moved, came with another epoch or is 0",
		Procedure: `
			The scripted server offers conflicts (an empty list) with conflicts_seq 5. Sync; when
			the client does not POST /v1/conflicts in that session, it keeps no copy of the
			records: SKIP. Then, each time syncing and asserting at least one listing in the
			session: conflicts_seq 6; the client puts an item and the exchange that uploads it
			answers 7 while the collections listing said 6; Info.epoch changes with
			conflicts_seq 7 unchanged; conflicts_seq 0 (twice). A session with an unchanged
			number MAY list (not checked).`,
	}, func(ct *CT) {
		ct.srv.announce(protocol.FeatureConflicts)
		ct.srv.setConflictsSeq(5)
		var bumpOnExchange atomic.Uint64 // when not 0, the conflicts_seq an exchange sets
		ct.srv.setHook(func(r *sRequest) *sResponse {
			switch r.Path {
			case protocol.PathConflicts:
				return okResp(protocol.ConflictsResponse{Conflicts: []protocol.Conflict{}})
			case protocol.PathExchange:
				if v := bumpOnExchange.Load(); v != 0 {
					ct.srv.setConflictsSeq(v)
				}
			}
			return nil
		})
		listings := func() int { return len(ct.srv.requests(protocol.PathConflicts)) }
		syncListed := func() bool {
			n := listings()
			ct.MustSync()
			return listings() > n
		}
		if !syncListed() {
			ct.Skip("the client does not list the server's conflict records after a session (it keeps no copy of them)")
		}
		ct.srv.setConflictsSeq(6)
		ct.Check(syncListed(), "a listing in the session after conflicts_seq moved from 5 to 6", "none")
		ct.MustSync() // 6 again: the client may or may not list
		ct.Put(cColl, "seq-x", "x")
		bumpOnExchange.Store(7)
		ct.Check(syncListed(), "a listing after an exchange answered conflicts_seq 7 while the collections listing said 6", "none")
		bumpOnExchange.Store(0)
		ct.MustSync()
		ct.srv.mu.Lock()
		ct.srv.info.Epoch = "5c417b7ed0000002"
		ct.srv.mu.Unlock()
		ct.Check(syncListed(), "a listing when Info.epoch changed (conflicts_seq still 7)", "none")
		ct.srv.setConflictsSeq(0)
		for i := 1; i <= 2; i++ {
			ct.Check(syncListed(), fmt.Sprintf("a listing in session %d with conflicts_seq 0", i), "none")
		}
	})
}
