package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/syncprint/syncprint/protocol"
)

// Limits announced in the handshake, enforced with their codes.

func init() {
	serverCase(Case{
		ID: "server/limits/too-many-uploads-and-downloads", Level: MUST,
		Reqs: []string{"SP-2-9", "SP-6.3-2", "SP-9-3"},
		Desc: "more uploads than max_batch_items or more downloads than max_ids is too_many_items; exactly the limit is accepted",
		Procedure: `
			Exchange with max_batch_items+1 tiny uploads: too_many_items (413), nothing applied.
			With max_ids+1 downloads: too_many_items. With exactly max_batch_items uploads and
			max_ids downloads: 200 (skipped when the limits are over 20000).`,
	}, func(t *T) {
		l := t.info.Limits
		if l.MaxBatchItems > 20000 || l.MaxIDs > 20000 {
			t.Skip("limits too large to exercise (max_batch_items %d, max_ids %d)", l.MaxBatchItems, l.MaxIDs)
		}
		ns := t.NewCollection()
		ups := make([]protocol.Upload, l.MaxBatchItems+1)
		for i := range ups {
			ups[i] = Up(fmt.Sprintf("u%05d", i), 0, 0, t.HLC(0), "")
		}
		downs := make([]string, l.MaxIDs+1)
		for i := range downs {
			downs[i] = fmt.Sprintf("d%05d", i)
		}
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: ups}), protocol.CodeTooManyItems)
		t.SameHead(ns, 0)
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Downloads: downs}), protocol.CodeTooManyItems)
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: ups[:l.MaxBatchItems], Downloads: downs[:l.MaxIDs]})
		t.Equal("head after max_batch_items uploads", uint64(l.MaxBatchItems), resp.Head)
	})

	serverCase(Case{
		ID: "server/limits/item-too-large", Level: MUST,
		Reqs: []string{"SP-2-9", "SP-2-3", "SP-6.3-2", "SP-9-7"},
		Desc: "content over max_item_bytes is item_too_large listing every such upload; exactly the limit is accepted",
		Procedure: `
			Exchange uploading "a" (max_item_bytes+1 bytes), "ok" (small), "b" (max_item_bytes+7).
			Assert: item_too_large (413), ids [a, b]; nothing applied. Then "edge" with exactly
			max_item_bytes bytes: applied, and downloaded intact.`,
	}, func(t *T) {
		l := t.info.Limits
		if l.MaxItemBytes > 8<<20 {
			t.Skip("max_item_bytes %d is over 8 MiB", l.MaxItemBytes)
		}
		ns := t.NewCollection()
		r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{
			Up("a", 0, 0, t.HLC(0), strings.Repeat("a", l.MaxItemBytes+1)), Up("ok", 0, 0, t.HLC(0), "ok"), Up("b", 0, 0, t.HLC(0), strings.Repeat("b", l.MaxItemBytes+7))}})
		t.WantErrorIDs(r, protocol.CodeItemTooLarge, "a", "b")
		t.SameHead(ns, 0)
		edge := strings.Repeat("e", l.MaxItemBytes)
		t.Put(UserA, ns, "edge", 0, 0, edge)
		it, _ := t.Current(UserA, ns, "edge")
		t.Check(string(it.Content) == edge, "the edge item downloaded intact", "%d bytes", len(it.Content))
	})

	serverCase(Case{
		ID: "server/limits/batch-bytes", Level: MUST,
		Reqs: []string{"SP-2-9", "SP-6.3-2", "SP-9-3"},
		Desc: "upload content over max_batch_bytes in one exchange is payload_too_large and applies nothing",
		Procedure: `
			Upload ceil(max_batch_bytes/max_item_bytes)+1 items of max_item_bytes (when the body
			stays under max_body_bytes and 64 MiB; else skipped), the last with a wrong fp.
			Assert: payload_too_large (413), not fingerprint_mismatch (step 8 comes before step 9);
			nothing applied.`,
	}, func(t *T) {
		l := t.info.Limits
		n := l.MaxBatchBytes/l.MaxItemBytes + 1
		if n > l.MaxBatchItems || n*l.MaxItemBytes+n*512 >= l.MaxBodyBytes || n*l.MaxItemBytes > 64<<20 {
			t.Skip("cannot exceed max_batch_bytes (%d) within max_body_bytes (%d) with items of max_item_bytes (%d)", l.MaxBatchBytes, l.MaxBodyBytes, l.MaxItemBytes)
		}
		ns := t.NewCollection()
		content := strings.Repeat("p", l.MaxItemBytes)
		ups := make([]protocol.Upload, n)
		for i := range ups {
			ups[i] = Up(fmt.Sprintf("p%d", i), 0, 0, t.HLC(0), content)
		}
		ups[n-1].FP = FP("wrong", false, nil)
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: ups}), protocol.CodePayloadTooLarge)
		t.SameHead(ns, 0)
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/limits/body-bytes", Level: MUST,
		Reqs: []string{"SP-2-9", "SP-3-3", "SP-12-5", "SP-9-3"},
		Desc: "a request body over max_body_bytes is payload_too_large, decided before decoding",
		Procedure: `
			POST /v1/exchange with a body of max_body_bytes+1 bytes that is not msgpack (skipped
			over 64 MiB). Assert: payload_too_large (413) - not malformed_request - or, since a
			server may answer before it has read the body, a 413 answer followed by a closed
			connection. Then a normal request succeeds.`,
	}, func(t *T) {
		l := t.info.Limits
		if l.MaxBodyBytes > 64<<20 {
			t.Skip("max_body_bytes %d is over 64 MiB", l.MaxBodyBytes)
		}
		body := bytes.Repeat([]byte{0xc1}, l.MaxBodyBytes+1)
		r, err := t.TryDo(Request{Path: protocol.PathExchange, As: UserA, Body: body})
		if err != nil {
			t.Logf("the connection failed while sending (%v): the server may close it after answering early", err)
		} else {
			t.WantError(r, protocol.CodePayloadTooLarge)
		}
		t.Head(UserA, t.NewCollection().Collection)
	})

	serverCase(Case{
		ID: "server/limits/page-size", Level: MUST,
		Reqs: []string{"SP-6.1-1", "SP-2-9", "SP-3-4"},
		Desc: "a change-info limit over max_page is too_many_items; exactly max_page is accepted",
		Procedure: `
			POST /v1/changes with limit max_page+1: too_many_items (413). With limit max_page: 200.`,
	}, func(t *T) {
		ns := t.NewCollection()
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Limit: t.info.Limits.MaxPage + 1}), protocol.CodeTooManyItems)
		t.Changes(UserA, ns.Collection, "", t.info.Limits.MaxPage)
	})

	serverCase(Case{
		ID: "server/limits/rate-limited-retry-after", Level: MAY,
		Reqs: []string{"SP-9-5", "SP-9-3", "SP-3-3"},
		Desc: "when the server rate-limits, rate_limited carries a Retry-After of whole seconds >= 1",
		Procedure: `
			Send 60 change-info requests as fast as possible. If any is answered rate_limited:
			assert status 429 and a Retry-After header that is a whole number >= 1. Skipped when
			the server does not rate-limit at that rate.`,
	}, func(t *T) {
		ns := t.NewCollection()
		body := t.Marshal(protocol.ChangesRequest{Collection: ns.Collection})
		for i := 0; i < 60; i++ {
			r := t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: body})
			if r.Status == http.StatusOK {
				continue
			}
			t.WantError(r, protocol.CodeRateLimited)
			ra := r.Header.Get("Retry-After")
			n, err := strconv.Atoi(ra)
			t.Check(err == nil && n >= 1, "Retry-After: a whole number of seconds >= 1", "Retry-After: %q", ra)
			return
		}
		t.Skip("the server did not rate-limit 60 quick requests")
	})
}
