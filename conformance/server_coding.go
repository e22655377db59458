package conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// Content codings (SP-3-8): request bodies in the codings the server
// announces, bodies that do not decode or decode to too much, and the
// coding of responses.

// definedCodings are the content codings SP-3-8 defines.
var definedCodings = []string{coding.Zstd, coding.Gzip}

// announcedCodings returns the defined codings Info.features lists.
func (t *T) announcedCodings() []string {
	var out []string
	for _, c := range definedCodings {
		if t.HasFeature(c) {
			out = append(out, c)
		}
	}
	return out
}

// needCodings returns the announced codings and skips the case when there
// is none.
func (t *T) needCodings() []string {
	cs := t.announcedCodings()
	if len(cs) == 0 {
		t.Skip("the server announces no content coding (neither zstd nor gzip in Info.features)")
	}
	return cs
}

// encodeBody returns body in coding c, with the suite's own encoder.
func (t *T) encodeBody(c string, body []byte) []byte {
	b, err := bodyEncoder().Encode(c, nil, body)
	if err != nil {
		t.Errorf("bug: encode a body in %s: %v", c, err)
	}
	return b
}

// bodyEncoder returns the encoder of the cases' request bodies, made on
// first use: the package is linked into every command of the binary,
// which should not pay for it.
var bodyEncoder = sync.OnceValue(func() *coding.Encoder {
	e, err := coding.NewEncoder()
	if err != nil {
		panic("bug: " + err.Error())
	}
	return e
})

// encodeInTwo returns body in coding c as two frames (zstd) or members
// (gzip), split in its middle: a body a receiver must decode whole
// (SP-3-8).
func encodeInTwo(c string, body []byte) ([]byte, error) {
	mid := len(body) / 2
	first, err := bodyEncoder().Encode(c, nil, body[:mid])
	if err != nil {
		return nil, err
	}
	return bodyEncoder().Encode(c, first, body[mid:])
}

// otherCoding returns the defined coding that is not c.
func otherCoding(c string) string {
	if c == coding.Zstd {
		return coding.Gzip
	}
	return coding.Zstd
}

// paddedExchange returns the head of an exchange uploading id to coll
// whose last key, unknown to the protocol, holds a bin of n bytes: the
// bytes returned end with the bin's header, the n bytes are to follow.
// The whole body is a valid ExchangeRequest of len(head)+n bytes (a
// receiver ignores unknown keys, SP-4.1-3).
func (t *T) paddedExchange(coll, id string, n uint32) []byte {
	content := []byte("padded")
	up := rawUpload(uploadFields{id: id, fp: FP(id, false, content), hlc: t.HLC(0), content: content}, nil)
	head := mMap(kv{"collection", mStr(coll)}, kv{"batch_id", mStr(NewBatchID())}, kv{"cursor", mStr("")},
		kv{"uploads", mArr(up)}, kv{"downloads", mArr()}, kv{"x-padding", nil}) // the value follows
	return binary.BigEndian.AppendUint32(append(head, 0xc6), n)
}

// paddedTo returns the head of paddedExchange for a body of exactly size
// bytes and the number of zeros to follow it.
func (t *T) paddedTo(coll, id string, size int) ([]byte, uint64) {
	head := t.paddedExchange(coll, id, 0)
	n := size - len(head)
	return t.paddedExchange(coll, id, uint32(n)), uint64(n)
}

func init() {
	serverCase(Case{
		ID: "server/coding/request-bodies-decoded", Level: MUST,
		Reqs:  []string{"SP-3-8", "SP-3-3", "SP-6.3-1"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "a request body in an announced content coding is decoded and served like the unencoded body, on every endpoint with a body",
		Procedure: `
			For each coding Info.features lists (zstd, gzip; skipped when it lists neither), with
			the body encoded by the suite and Content-Encoding naming the coding: (1) an exchange
			uploading "a" (2 KiB) to a fresh collection: 200, applied at version 1, and an
			unencoded download returns its content intact; (2) POST /v1/changes of that collection
			with Content-Encoding the coding, the coding in upper case, and "identity, <coding>":
			200 with the same page as the unencoded request, listing "a"; (3) /v1/collections
			(a 1-byte body): 200 listing the collection; /v1/conflicts and /v1/conflicts/resolve
			(when conflicts is announced): the same status, error code and decoded answer as the
			unencoded body; /v1/watch (when announced) with the cursor "": 200 naming the
			collection among others; /v1/admin/tokens (with --admin-token, when announced): 200 echoing the
			user and device.`,
	}, func(t *T) {
		for _, c := range t.needCodings() {
			ns := t.NewCollection()
			ce := map[string]string{"Content-Encoding": c}
			content := strings.Repeat("encoded body ", 160)
			up := Up("a", 0, 0, t.HLC(0), content)
			body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{up}})
			var x protocol.ExchangeResponse
			t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: t.encodeBody(c, body), Header: ce}), &x)
			t.Check(len(x.Results) == 1 && x.Results[0].Status == protocol.StatusApplied && x.Results[0].Version == 1,
				fmt.Sprintf("the %s-encoded upload of a applied at version 1", c), "%s", brief(x.Results))
			it, ok := t.Current(UserA, ns, "a")
			t.Check(ok && string(it.Content) == content, fmt.Sprintf("a downloaded intact after a %s-encoded upload", c), "found %v, %d bytes", ok, len(it.Content))

			page := t.Changes(UserA, ns.Collection, "", 0)
			changes := t.Marshal(protocol.ChangesRequest{Collection: ns.Collection})
			for _, name := range []string{c, strings.ToUpper(c), "identity, " + c} {
				var got protocol.ChangesResponse
				t.OK(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: t.encodeBody(c, changes), Header: map[string]string{"Content-Encoding": name}}), &got)
				t.Equal(fmt.Sprintf("the change-info page asked for with Content-Encoding %q", name), page, got)
			}

			var colls protocol.CollectionsResponse
			t.OK(t.Do(Request{Path: protocol.PathCollections, As: UserA, Body: t.encodeBody(c, []byte{0x80}), Header: ce}), &colls)
			listed := false
			for _, cl := range colls.Collections {
				listed = listed || cl.Name == ns.Collection && cl.Head == 1
			}
			t.Check(listed, fmt.Sprintf("%s (head 1) listed in answer to a %s-encoded /v1/collections", ns.Collection, c), "%s", brief(colls))

			if t.HasFeature(protocol.FeatureConflicts) {
				for path, b := range map[string][]byte{
					protocol.PathConflicts: t.Marshal(protocol.ConflictsRequest{Collection: ns.Collection}),
					protocol.PathResolve:   t.Marshal(protocol.ResolveRequest{Collection: ns.Collection, ID: "a", Close: []string{"0123456789abcdef"}}),
				} {
					plain := t.Do(Request{Path: path, As: UserA, Body: b})
					enc := t.Do(Request{Path: path, As: UserA, Body: t.encodeBody(c, b), Header: ce})
					t.Check(enc.Status == plain.Status && enc.Code() == plain.Code(), fmt.Sprintf("%s: the same answer to the %s-encoded body as to the unencoded one (%d %s)", path, c, plain.Status, plain.Code()),
						"%d %s", enc.Status, describeErr(enc))
					if plain.Status == http.StatusOK {
						t.Check(bytes.Equal(enc.Body, plain.Body), path+": the same decoded answer", "%s\nunencoded: %s", renderMsgpack(enc.Body), renderMsgpack(plain.Body))
					}
				}
			}
			if t.HasFeature(protocol.FeatureWatch) {
				var w protocol.WatchResponse
				b := t.Marshal(protocol.WatchRequest{Cursors: map[string]string{ns.Collection: ""}, TimeoutMillis: 1000})
				t.OK(t.Do(Request{Path: protocol.PathWatch, As: UserA, Body: t.encodeBody(c, b), Header: ce}), &w)
				named := false
				for _, n := range w.Changed {
					named = named || n == ns.Collection
				}
				t.Check(named, fmt.Sprintf("%s in changed, for a %s-encoded watch from cursor \"\"", ns.Collection, c), "changed %s", show(w.Changed))
			}
			if t.target.AdminToken != "" && t.HasFeature(protocol.FeatureAdmin) {
				user := "cf-" + RandomName(10)
				b := t.Marshal(protocol.TokenRequest{User: user, Device: "d1"})
				var tr protocol.TokenResponse
				t.OK(t.Do(Request{Path: protocol.PathAdminTokens, As: Admin, Body: t.encodeBody(c, b), Header: ce}), &tr)
				t.Check(tr.User == user && tr.Device == "d1" && tr.Token != "", fmt.Sprintf("a token for %s/d1 from a %s-encoded request", user, c), "%q/%q", tr.User, tr.Device)
			}
		}
	})

	serverCase(Case{
		ID: "server/coding/request-body-in-parts", Level: MUST,
		Reqs:  []string{"SP-3-8"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "a request body in several zstd frames or gzip members is decoded whole",
		Procedure: `
			For each coding Info.features lists (zstd, gzip; skipped when it lists neither): an
			exchange uploading "a" (2 KiB) and "b" (2 KiB) to a fresh collection, its body encoded
			by the suite in two frames (zstd) or members (gzip), split in its middle, and
			Content-Encoding naming the coding: 200, both applied, and unencoded downloads return
			their contents intact.`,
	}, func(t *T) {
		for _, c := range t.needCodings() {
			ns := t.NewCollection()
			content := strings.Repeat("a body in parts ", 128)
			body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
				Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), content), Up("b", 0, 0, t.HLC(0), content)}})
			two, err := encodeInTwo(c, body)
			if err != nil {
				t.Errorf("bug: encode a body in two parts: %v", err)
				return
			}
			var x protocol.ExchangeResponse
			t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: two, Header: map[string]string{"Content-Encoding": c}}), &x)
			applied := 0
			for _, r := range x.Results {
				if r.Status == protocol.StatusApplied {
					applied++
				}
			}
			t.Check(len(x.Results) == 2 && applied == 2, fmt.Sprintf("both uploads of a body %s-encoded in two parts applied", c), "%s", brief(x.Results))
			for _, id := range []string{"a", "b"} {
				it, ok := t.Current(UserA, ns, id)
				t.Check(ok && string(it.Content) == content, fmt.Sprintf("%s downloaded intact after an upload %s-encoded in two parts", id, c), "found %v, %d bytes", ok, len(it.Content))
			}
		}
	})

	serverCase(Case{
		ID: "server/coding/retry-in-another-coding", Level: MUST,
		Reqs:  []string{"SP-6.4-2", "SP-3-8"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "the idempotency record is of the decoded body: the same exchange retried in another coding, or unencoded, is a replay",
		Procedure: `
			An exchange uploading "r" to a fresh collection with a fixed batch ID, its body encoded
			in the first announced coding: applied at version 1. The same body (same batch ID)
			again in every announced coding and unencoded. Assert: each answer is 200 with the
			first answer's decoded bytes verbatim (not batch_id_reused), and the head stays 1.`,
	}, func(t *T) {
		cs := t.needCodings()
		ns := t.NewCollection()
		body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{Up("r", 0, 0, t.HLC(0), strings.Repeat("retry ", 300))}})
		first := t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: t.encodeBody(cs[0], body), Header: map[string]string{"Content-Encoding": cs[0]}})
		var x protocol.ExchangeResponse
		t.OK(first, &x)
		t.Check(len(x.Results) == 1 && x.Results[0].Status == protocol.StatusApplied, "r applied", "%s", brief(x.Results))
		for _, c := range append(cs, "") {
			req := Request{Path: protocol.PathExchange, As: UserA, Body: body}
			what := "unencoded"
			if c != "" {
				req.Body, req.Header, what = t.encodeBody(c, body), map[string]string{"Content-Encoding": c}, "in "+c
			}
			r := t.Do(req)
			t.OK(r, nil)
			t.Check(bytes.Equal(r.Body, first.Body), fmt.Sprintf("the retry %s answered with the recorded response verbatim [SP-6.4-2]", what),
				"%s\nfirst: %s", renderMsgpack(r.Body), renderMsgpack(first.Body))
		}
		t.SameHead(ns, 1)
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/coding/invalid-body-refused", Level: MUST,
		Reqs:  []string{"SP-3-8", "SP-3-3", "SP-9-2"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "a body that is not valid in its announced coding is malformed_request and applies nothing",
		Procedure: `
			For each announced coding, an exchange uploading "m" to a fresh collection sent with
			Content-Encoding naming the coding and, as the body: an empty body; 64 bytes of
			text; the valid msgpack body unencoded; the encoded body cut in half; the encoded
			body without its last byte and without its last 4 bytes (a decoder that ignores the
			end of the stream would get the whole message); the body in the other coding.
			Assert: malformed_request (400) each time, and "m" never exists (head 0).`,
	}, func(t *T) {
		cs := t.needCodings()
		ns := t.NewCollection()
		body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{Up("m", 0, 0, t.HLC(0), strings.Repeat("must not apply ", 40))}})
		for _, c := range cs {
			enc := t.encodeBody(c, body)
			for _, b := range []badBody{
				{"an empty body", []byte{}},
				{"64 bytes of text", []byte(strings.Repeat("not encoded", 6)[:64])},
				{"the msgpack body unencoded", body},
				{"the encoded body cut in half", enc[:len(enc)/2]},
				{"the encoded body without its last byte", enc[:len(enc)-1]},
				{"the encoded body without its last 4 bytes", enc[:len(enc)-4]},
				{"the body in " + otherCoding(c), t.encodeBody(otherCoding(c), body)},
			} {
				t.Logf("Content-Encoding %s: %s", c, b.name)
				t.WantError(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: b.body, Header: map[string]string{"Content-Encoding": c}}), protocol.CodeMalformed)
			}
		}
		t.SameHead(ns, 0)
		t.Unchanged(UserA, ns, "m", nil)
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/coding/decoded-size-limit", Level: MUST,
		Reqs:  []string{"SP-3-8", "SP-3-3", "SP-2-9", "SP-9-2"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "max_body_bytes bounds the decoded body: one byte over is payload_too_large and applies nothing; exactly the limit is served",
		Procedure: `
			For each announced coding, an exchange uploading "m-<coding>" to a fresh collection
			whose last key, unknown to the protocol, holds a bin of zeros so that the decoded body
			is max_body_bytes+1 bytes (the encoded body is a few KB). Assert: payload_too_large
			(413) and nothing applied. Then the same padded to exactly max_body_bytes, in the
			first announced coding: 200, the upload applied. Skipped when max_body_bytes is over
			64 MiB.`,
	}, func(t *T) {
		cs := t.needCodings()
		limit := t.info.Limits.MaxBodyBytes
		if limit > 64<<20 {
			t.Skip("max_body_bytes %d is over 64 MiB", limit)
		}
		ns := t.NewCollection()
		for _, c := range cs {
			id := "m-" + c
			head, n := t.paddedTo(ns.Collection, id, limit+1)
			z, err := coding.Bomb{Prefix: head, Zeros: n}.Encode(c)
			if err != nil {
				t.Errorf("bug: %v", err)
			}
			t.Logf("%s: %d bytes decoding to %d (max_body_bytes + 1)", c, len(z), limit+1)
			t.WantError(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: z, Header: map[string]string{"Content-Encoding": c}}), protocol.CodePayloadTooLarge)
			t.Unchanged(UserA, ns, id, nil)
		}
		// Exactly the limit, in one coding only: the server decodes and
		// parses the whole body, which is slow under a race detector.
		c := cs[0]
		id := "m-" + c
		head, n := t.paddedTo(ns.Collection, id, limit)
		z, _ := coding.Bomb{Prefix: head, Zeros: n}.Encode(c)
		var x protocol.ExchangeResponse
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: z, Header: map[string]string{"Content-Encoding": c}}), &x)
		t.Check(len(x.Results) == 1 && x.Results[0].Status == protocol.StatusApplied && x.Results[0].Version == 1,
			fmt.Sprintf("%s applied: a body that decodes to exactly max_body_bytes is within the limit", id), "%s", brief(x.Results))
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/coding/zip-bomb", Level: MUST,
		Reqs:  []string{"SP-3-8", "SP-12-5", "SP-3-3"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "a small body that decodes to 4 GiB is payload_too_large, answered without inflating it",
		Procedure: `
			For each announced coding, an exchange uploading "m" whose last key, unknown to the
			protocol, holds a bin of 4 GiB - 1 MiB zeros: in zstd one frame of RLE blocks
			(about 128 KiB), sent once declaring its decoded size and once without; in gzip one
			member (about 4 MiB). Assert: payload_too_large (413) each time - no answer within
			the case's deadline, or a broken connection, fails (a server that inflates the body
			runs out of memory or time) - "m" never exists, and the server still answers an
			ordinary request. A coding whose bomb exceeds max_body_bytes is skipped.`,
	}, func(t *T) {
		cs := t.needCodings()
		ns := t.NewCollection()
		const zeros = 4<<30 - 1<<20
		head := t.paddedExchange(ns.Collection, "m", zeros)
		sent := 0
		for _, c := range cs {
			for _, declare := range []bool{true, false} {
				if c == coding.Gzip && !declare {
					continue // a gzip member always declares its size (ISIZE)
				}
				bomb := coding.Bomb{Prefix: head, Zeros: zeros, DeclareSize: declare}
				z, err := bomb.Encode(c)
				if err != nil {
					t.Errorf("bug: %v", err)
				}
				if len(z) > t.info.Limits.MaxBodyBytes {
					t.Logf("%s: the bomb (%d bytes) is over max_body_bytes; not sent", c, len(z))
					continue
				}
				r, err := t.TryDo(Request{Path: protocol.PathExchange, As: UserA, Body: z, Header: map[string]string{"Content-Encoding": c}})
				if err != nil {
					t.Failf(fmt.Sprintf("payload_too_large for a %d-byte %s body decoding to %d bytes (declared size: %v)", len(z), c, bomb.Len(), declare),
						"no answer: %v (a server that inflates the body runs out of memory or time)", err)
				}
				t.Logf("%s (declared size: %v): %d bytes decoding to %d, answered in %v", c, declare, len(z), bomb.Len(), r.Took)
				t.WantError(r, protocol.CodePayloadTooLarge)
				sent++
			}
		}
		if sent == 0 {
			t.Skip("every bomb is over max_body_bytes (%d)", t.info.Limits.MaxBodyBytes)
		}
		t.Unchanged(UserA, ns, "m", nil)
	})

	serverCase(Case{
		ID: "server/coding/response-only-when-accepted", Level: MUST,
		Reqs: []string{"SP-3-8"},
		Desc: "a response is not encoded unless Accept-Encoding accepts an announced coding",
		Procedure: `
			Upload 24 items of 200 bytes to a fresh collection. Then ask for its change-info
			page, download all 24 items, GET /v1/info and provoke an error (an invalid collection
			name), each with Accept-Encoding absent, "identity", "identity;q=1, *;q=0", "*;q=0",
			"ZSTD;q=0, gzip;q=0.000", "br, compress, x-custom", each of zstd and gzip that
			Info.features does not list, and two lines "*" and "zstd;q=0, gzip;q=0" (one list,
			RFC 9110 section 5.3). Assert: no response carries a Content-Encoding (other than
			identity), and every body decodes as its message.`,
	}, func(t *T) {
		ns, changes, download := t.responseFixture()
		var accepts [][]string // the lines of Accept-Encoding; none: no header
		for _, ae := range []string{"identity", "identity;q=1, *;q=0", "*;q=0", "ZSTD;q=0, gzip;q=0.000", "br, compress, x-custom"} {
			accepts = append(accepts, []string{ae})
		}
		for _, c := range definedCodings {
			if !t.HasFeature(c) {
				accepts = append(accepts, []string{c})
			}
		}
		accepts = append(accepts, []string{"*", "zstd;q=0, gzip;q=0"}, nil)
		for _, ae := range accepts {
			for _, q := range []struct {
				req Request
				out any
			}{
				{Request{Path: protocol.PathChanges, As: UserA, Body: changes}, &protocol.ChangesResponse{}},
				{Request{Path: protocol.PathExchange, As: UserA, Body: download}, &protocol.ExchangeResponse{}},
				{Request{Method: http.MethodGet, Path: protocol.PathInfo, As: UserA}, &protocol.Info{}},
				{Request{Path: protocol.PathChanges, As: UserA, Body: t.Marshal(protocol.ChangesRequest{Collection: "Not Valid " + ns.Collection})}, nil},
			} {
				req := q.req
				what := fmt.Sprintf("Accept-Encoding %s", show(ae))
				if ae == nil {
					req.NoAcceptEncoding, what = true, "no Accept-Encoding"
				} else {
					req.HeaderLines = http.Header{"Accept-Encoding": ae}
				}
				r := t.Do(req)
				ce := r.Header.Values("Content-Encoding")
				cc, err := coding.ParseContentEncoding(ce)
				method := req.Method
				if method == "" {
					method = http.MethodPost
				}
				t.Check(err == nil && cc == "", fmt.Sprintf("no Content-Encoding on the answer to %s %s with %s", method, req.Path, what), "Content-Encoding: %q", strings.Join(ce, ", "))
				if q.out != nil {
					t.OK(r, q.out)
				} else {
					t.WantError(r, protocol.CodeInvalidCollection)
				}
			}
		}
	})

	serverCase(Case{
		ID: "server/coding/response-in-accepted-coding", Level: MUST,
		Reqs:  []string{"SP-3-8"},
		Needs: []string{"feature:zstd or feature:gzip"},
		Desc:  "a response the server encodes is in one announced coding that Accept-Encoding accepted, and decodes to the unencoded answer",
		Procedure: `
			Upload 24 items of 200 bytes to a fresh collection; ask for its change-info page and
			download all 24 items unencoded. Then, for each announced coding C (O: the other
			defined coding), the same two requests with Accept-Encoding C, C in upper case,
			"C;q=0.5, O;q=0", "*" and "O;q=0, *". Assert: each answer is 200 and either has no
			Content-Encoding or names exactly one coding that Info.features lists and the header
			accepts (listed with q > 0, or matched by "*" with q > 0 and not refused by name),
			and its body, decoded, is the same message as the unencoded answer. The report notes
			which codings the server used.`,
	}, func(t *T) {
		cs := t.needCodings()
		_, changes, download := t.responseFixture()
		var page protocol.ChangesResponse
		t.OK(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: changes}), &page)
		var items protocol.ExchangeResponse
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: download}), &items)
		used := map[string]int{}
		for _, c := range cs {
			o := otherCoding(c)
			for _, ae := range []string{c, strings.ToUpper(c), c + ";q=0.5, " + o + ";q=0", "*", o + ";q=0, *"} {
				for _, q := range []struct {
					req  Request
					out  any
					want any
				}{
					{Request{Path: protocol.PathChanges, As: UserA, Body: changes}, &protocol.ChangesResponse{}, &page},
					{Request{Path: protocol.PathExchange, As: UserA, Body: download}, &protocol.ExchangeResponse{}, &items},
				} {
					req := q.req
					req.Header = map[string]string{"Accept-Encoding": ae}
					r := t.Do(req)
					what := fmt.Sprintf("the answer to %s with Accept-Encoding %q", req.Path, ae)
					ce := r.Header.Values("Content-Encoding")
					cc, err := coding.ParseContentEncoding(ce)
					if err != nil || cc != "" && (!t.HasFeature(cc) || !acceptsCoding(ae, cc)) {
						t.Failf(what+": no Content-Encoding, or one announced coding that the header accepts", "Content-Encoding: %q", strings.Join(ce, ", "))
					}
					if r.DecodeErr != nil {
						t.Failf(what+": a body that decodes in its Content-Encoding", "%v", r.DecodeErr)
					}
					t.OK(r, q.out)
					t.Equal(what+", decoded", q.want, q.out)
					used[cc]++
				}
			}
		}
		t.Logf("answers by Content-Encoding (\"\" = none): %v", used)
	})
}

// responseFixture uploads 24 items of 200 bytes to a fresh collection and
// returns it with a change-info request and a download of all of them.
func (t *T) responseFixture() (Namespace, []byte, []byte) {
	ns := t.NewCollection()
	var ups []protocol.Upload
	var ids []string
	for i := 0; i < 24; i++ {
		id := fmt.Sprintf("item-%02d", i)
		ups = append(ups, Up(id, 0, 0, t.HLC(0), strings.Repeat(strconv.Itoa(i%10), 200)))
		ids = append(ids, id)
	}
	t.Upload(UserA, ns, ups...)
	return ns, t.Marshal(protocol.ChangesRequest{Collection: ns.Collection}), t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Downloads: ids})
}

// acceptsCoding reports whether an Accept-Encoding value accepts coding c
// [RFC 9110, section 12.5.3]: c listed with a q-value above 0, or, when c
// is not listed, "*" with a q-value above 0. Names compare
// case-insensitively.
func acceptsCoding(header, c string) bool {
	star, listed := false, false
	for _, el := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(el, ";")
		name = strings.TrimSpace(name)
		ok := true
		for _, p := range strings.Split(params, ";") {
			k, v, found := strings.Cut(strings.TrimSpace(p), "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ok = err == nil && q > 0
			}
		}
		switch {
		case strings.EqualFold(name, c):
			if !ok {
				return false
			}
			listed = true
		case name == "*":
			star = ok
		}
	}
	return listed || star
}
