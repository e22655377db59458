package serverd

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestBadInputIsRefusedWithTheRightCodeAndChangesNothing sends every kind
// of bad request and checks the exact code and status, and that the store
// is unchanged afterwards.
func TestBadInputIsRefusedWithTheRightCodeAndChangesNothing(t *testing.T) {
	ts := startServer(t, Config{
		Rules: map[string]protocol.Rule{"m": protocol.Manual},
		Limits: protocol.Limits{
			MaxItemBytes: 16, MaxBatchItems: 3, MaxBatchBytes: 40, MaxIDs: 3, MaxPage: 5, MaxBodyBytes: 1024,
		},
	})
	tok, tok2 := ts.token("alice", "phone"), ts.token("alice", "laptop")
	h := hlcAt(time.Now())
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "alpha", 0, 0, h), up("b", "beta", 0, 0, h)})
	ts.exchange(tok, "m", []protocol.Upload{up("x", "server", 0, 0, h)})
	ts.exchange(tok2, "m", []protocol.Upload{up("x", "mine", 0, 1, h)}) // a manual conflict record
	var cs protocol.ConflictsResponse
	ts.mustCall(protocol.PathConflicts, tok, protocol.ConflictsRequest{}, &cs)
	require.Len(t, cs.Conflicts, 1)
	cid := cs.Conflicts[0].ConflictID
	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, tok, protocol.ChangesRequest{Collection: "notes"}, &page)
	goodCursor := page.Cursor
	otherEpoch := "1.0123456789abcdef." + strings.SplitN(goodCursor, ".", 3)[2]

	enc := func(v any) []byte {
		b, err := protocol.Marshal(v)
		require.NoError(t, err)
		return b
	}
	ex := func(mod func(*protocol.ExchangeRequest)) []byte {
		req := protocol.ExchangeRequest{Collection: "notes", BatchID: "bad-input-batch-01", Uploads: []protocol.Upload{up("c", "gamma", 0, 0, h)}, Downloads: []string{"a"}}
		mod(&req)
		return enc(req)
	}
	valid := ex(func(*protocol.ExchangeRequest) {})
	long := strings.Repeat("i", protocol.MaxIDBytes+1)
	badFP := up("c", "gamma", 0, 0, h)
	badFP.FP[0] ^= 1
	badFP2 := up("d", "delta", 0, 0, h)
	badFP2.FP[5] ^= 1
	shortFP := up("c", "gamma", 0, 0, h)
	shortFP.FP = shortFP.FP[:31]
	tombContent := tomb("c", 0, 0, h)
	tombContent.Content = []byte("x")
	put := func(u protocol.Upload) *protocol.Upload { return &u }

	type tc struct {
		name    string
		method  string
		path    string
		hdr     map[string]string
		body    []byte
		want    protocol.Code
		wantIDs []string
	}
	user := authHeaders(tok)
	cases := []tc{
		{name: "an empty body is malformed", body: []byte{}, want: protocol.CodeMalformed},
		{name: "truncated msgpack is malformed", body: valid[:len(valid)-3], want: protocol.CodeMalformed},
		{name: "garbage is malformed", body: []byte("hello, world"), want: protocol.CodeMalformed},
		{name: "a body that is not a map is malformed", body: enc([]string{"notes"}), want: protocol.CodeMalformed},
		{name: "a field of the wrong type is malformed", body: enc(map[string]any{"collection": 5, "batch_id": "bad-input-batch-01"}), want: protocol.CodeMalformed},
		{name: "uploads of the wrong type are malformed", body: enc(map[string]any{"collection": "notes", "batch_id": "bad-input-batch-01", "uploads": "x"}), want: protocol.CodeMalformed},
		{name: "trailing bytes are malformed", body: append(append([]byte{}, valid...), 0xc0), want: protocol.CodeMalformed},
		{name: "a negative integer is malformed", body: enc(map[string]any{"collection": "notes", "batch_id": "bad-input-batch-01", "uploads": []any{map[string]any{"id": "c", "seen": -1}}}), want: protocol.CodeMalformed},
		{name: "an oversized body is refused before anything else", hdr: map[string]string{}, body: bytes.Repeat([]byte{0xc1}, 1025), want: protocol.CodePayloadTooLarge},
		{name: "an item over max_item_bytes", body: ex(func(r *protocol.ExchangeRequest) {
			r.Uploads = []protocol.Upload{up("c", "0123456789abcdefg", 0, 0, h), up("d", "ok", 0, 0, h)}
		}), want: protocol.CodeItemTooLarge, wantIDs: []string{"c"}},
		{name: "batch content over max_batch_bytes", body: ex(func(r *protocol.ExchangeRequest) {
			r.Uploads = []protocol.Upload{up("c", "0123456789abcdef", 0, 0, h), up("d", "0123456789abcdef", 0, 0, h), up("e", "0123456789", 0, 0, h)}
		}), want: protocol.CodePayloadTooLarge},
		{name: "too many uploads", body: ex(func(r *protocol.ExchangeRequest) {
			r.Uploads = []protocol.Upload{up("c", "1", 0, 0, h), up("d", "2", 0, 0, h), up("e", "3", 0, 0, h), up("f", "4", 0, 0, h)}
		}), want: protocol.CodeTooManyItems},
		{name: "too many download IDs", body: ex(func(r *protocol.ExchangeRequest) { r.Downloads = []string{"a", "b", "c", "d"} }), want: protocol.CodeTooManyItems},
		{name: "an empty upload ID", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{up("", "x", 0, 0, h)} }), want: protocol.CodeInvalidID, wantIDs: []string{""}},
		{name: "a too-long upload ID", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{up(long, "x", 0, 0, h)} }), want: protocol.CodeInvalidID, wantIDs: []string{long[:protocol.MaxIDBytes]}},
		{name: "an upload ID of invalid UTF-8", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{up("a\xffb", "x", 0, 0, h)} }), want: protocol.CodeInvalidID},
		{name: "an upload ID with a control character", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{up("a\nb", "x", 0, 0, h)} }), want: protocol.CodeInvalidID, wantIDs: []string{"a\nb"}},
		{name: "an upload ID with DEL", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{up("a\x7f", "x", 0, 0, h)} }), want: protocol.CodeInvalidID},
		{name: "an empty download ID", body: ex(func(r *protocol.ExchangeRequest) { r.Downloads = []string{""} }), want: protocol.CodeInvalidID},
		{name: "a download ID with a control character", body: ex(func(r *protocol.ExchangeRequest) { r.Downloads = []string{"\x00"} }), want: protocol.CodeInvalidID},
		{name: "a duplicate upload ID", body: ex(func(r *protocol.ExchangeRequest) {
			r.Uploads = []protocol.Upload{up("c", "1", 0, 0, h), up("c", "2", 0, 0, h)}
		}), want: protocol.CodeDuplicateID, wantIDs: []string{"c"}},
		{name: "a duplicate download ID", body: ex(func(r *protocol.ExchangeRequest) { r.Downloads = []string{"a", "a"} }), want: protocol.CodeDuplicateID, wantIDs: []string{"a"}},
		{name: "a wrong fingerprint", body: ex(func(r *protocol.ExchangeRequest) {
			r.Uploads = []protocol.Upload{badFP, up("e", "fine", 0, 0, h), badFP2}
		}), want: protocol.CodeFingerprintMismatch, wantIDs: []string{"c", "d"}},
		{name: "a fingerprint of the wrong length", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{shortFP} }), want: protocol.CodeMalformed, wantIDs: []string{"c"}},
		{name: "a tombstone with content", body: ex(func(r *protocol.ExchangeRequest) { r.Uploads = []protocol.Upload{tombContent} }), want: protocol.CodeMalformed, wantIDs: []string{"c"}},
		{name: "a short batch ID", body: ex(func(r *protocol.ExchangeRequest) { r.BatchID = "short" }), want: protocol.CodeMalformed},
		{name: "a batch ID with bad characters", body: ex(func(r *protocol.ExchangeRequest) { r.BatchID = "bad batch id 0001" }), want: protocol.CodeMalformed},
		{name: "an invalid collection name", body: ex(func(r *protocol.ExchangeRequest) { r.Collection = "Notes!" }), want: protocol.CodeInvalidCollection},
		{name: "an empty collection name", body: ex(func(r *protocol.ExchangeRequest) { r.Collection = "" }), want: protocol.CodeInvalidCollection},
		{name: "a missing token", hdr: map[string]string{protocol.HeaderVersion: "1"}, body: valid, want: protocol.CodeUnauthorized},
		{name: "an unknown token", hdr: authHeaders("sp_" + strings.Repeat("A", 43)), body: valid, want: protocol.CodeUnauthorized},
		{name: "a malformed token", hdr: authHeaders("not-a-token"), body: valid, want: protocol.CodeUnauthorized},
		{name: "another auth scheme", hdr: map[string]string{protocol.HeaderVersion: "1", "Authorization": "Basic " + tok}, body: valid, want: protocol.CodeUnauthorized},
		{name: "the admin token on a user endpoint", hdr: authHeaders(ts.srv.AdminToken()), body: valid, want: protocol.CodeUnauthorized},
		{name: "a missing version header", hdr: map[string]string{"Authorization": "Bearer " + tok}, body: valid, want: protocol.CodeUnsupportedVersion},
		{name: "a version header that is not a number", hdr: map[string]string{protocol.HeaderVersion: "one", "Authorization": "Bearer " + tok}, body: valid, want: protocol.CodeUnsupportedVersion},
		{name: "an unknown newer version", hdr: map[string]string{protocol.HeaderVersion: "2", "Authorization": "Bearer " + tok}, body: valid, want: protocol.CodeUnsupportedVersion},
		{name: "a huge version", hdr: map[string]string{protocol.HeaderVersion: "99999999999999999999999", "Authorization": "Bearer " + tok}, body: valid, want: protocol.CodeUnsupportedVersion},
		{name: "a too-old version", hdr: map[string]string{protocol.HeaderVersion: "0", "Authorization": "Bearer " + tok}, body: valid, want: protocol.CodeVersionTooOld},
		{name: "an invalid cursor", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "notes", Cursor: "garbage"}), want: protocol.CodeInvalidCursor},
		{name: "a cursor with a bad mac", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "notes", Cursor: goodCursor[:len(goodCursor)-1] + "x"}), want: protocol.CodeInvalidCursor},
		{name: "a cursor of another collection", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "m", Cursor: goodCursor}), want: protocol.CodeInvalidCursor},
		{name: "a cursor of another epoch", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "notes", Cursor: otherEpoch}), want: protocol.CodeCursorExpired},
		{name: "a page over max_page", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "notes", Limit: 6}), want: protocol.CodeTooManyItems},
		{name: "changes of an invalid collection", path: protocol.PathChanges, body: enc(protocol.ChangesRequest{Collection: "_x"}), want: protocol.CodeInvalidCollection},
		{name: "a watch cursor of another epoch", path: protocol.PathWatch, body: enc(protocol.WatchRequest{Cursors: map[string]string{"notes": otherEpoch}}), want: protocol.CodeCursorExpired},
		{name: "a watch of an invalid collection", path: protocol.PathWatch, body: enc(protocol.WatchRequest{Cursors: map[string]string{"A": ""}}), want: protocol.CodeInvalidCollection},
		{name: "conflicts of an invalid collection", path: protocol.PathConflicts, body: enc(protocol.ConflictsRequest{Collection: "-"}), want: protocol.CodeInvalidCollection},
		{name: "a resolution of an unknown record", path: protocol.PathResolve, body: enc(protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{cid, "unknown"}}), want: protocol.CodeNotFound},
		{name: "a resolution with a stale put", path: protocol.PathResolve, body: enc(protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{cid}, Put: put(up("x", "new", 0, 0, h))}), want: protocol.CodeStaleBase},
		{name: "a resolution with a wrong fingerprint", path: protocol.PathResolve, body: enc(protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{cid}, Put: &badFP}), want: protocol.CodeMalformed},
		{name: "a resolution put of another item", path: protocol.PathResolve, body: enc(protocol.ResolveRequest{Collection: "m", ID: "c", Put: &badFP}), want: protocol.CodeFingerprintMismatch},
		{name: "a resolution closing a record twice", path: protocol.PathResolve, body: enc(protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{cid, cid}}), want: protocol.CodeDuplicateID},
		{name: "an admin request with a user token", path: protocol.PathAdminTokens, body: enc(protocol.TokenRequest{User: "eve", Device: "x"}), want: protocol.CodeUnauthorized},
		{name: "an admin request with a bad name", path: protocol.PathAdminTokens, hdr: authHeaders(ts.srv.AdminToken()), body: enc(protocol.TokenRequest{User: "eve!", Device: "x"}), want: protocol.CodeMalformed},
		{name: "an unknown path", path: "/v1/nothing", body: valid, want: protocol.CodeNotFound},
		{name: "an unknown path without credentials", path: "/", hdr: map[string]string{}, want: protocol.CodeNotFound},
		{name: "the wrong method", method: http.MethodGet, want: protocol.CodeMethodNotAllowed},
		{name: "a POST to info", method: http.MethodPost, path: protocol.PathInfo, want: protocol.CodeMethodNotAllowed},
		{name: "an invalid token on info", method: http.MethodGet, path: protocol.PathInfo, hdr: authHeaders("sp_nope"), want: protocol.CodeUnauthorized},
	}
	before := dump(t, ts.srv)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.method == "" {
				c.method = http.MethodPost
			}
			if c.path == "" {
				c.path = protocol.PathExchange
			}
			if c.hdr == nil {
				c.hdr = user
			}
			status, _, b := ts.raw(c.method, c.path, c.body, c.hdr)
			require.Equal(t, c.want.HTTPStatus(), status, "body %q", b)
			var e protocol.Error
			require.NoError(t, protocol.Unmarshal(b, &e), "an error body is a msgpack protocol.Error")
			require.Equal(t, c.want, e.Code, "message: %s", e.Message)
			require.NotEmpty(t, e.Message)
			if c.wantIDs != nil {
				require.Equal(t, c.wantIDs, e.IDs)
			}
			require.Equal(t, before, dump(t, ts.srv), "a refused request changed the store")
		})
	}
	// The valid request still works afterwards (nothing half-applied).
	var resp protocol.ExchangeResponse
	status, _, b := ts.raw(http.MethodPost, protocol.PathExchange, valid, user)
	require.Nil(t, decodeResponse(t, status, b, &resp))
	require.Equal(t, protocol.StatusApplied, resp.Results[0].Status)
	require.Equal(t, "alpha", string(resp.Items[0].Content))
}

// TestExchangeValidationFollowsTheDocumentedOrder: with two faults in one
// request, the one checked first is reported.
func TestExchangeValidationFollowsTheDocumentedOrder(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxItemBytes: 4, MaxBatchItems: 3, MaxIDs: 3, MaxBatchBytes: 6}})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	wrongFP := up("w", "w", 0, 0, h)
	wrongFP.FP[0] ^= 1
	wrongBig := up("w", "abc", 0, 0, h)
	wrongBig.FP[0] ^= 1
	shortFP := up("s", "s", 0, 0, h)
	shortFP.FP = shortFP.FP[:3]
	tombContent := tomb("t", 0, 0, h)
	tombContent.Content = []byte("x")
	for _, c := range []struct {
		name string
		req  protocol.ExchangeRequest
		want protocol.Code
		ids  []string
	}{
		{"collection before batch id", protocol.ExchangeRequest{Collection: "X", BatchID: "x"}, protocol.CodeInvalidCollection, nil},
		{"batch id before counts", protocol.ExchangeRequest{Collection: "c", BatchID: "x", Downloads: []string{"a", "b", "c", "d"}}, protocol.CodeMalformed, nil},
		{"counts before ids", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Downloads: []string{"", "b", "c", "d"}}, protocol.CodeTooManyItems, nil},
		{"uploads before downloads", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("a", "", 0, 0, h), up("a", "", 0, 0, h)}, Downloads: []string{""}}, protocol.CodeDuplicateID, nil},
		{"uploads in request order: a duplicate before an invalid id", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("a", "", 0, 0, h), up("a", "", 0, 0, h), up("\x01", "", 0, 0, h)}}, protocol.CodeDuplicateID, nil},
		{"uploads in request order: an invalid id before a duplicate", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("a", "", 0, 0, h), up("\x01", "", 0, 0, h), up("a", "", 0, 0, h)}}, protocol.CodeInvalidID, nil},
		{"downloads in request order: an invalid id before a duplicate", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Downloads: []string{"a", "\x03", "a"}}, protocol.CodeInvalidID, nil},
		{"downloads in request order: a duplicate before an invalid id", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Downloads: []string{"a", "a", "\x03"}}, protocol.CodeDuplicateID, nil},
		{"uploads in request order: a tombstone with content before a short fp", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{tombContent, shortFP}}, protocol.CodeMalformed, []string{"t"}},
		{"uploads in request order: a short fp before a tombstone with content", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{shortFP, tombContent}}, protocol.CodeMalformed, []string{"s"}},
		{"ids before fingerprint lengths", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{shortFP}, Downloads: []string{"\x02"}}, protocol.CodeInvalidID, nil},
		{"fingerprint lengths before sizes", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("big", "12345", 0, 0, h), shortFP}}, protocol.CodeMalformed, nil},
		{"item sizes before batch size", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("big", "12345", 0, 0, h), up("b", "1234", 0, 0, h)}}, protocol.CodeItemTooLarge, nil},
		{"batch size before fingerprints", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("a", "1234", 0, 0, h), wrongBig}}, protocol.CodePayloadTooLarge, nil},
		{"fingerprints last", protocol.ExchangeRequest{Collection: "c", BatchID: "order-batch-0001", Uploads: []protocol.Upload{up("a", "1234", 0, 0, h), wrongFP}}, protocol.CodeFingerprintMismatch, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := ts.call(protocol.PathExchange, tok, c.req, nil)
			requireCode(t, c.want, e)
			if c.ids != nil {
				require.Equal(t, c.ids, e.IDs)
			}
		})
	}
}
