package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/syncprint/syncprint/protocol"
)

// Exchange: the empty exchange, downloads, tombstones, idempotency,
// fingerprints, cursors, the skew rule, atomicity and concurrency.

func init() {
	serverCase(Case{
		ID: "server/exchange/empty-exchange", Level: MUST,
		Reqs: []string{"SP-6.3-1", "SP-6.3-9"},
		Desc: "an exchange without uploads and downloads is valid and returns the head and a cursor",
		Procedure: `
			Write 2 items to a fresh collection; take the cursor of a full read. Exchange with
			no uploads and no downloads and that cursor. Assert: 200, head 2, results, items,
			missing and deferred empty, and a cursor (the head's; a read from it is empty).`,
	}, func(t *T) {
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "1")
		t.Put(UserA, ns, "b", 0, 0, "2")
		_, cur, _ := t.PullAll(UserA, ns.Collection, "")
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: cur})
		t.Equal("head", uint64(2), resp.Head)
		t.Check(len(resp.Results)+len(resp.Items)+len(resp.Missing)+len(resp.Deferred) == 0, "nothing in results, items, missing, deferred", "%s", brief(resp))
		t.Check(resp.Cursor != "", "a cursor", `""`)
		p := t.Changes(UserA, ns.Collection, resp.Cursor, 0)
		t.Equal("entries after the returned cursor", 0, len(p.Changes))
	})

	serverCase(Case{
		ID: "server/exchange/downloads-and-missing", Level: MUST,
		Reqs: []string{"SP-6.3-7", "SP-6.3-1"},
		Desc: "downloads return held items (tombstones with empty content) in request order and list the others in missing",
		Procedure: `
			Write a ("alpha"), b (deleted after creation) and c to a fresh collection. Download
			[c, x, a, b, y]. Assert: items c, a, b in that order with version, fp, replica and
			content (b deleted with empty content), missing [x, y], deferred empty.`,
	}, func(t *T) {
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "alpha")
		vb := t.Put(UserA, ns, "b", 0, 0, "beta")
		t.WantStatus(t.Upload(UserA, ns, Del("b", vb, vb, t.HLC(0)))[0], protocol.StatusApplied)
		t.Put(UserA, ns, "c", 0, 0, "gamma")
		resp := t.Download(UserA, ns, "c", "x", "a", "b", "y")
		var got []string
		for _, it := range resp.Items {
			got = append(got, it.ID)
			t.Check(bytes.Equal(it.FP, FP(it.ID, it.Deleted, it.Content)), fmt.Sprintf("items[%q].fp the fingerprint of its content", it.ID), "fp %x", it.FP)
			t.Equal("replica of "+it.ID, t.info.Replica, it.Replica)
		}
		t.Equal("IDs in items", []string{"c", "a", "b"}, got)
		t.Check(string(resp.Items[1].Content) == "alpha", `a's content "alpha"`, "%q", resp.Items[1].Content)
		b := resp.Items[2]
		t.Check(b.Deleted && len(b.Content) == 0 && b.Version == 3, "b a tombstone (version 3) with empty content", "%s", brief(b))
		t.Equal("missing", []string{"x", "y"}, resp.Missing)
		t.Equal("deferred", []string(nil), resp.Deferred)
	})

	serverCase(Case{
		ID: "server/exchange/upload-then-download-same-request", Level: MUST,
		Reqs: []string{"SP-6.3-7", "SP-6.3-4", "SP-6.3-8"},
		Desc: "downloads are answered from the state after the request's uploads; an ID appears once in items",
		Procedure: `
			Write "a" (v1). One exchange uploads a new "n" and an edit of "a" (based on v1) and
			downloads [n, a]. Assert: both applied; items hold n and a at their new versions
			with the uploaded contents. Then, when server-wins is announced, an upload that is
			rejected while its ID is also requested appears exactly once in items.`,
	}, func(t *T) {
		ns := t.NewCollection()
		v1 := t.Put(UserA, ns, "a", 0, 0, "old")
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection,
			Uploads:   []protocol.Upload{Up("n", 0, 0, t.HLC(0), "new"), Up("a", v1, v1, t.HLC(0), "edited")},
			Downloads: []string{"n", "a"}})
		for _, r := range resp.Results {
			t.WantStatus(r, protocol.StatusApplied)
		}
		t.Equal("IDs in items", []string{"n", "a"}, itemIDs(resp.Items))
		t.Check(string(resp.Items[0].Content) == "new" && resp.Items[0].Version == resp.Results[0].Version, "n at its new version", "%s", brief(resp.Items[0]))
		t.Check(string(resp.Items[1].Content) == "edited" && resp.Items[1].Version == resp.Results[1].Version, "a at its new version", "%s", brief(resp.Items[1]))
		if ns2, ok := t.tryWithRule(protocol.ServerWins); ok {
			id := ns2.ID("rej")
			w1 := t.Put(UserA, ns2, id, 0, 0, "base")
			w2 := t.Put(UserA, ns2, id, w1, w1, "server")
			resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns2.Collection,
				Uploads: []protocol.Upload{Up(id, w1, w2, t.HLC(-30000), "client")}, Downloads: []string{id}})
			t.WantStatus(resp.Results[0], protocol.StatusRejected)
			t.Equal("IDs in items (a rejected upload also requested appears once)", []string{id}, itemIDs(resp.Items))
		}
	})

	serverCase(Case{
		ID: "server/exchange/deferred-byte-budget", Level: MUST,
		Reqs: []string{"SP-6.3-7", "SP-2-9"},
		Desc: "downloads beyond max_batch_bytes are deferred in request order; the first existing item always comes",
		Procedure: `
			With B = max_batch_bytes and M = max_item_bytes, write k = floor(B/M)+1 items of M
			bytes (skipped when that is more than 64 MiB). Download [missing-1, all k items,
			missing-2]. Assert: items hold a prefix of the k items whose total content is at most
			B (at least the first), every later requested ID (missing-2 included) is in deferred
			in request order, missing = [missing-1].`,
	}, func(t *T) {
		l := t.info.Limits
		k := l.MaxBatchBytes/l.MaxItemBytes + 1
		if int64(k)*int64(l.MaxItemBytes) > 64<<20 {
			t.Skip("would write %d items of %d bytes (more than 64 MiB)", k, l.MaxItemBytes)
		}
		ns := t.NewCollection()
		content := strings.Repeat("z", l.MaxItemBytes)
		var all []string
		for i := 0; i < k; {
			var ups []protocol.Upload
			size := 0
			for ; i < k && len(ups) < l.MaxBatchItems && size+l.MaxItemBytes <= l.MaxBatchBytes && size+l.MaxItemBytes+4096 < l.MaxBodyBytes; i++ {
				id := fmt.Sprintf("big-%03d", i)
				ups = append(ups, Up(id, 0, 0, t.HLC(0), content))
				all = append(all, id)
				size += l.MaxItemBytes
			}
			for _, r := range t.Upload(UserA, ns, ups...) {
				t.WantStatus(r, protocol.StatusApplied)
			}
		}
		req := append(append([]string{"missing-1"}, all...), "missing-2")
		resp := t.Download(UserA, ns, req...)
		got := itemIDs(resp.Items)
		total := 0
		for _, it := range resp.Items {
			total += len(it.Content)
		}
		t.Check(len(got) >= 1 && total <= l.MaxBatchBytes, fmt.Sprintf("at least one item and at most %d content bytes", l.MaxBatchBytes), "%d items, %d bytes", len(got), total)
		t.Equal("items (a prefix of the requested items)", all[:len(got)], got)
		t.Equal("deferred (the rest, in request order)", append(append([]string(nil), all[len(got):]...), "missing-2"), resp.Deferred)
		t.Equal("missing", []string{"missing-1"}, resp.Missing)
	})

	serverCase(Case{
		ID: "server/exchange/tombstones-kept", Level: MUST,
		Reqs: []string{"SP-2-7", "SP-2-3", "SP-4.2-4", "SP-6-1"},
		Desc: "a deletion is a listed change with the tombstone fingerprint, and the collection keeps counting it",
		Procedure: `
			Write "t" (v1), delete it (v2), write "u" (v3). Read the change info from "" and from
			the cursor of v1. Assert: t is listed with version 2, deleted true, size 0 and fp =
			the tombstone fingerprint of its ID (the same for any deletion of that ID);
			/v1/collections lists the collection with head 3.`,
	}, func(t *T) {
		ns := t.NewCollection()
		v1 := t.Put(UserA, ns, "t", 0, 0, "content")
		c1 := t.Changes(UserA, ns.Collection, "", 0).Cursor
		del := Del("t", v1, v1, t.HLC(0))
		t.WantStatus(t.Upload(UserA, ns, del)[0], protocol.StatusApplied)
		t.Put(UserA, ns, "u", 0, 0, "x")
		for _, from := range []string{"", c1} {
			p := t.Changes(UserA, ns.Collection, from, 0)
			var e *protocol.ChangeInfo
			for i := range p.Changes {
				if p.Changes[i].ID == "t" {
					e = &p.Changes[i]
				}
			}
			t.Check(e != nil, "the deletion listed in the change info", "not listed from cursor %q", from)
			t.Check(e.Version == 2 && e.Deleted && e.Size == 0 && bytes.Equal(e.FP, FP("t", true, nil)), "t: version 2, deleted, size 0, the tombstone fingerprint", "%s", brief(*e))
		}
		var cols protocol.CollectionsResponse
		t.OK(t.Do(Request{Path: protocol.PathCollections, As: UserA, Body: []byte{0x80}}), &cols)
		found := false
		for _, c := range cols.Collections {
			if c.Name == ns.Collection {
				found = true
				t.Equal("head", uint64(3), c.Head)
			}
		}
		t.Check(found, "the collection listed", "not listed")
	})

	serverCase(Case{
		ID: "server/exchange/idempotent-retry", Level: MUST,
		Reqs: []string{"SP-6.4-2", "SP-6.4-3", "SP-6.3-3"},
		Desc: "the same exchange body with the same batch ID is answered with the recorded response and applied once",
		Procedure: `
			Send an exchange (two new items, one download) with batch ID X; send the identical
			bytes again. Assert: the second answer is 200 with byte-identical body; the head did
			not move (2, not 4) and the items are at versions 1 and 2. Then, after the second
			device (C, else A) wrote another item, the retry still gets the recorded bytes.`,
	}, func(t *T) {
		ns := t.NewCollection()
		body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
			Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "one"), Up("b", 0, 0, t.HLC(0), "two")}, Downloads: []string{"a"}})
		r1 := t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body})
		t.OK(r1, &protocol.ExchangeResponse{})
		r2 := t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body})
		t.OK(r2, nil)
		t.Check(bytes.Equal(r1.Body, r2.Body), "the recorded response bytes verbatim", "a different body (%d vs %d bytes)", len(r2.Body), len(r1.Body))
		t.Equal("head after the retry", uint64(2), t.Head(UserA, ns.Collection))
		t.Put(t.otherDevice(), ns, "c", 0, 0, "three")
		r3 := t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body})
		t.OK(r3, nil)
		t.Check(bytes.Equal(r1.Body, r3.Body), "the recorded response bytes verbatim after another write", "a different body")
		t.Equal("head", uint64(3), t.Head(UserA, ns.Collection))
	})

	serverCase(Case{
		ID: "server/exchange/batch-id-reused", Level: MUST,
		Reqs: []string{"SP-6.4-2", "SP-9-3"},
		Desc: "a batch ID sent again with a different body is batch_id_reused and changes nothing",
		Procedure: `
			Exchange with batch ID X uploading "a". Then batch ID X with an upload of "b".
			Assert: batch_id_reused (409); b does not exist; head still 1.`,
	}, func(t *T) {
		ns := t.NewCollection()
		bid := NewBatchID()
		t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: bid, Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "1")}})
		r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: bid, Uploads: []protocol.Upload{Up("b", 0, 0, t.HLC(0), "2")}})
		t.WantError(r, protocol.CodeBatchReused)
		t.Unchanged(UserA, ns, "b", nil)
		t.SameHead(ns, 1)
	})

	serverCase(Case{
		ID: "server/exchange/error-not-recorded", Level: MUST,
		Reqs: []string{"SP-6.4-3", "SP-9-2"},
		Desc: "a failed exchange leaves no idempotency record: its batch ID can be used again",
		Procedure: `
			Exchange with batch ID X and an upload with a wrong fingerprint: fingerprint_mismatch.
			Then batch ID X with a correct upload. Assert: 200, applied.`,
	}, func(t *T) {
		ns := t.NewCollection()
		bid := NewBatchID()
		bad := Up("a", 0, 0, t.HLC(0), "1")
		bad.FP = FP("a", false, []byte("other"))
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: bid, Uploads: []protocol.Upload{bad}}), protocol.CodeFingerprintMismatch)
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: bid, Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "1")}})
		t.WantStatus(resp.Results[0], protocol.StatusApplied)
	})

	serverCase(Case{
		ID: "server/exchange/batch-id-per-user", Level: MUST,
		Reqs: []string{"SP-6.4-2"},
		Desc: "idempotency records are kept per user: another user's batch ID does not replay",
		Procedure: `
			User A exchanges with batch ID X (uploading "a" to collection N). User B sends the
			identical body. Assert: B's upload is applied in B's namespace (B's response is not
			A's recorded one: no batch_id_reused, B's result is applied at B's version 1).`,
	}, func(t *T) {
		t.Need(UserB)
		ns := t.NewCollection()
		body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "1")}})
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body}), nil)
		var resp protocol.ExchangeResponse
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserB, Body: body}), &resp)
		t.WantStatus(resp.Results[0], protocol.StatusApplied)
		it, ok := t.Current(UserB, ns, "a")
		t.Check(ok && it.Replica == t.GetInfo(UserB).Replica, "B's item, written by B", "%s", brief(it))
	})

	serverCase(Case{
		ID: "server/exchange/fingerprint-mismatch", Level: MUST,
		Reqs: []string{"SP-4.2-5", "SP-6.3-2", "SP-9-7", "SP-6.3-3"},
		Desc: "uploads whose fp is not their fingerprint are fingerprint_mismatch listing every one, and nothing is applied",
		Procedure: `
			One exchange uploads: good "a"; "b" with the fingerprint of other content; good "c";
			"d" (deletion) with the fingerprint of a non-deleted empty item; "e" with the
			fingerprint of another ID. Assert: fingerprint_mismatch (422), ids [b, d, e]; none of
			a..e exists afterwards; head 0.`,
	}, func(t *T) {
		ns := t.NewCollection()
		b := Up("b", 0, 0, t.HLC(0), "bee")
		b.FP = FP("b", false, []byte("bee!"))
		d := Del("d", 0, 0, t.HLC(0))
		d.FP = FP("d", false, nil)
		e := Up("e", 0, 0, t.HLC(0), "e")
		e.FP = FP("E", false, []byte("e"))
		r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
			Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "a"), b, Up("c", 0, 0, t.HLC(0), "c"), d, e}})
		t.WantErrorIDs(r, protocol.CodeFingerprintMismatch, "b", "d", "e")
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			t.Unchanged(UserA, ns, id, nil)
		}
		t.SameHead(ns, 0)
	})

	serverCase(Case{
		ID: "server/exchange/cursor-advance", Level: MUST,
		Reqs: []string{"SP-6.3-9"},
		Desc: "an exchange returns the new head's cursor only when the request's cursor was at the head, else the request's cursor unchanged",
		Procedure: `
			Write "a" (head 1); take the cursor C1 at head 1 and C0 of version 0. Exchange with
			C1 uploading "b": the response cursor reads on with nothing new (the head's). Exchange
			with C0 (behind the head) uploading "c": the response cursor is C0 byte for byte.
			Exchange with "garbage" and with "": returned unchanged, no error.`,
	}, func(t *T) {
		ns := t.NewCollection()
		c0 := t.Changes(UserA, ns.Collection, "", 0).Cursor
		t.Put(UserA, ns, "a", 0, 0, "1")
		_, c1, _ := t.PullAll(UserA, ns.Collection, "")
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: c1, Uploads: []protocol.Upload{Up("b", 0, 0, t.HLC(0), "2")}})
		t.Equal("head", uint64(2), resp.Head)
		p := t.Changes(UserA, ns.Collection, resp.Cursor, 0)
		t.Check(len(p.Changes) == 0 && p.Head == 2, "the returned cursor is the cursor of the new head (nothing after it)", "%d entries after it", len(p.Changes))
		resp = t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: c0, Uploads: []protocol.Upload{Up("c", 0, 0, t.HLC(0), "3")}})
		t.Equal("cursor returned for a cursor behind the head", c0, resp.Cursor)
		for _, c := range []string{"garbage", ""} {
			resp = t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: c})
			t.Equal("cursor returned for an invalid cursor", c, resp.Cursor)
		}
	})

	serverCase(Case{
		ID: "server/exchange/skew-clamp", Level: MUST,
		Reqs: []string{"SP-7-6", "SP-5-5", "SP-12-3", "SP-5-3"},
		Desc: "an upload stamped beyond max_skew_ms in the future is clamped to the server's clock; the server observes it",
		Procedure: `
			Upload "far" with an HLC one day plus max_skew_ms after Info.server_time. Assert:
			applied with a result hlc below the uploaded one and at least the server_time read
			before; the change info carries the same effective hlc. Upload "near" stamped 1 s
			below the current server_time: its hlc is kept. Then Info.server_time is greater than
			both effective HLCs (the server's clock observed them).`,
	}, func(t *T) {
		ns := t.NewCollection()
		before := t.GetInfo(UserA).ServerTime
		far := (before>>16 + uint64(t.info.MaxSkewMillis) + 86_400_000) << 16
		res := t.Upload(UserA, ns, Up("far", 0, 0, far, "x"))[0]
		t.WantStatus(res, protocol.StatusApplied)
		t.Check(res.HLC < far && res.HLC >= before, fmt.Sprintf("an effective hlc clamped to the server clock (>= %d, < %d)", before, far), "hlc %d", res.HLC)
		p := t.Changes(UserA, ns.Collection, "", 0)
		t.Equal("hlc in the change info", res.HLC, p.Changes[0].HLC)
		now := t.GetInfo(UserA).ServerTime
		near := now - 1000<<16
		res2 := t.Upload(UserA, ns, Up("near", 0, 0, near, "y"))[0]
		t.Equal("effective hlc of an upload within the skew", near, res2.HLC)
		after := t.GetInfo(UserA).ServerTime
		t.Check(after > res.HLC && after > res2.HLC, "server_time after both effective HLCs", "server_time %d, hlcs %d, %d", after, res.HLC, res2.HLC)
	})

	serverCase(Case{
		ID: "server/exchange/server-observes-hlc", Level: MUST,
		Reqs: []string{"SP-5-3", "SP-5-5"},
		Desc: "the server's clock observes the effective HLC of every applied upload",
		Procedure: `
			Upload an item stamped max_skew_ms/2 after Info.server_time (not clamped on a server
			whose clock agrees with its server_time). Assert: the effective HLC returned is
			stored in the change info, and the next Info.server_time is greater than it.`,
	}, func(t *T) {
		ns := t.NewCollection()
		h := t.GetInfo(UserA).ServerTime + uint64(t.info.MaxSkewMillis/2)<<16
		res := t.Upload(UserA, ns, Up("x", 0, 0, h, "x"))[0]
		t.WantStatus(res, protocol.StatusApplied)
		if res.HLC != h {
			t.Logf("the upload was clamped (%d instead of %d)", res.HLC, h)
		}
		after := t.GetInfo(UserA).ServerTime
		t.Check(after > res.HLC, fmt.Sprintf("server_time > %d, the effective HLC", res.HLC), "server_time %d", after)
	})

	serverCase(Case{
		ID: "server/exchange/concurrent-exchanges-serialised", Level: MUST,
		Reqs: []string{"SP-6.3-3", "SP-2-6"},
		Desc: "concurrent exchanges on one collection behave as if one after the other: versions are unique and gapless",
		Procedure: `
			8 concurrent exchanges (from A and, when given, C) each upload 5 new items to one
			fresh collection. Then 8 concurrent edits of one item, each with seen = its current
			version. Assert: all 40 applied with distinct versions 1..40, head 40; of the 8
			edits exactly one is applied and 7 are stale.`,
	}, func(t *T) {
		ns := t.NewCollection()
		per := min(5, t.info.Limits.MaxBatchItems)
		total := uint64(8 * per)
		var wg sync.WaitGroup
		var mu sync.Mutex // guards versions and fails
		versions := map[uint64]string{}
		var fails []string
		for g := 0; g < 8; g++ {
			who := UserA
			if g%2 == 1 {
				who = t.otherDevice()
			}
			ups := make([]protocol.Upload, per)
			for i := range ups {
				ups[i] = Up(fmt.Sprintf("g%d-%d", g, i), 0, 0, t.HLC(0), "x")
			}
			wg.Add(1)
			go func(who Who, ups []protocol.Upload) {
				defer wg.Done()
				r, err := t.TryDo(Request{Path: protocol.PathExchange, As: who, Body: t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: ups})})
				mu.Lock()
				defer mu.Unlock()
				if err != nil || r.Status != 200 {
					fails = append(fails, fmt.Sprintf("%v %v", err, r))
					return
				}
				var resp protocol.ExchangeResponse
				if err := protocol.Unmarshal(r.Body, &resp); err != nil {
					fails = append(fails, err.Error())
					return
				}
				for _, res := range resp.Results {
					if res.Status != protocol.StatusApplied {
						fails = append(fails, fmt.Sprintf("%s %s", res.ID, res.Status))
					}
					if prev, dup := versions[res.Version]; dup {
						fails = append(fails, fmt.Sprintf("version %d given to %s and %s", res.Version, prev, res.ID))
					}
					versions[res.Version] = res.ID
				}
			}(who, ups)
		}
		wg.Wait()
		t.Check(len(fails) == 0, "every concurrent upload applied with a unique version", "%v", fails)
		for v := uint64(1); v <= total; v++ {
			_, ok := versions[v]
			t.Check(ok, fmt.Sprintf("versions 1..%d without gaps", total), "version %d missing", v)
		}
		t.Equal("head", total, t.Head(UserA, ns.Collection))
		// Eight concurrent edits of one item based on its current version.
		v := t.Put(UserA, ns, "hot", 0, 0, "0")
		statuses := map[protocol.UploadStatus]int{}
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				r, err := t.TryDo(Request{Path: protocol.PathExchange, As: UserA, Body: t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
					Uploads: []protocol.Upload{Up("hot", v, v, t.HLC(0), fmt.Sprint("edit ", g))}})})
				mu.Lock()
				defer mu.Unlock()
				var resp protocol.ExchangeResponse
				if err != nil || r.Status != 200 || protocol.Unmarshal(r.Body, &resp) != nil || len(resp.Results) != 1 {
					statuses["error"]++
					return
				}
				statuses[resp.Results[0].Status]++
			}(g)
		}
		wg.Wait()
		t.Check(statuses[protocol.StatusApplied] == 1 && statuses[protocol.StatusStale] == 7, "exactly one of 8 racing edits applied, 7 stale", "%v", statuses)
	})
}

func itemIDs(items []protocol.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
