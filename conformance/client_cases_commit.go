package conformance

import (
	"sync"

	"github.com/syncprint/syncprint/protocol"
)

// Client-mode cases of the commit rules (6.5) and the algorithm (6.6) that
// the text once left ambiguous (SPEC-DEFECTS D2, D3, D5).

func init() {
	clientCase(Case{
		ID: "client/sync/conflict-without-server-item-is-downloaded", Level: MUST,
		Reqs: []string{"SP-6.5-3", "SP-6.6-1"},
		Desc: "a conflict result whose server item the server left out of items is downloaded in the next round, not uploaded again",
		Procedure: `
			The collection's rule is manual. The server holds "x" = "base"; the client syncs it;
			another device writes "theirs"; the client edits "x" = "mine" and syncs. The server
			answers the upload with status conflict (current = "theirs") but leaves "theirs" out
			of items (a server fault). Assert: in that session the client uploads x exactly once
			(its version is in the server's record; another upload would make another record),
			downloads x in a later exchange, and ends holding "theirs", not pending.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Rules = map[string]protocol.Rule{cColl: protocol.Manual}
		ct.srv.mu.Unlock()
		ct.srv.write(cColl, "x", "base", false)
		ct.MustSync()
		ct.srv.write(cColl, "x", "theirs", false)
		ct.Put(cColl, "x", "mine")
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathExchange {
				return nil
			}
			ct.srv.mu.Lock()
			a := ct.srv.answer(r) // the scripted server decides server-wins: rejected
			ct.srv.mu.Unlock()
			var x protocol.ExchangeResponse
			if a.Status != 200 || protocol.Unmarshal(a.Body, &x) != nil {
				return a
			}
			refused := map[string]bool{}
			for i := range x.Results {
				if res := &x.Results[i]; res.Status == protocol.StatusRejected {
					res.Status, res.Conflict = protocol.StatusConflict, "conform-record-1"
					refused[res.ID] = true
				}
			}
			items := []protocol.Item{}
			for _, it := range x.Items {
				if !refused[it.ID] {
					items = append(items, it)
				}
			}
			x.Items = items
			return okResp(x)
		})
		n := len(ct.exchanges())
		ct.Sync()
		xs := ct.exchanges()[n:]
		ups := 0
		for _, id := range uploadedIDs(xs) {
			if id == "x" {
				ups++
			}
		}
		ct.Check(ups == 1, "x uploaded exactly once in the session", "%d uploads of x", ups)
		downloaded := false
		for i, x := range xs {
			downloaded = downloaded || i > 0 && contains(x.Downloads, "x")
		}
		ct.Check(downloaded, "x downloaded in a later exchange", "%s", brief(xs))
		got, _ := ct.Get(cColl, "x")
		ct.Equal("the client's x", "theirs", got)
		for _, it := range ct.Dump(cColl).Items {
			if it.ID == "x" {
				ct.Check(!it.Pending, "x not pending (its version is in the server's record)", "pending")
			}
		}
	})

	clientCase(Case{
		ID: "client/sync/stores-cursor-when-nothing-can-be-sent", Level: MUST,
		Reqs: []string{"SP-6.5-6", "SP-6.6-1", "SP-3-13"},
		Desc: "a round whose only other step is an upload that cannot be sent still stores the cursor once every pulled entry is handled",
		Procedure: `
			The scripted server announces max_body_bytes 3000. It holds "same" = "A" (another
			device); the client puts "same" = "A" (equal content) and "big" (5000 bytes, too large
			for any body), then syncs: the pulled entry of "same" is handled without an exchange
			(a nothing step) and "big" cannot be sent. Sync again. Assert: the second session
			pulls from the cursor past "same" (the first one stored it), not from the old cursor
			("" or version 0).`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Limits.MaxBodyBytes = 3000
		ct.srv.mu.Unlock()
		ct.srv.write(cColl, "same", "A", false)
		ct.Put(cColl, "same", "A")
		ct.Put(cColl, "big", string(make([]byte, 5000)))
		ct.Sync()
		n := len(ct.srv.requests(protocol.PathChanges))
		ct.Sync()
		pulls := ct.srv.requests(protocol.PathChanges)[n:]
		var first protocol.ChangesRequest
		if len(pulls) > 0 {
			_ = protocol.Unmarshal(pulls[0].Body, &first)
		}
		ct.Check(len(pulls) > 0 && first.Collection == cColl && first.Cursor == sCursor(cColl, 1),
			"the second session pulls from the cursor of version 1", "cursor %q", first.Cursor)
	})

	clientCase(Case{
		ID: "client/sync/expired-cursor-keeps-stored-hlc", Level: MUST,
		Reqs: []string{"SP-6.6-4", "SP-5-4"},
		Desc: "items marked pending after cursor_expired are uploaded with the HLC they had, not a new one",
		Procedure: `
			The client puts "a" and syncs (the server stores it with the client's HLC h). The
			server's data set is then replaced by an empty one of another epoch: change-info
			requests with the old cursor are answered cursor_expired. Sync. Assert: the client pulls again from "" and uploads "a" with base 0, seen 0 and HLC h
			(marking an item pending again is not a new local change: a fresh HLC would let stale
			copies win under latest-wins).`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "kept")
		ct.MustSync()
		it, ok := ct.srv.item(cColl, "a")
		ct.Check(ok, "a on the server", "missing")
		var once sync.Once
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathChanges {
				return nil
			}
			var req protocol.ChangesRequest
			if protocol.Unmarshal(r.Body, &req) == nil && req.Cursor != "" {
				return errResp(protocol.CodeCursorExpired, "another epoch")
			}
			once.Do(func() { // the new data set: empty
				ct.srv.mu.Lock()
				ct.srv.colls = map[string]*sColl{}
				ct.srv.mu.Unlock()
			})
			return nil
		})
		n := len(ct.exchanges())
		ct.MustSync()
		var up *protocol.Upload
		for _, x := range ct.exchanges()[n:] {
			for i := range x.Uploads {
				if x.Uploads[i].ID == "a" {
					up = &x.Uploads[i]
				}
			}
		}
		ct.Check(up != nil, "a uploaded again", "not uploaded")
		if up != nil {
			ct.Check(up.Base == 0 && up.Seen == 0, "base 0 and seen 0", "%s", brief(*up))
			ct.Equal("the upload's HLC (the one a had)", it.HLC, up.HLC)
		}
	})
}
