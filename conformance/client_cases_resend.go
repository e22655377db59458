package conformance

import (
	"bytes"
	"slices"
	"sync"

	"github.com/syncprint/syncprint/protocol"
)

func init() {
	clientCase(Case{
		ID: "client/sync/resends-unanswered-exchange", Level: SHOULD,
		Reqs: []string{"SP-6.4-5", "SP-6.2-6", "SP-6.4-2"},
		Desc: "an exchange with uploads whose answer did not decode is sent again, same batch ID, before the next session pulls",
		Procedure: `
			The client puts "a" = "x" and syncs. The server applies the first exchange that
			uploads "a" and answers it with a 200 whose body does not decode (SP-4.1-8): the
			client cannot know the outcome. The next sync is answered normally. Assert: in that
			session an exchange with the first one's batch ID and the same uploads comes before
			the first change-info request; the server's "a" was written once (the replayed
			answer is the original one, SP-6.4-2); and a third sync uploads nothing.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "x")
		var once sync.Once
		var first protocol.ExchangeRequest
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathExchange {
				return nil
			}
			x := r.Exchange()
			var resp *sResponse
			for _, u := range x.Uploads {
				if u.ID == "a" {
					once.Do(func() {
						if resp = ct.srv.applyUndecodably(r); resp.Status == 200 {
							first = x
						}
					})
				}
			}
			return resp
		})
		r := ct.Sync()
		ct.srv.setHook(nil)
		if first.BatchID == "" {
			ct.Check(false, "the first sync to upload a", "no exchange uploaded a (sync ok=%v)", r.OK)
			return
		}
		ct.Check(!r.OK, "the first session to end with an error (its answer did not decode)", "it succeeded")
		applied, _ := ct.srv.item(cColl, "a")
		mark := len(ct.srv.requests(""))
		ct.MustSync()
		second := ct.srv.requests("")[mark:]
		resent, pulledAt := -1, -1
		for i, q := range second {
			switch q.Path {
			case protocol.PathExchange:
				if x := q.Exchange(); resent < 0 && x.BatchID == first.BatchID {
					resent = i
					ct.Check(sameUploads(x.Uploads, first.Uploads), "the same uploads under the same batch ID", "uploads %v, first %v", uploadedIDs([]protocol.ExchangeRequest{x}), uploadedIDs([]protocol.ExchangeRequest{first}))
				}
			case protocol.PathChanges:
				if pulledAt < 0 {
					pulledAt = i
				}
			}
		}
		ct.Check(resent >= 0, "the unanswered exchange sent again with its batch ID "+first.BatchID, "no exchange of the second session carries it")
		if resent >= 0 && pulledAt >= 0 {
			ct.Check(resent < pulledAt, "the exchange sent again before the change info is pulled", "sent after the pull (request %d, pull %d)", resent, pulledAt)
		}
		now, _ := ct.srv.item(cColl, "a")
		ct.Equal(`the server's version of "a" (written once)`, applied.Version, now.Version)
		n := len(ct.exchanges())
		ct.MustSync()
		ct.Check(len(uploadedIDs(ct.exchanges()[n:])) == 0, "a third sync uploads nothing", "uploads %v", uploadedIDs(ct.exchanges()[n:]))
	})
}

func init() {
	clientCase(Case{
		ID: "client/sync/stops-when-resend-unanswered", Level: SHOULD,
		Reqs: []string{"SP-6.4-5"},
		Desc: "a session whose kept exchange again gets no usable answer ends before the pull, without planning its uploads anew",
		Procedure: `
			The client puts "a" = "x" and syncs. The server applies the first exchange that
			uploads "a" and answers it with a 200 whose body does not decode. Another device
			then writes "a" = "y" on the server. The next sync's exchange with the first one's
			batch ID again gets an undecodable 200. Assert: that session ends with an error,
			pulls no change info after sending the kept exchange, and sends no other exchange
			uploading "a" (planned anew, the old write would meet "y" as a concurrent edit).
			A third sync, answered normally, ends with "a" = "y" on both sides, the server's
			version unchanged.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "x")
		var firstBatch string
		var mu sync.Mutex
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathExchange {
				return nil
			}
			x := r.Exchange()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case firstBatch == "" && slices.ContainsFunc(x.Uploads, func(u protocol.Upload) bool { return u.ID == "a" }):
				resp := ct.srv.applyUndecodably(r)
				if resp.Status == 200 {
					firstBatch = x.BatchID
				}
				return resp
			case firstBatch != "" && x.BatchID == firstBatch:
				return undecodable()
			}
			return nil
		})
		defer ct.srv.setHook(nil)
		ct.Sync()
		mu.Lock()
		first := firstBatch
		mu.Unlock()
		if first == "" {
			ct.Check(false, "the first sync to upload a", "no exchange uploaded a")
			return
		}
		y := ct.srv.write(cColl, "a", "y", false)

		mark := len(ct.srv.requests(""))
		r := ct.Sync()
		ct.Check(!r.OK, "the second session to end with an error (the kept exchange got no usable answer)", "it succeeded")
		second := ct.srv.requests("")[mark:]
		resent := -1
		for i, q := range second {
			switch q.Path {
			case protocol.PathExchange:
				x := q.Exchange()
				if x.BatchID == first {
					if resent < 0 {
						resent = i
					}
					continue
				}
				if slices.ContainsFunc(x.Uploads, func(u protocol.Upload) bool { return u.ID == "a" }) {
					ct.Check(false, `no other exchange uploading "a" in that session`, "batch %s uploads it", x.BatchID)
				}
			case protocol.PathChanges:
				if resent >= 0 {
					ct.Check(false, "no change info pulled after the kept exchange got no usable answer", "pulled (request %d, the kept exchange %d)", i, resent)
				}
			}
		}
		ct.Check(resent >= 0, "the kept exchange sent again with its batch ID "+first, "not sent in the second session: %s", describeRequests(second))

		ct.srv.setHook(nil)
		ct.MustSync()
		got, found := ct.Get(cColl, "a")
		ct.Check(found && got == "y", `the client's "a" to be "y"`, "%q (found %v)", got, found)
		now, _ := ct.srv.item(cColl, "a")
		ct.Equal(`the server's version of "a"`, y.Version, now.Version)
	})
}

// applyUndecodably answers r as the server would (an exchange is applied
// and its answer recorded under its batch ID) and, when that answer is a
// 200, puts a body that does not decode (SP-4.1-8) in its place: the
// client cannot know the outcome.
func (s *scripted) applyUndecodably(r *sRequest) *sResponse {
	s.mu.Lock()
	a := s.answer(r)
	s.mu.Unlock()
	if a.Status != 200 {
		return a
	}
	return undecodable()
}

// undecodable is a 200 whose body is not msgpack.
func undecodable() *sResponse { return &sResponse{Status: 200, Body: []byte("\xc1 not msgpack")} }

// sameUploads reports whether two upload lists carry the same items with
// the same fingerprints, bases and contents, in the same order.
func sameUploads(a, b []protocol.Upload) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].FP, b[i].FP) || a[i].Base != b[i].Base || !bytes.Equal(a[i].Content, b[i].Content) || a[i].Deleted != b[i].Deleted {
			return false
		}
	}
	return true
}
