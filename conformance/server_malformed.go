package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/syncprint/syncprint/protocol"
)

// Malformed input (SP-4.1), accepted non-canonical input, and the
// validation steps of the exchange (SP-6.3-2), each with its exact code and
// no change to the data.

// exchangeBody is a canonical exchange with one valid upload of "m" to
// coll, with overrides of the top-level keys and of the upload's keys.
func (t *T) exchangeBody(coll string, top map[string][]byte, up map[string][]byte) []byte {
	content := []byte("malformed?")
	u := rawUpload(uploadFields{id: "m", fp: FP("m", false, content), hlc: t.HLC(0), content: content}, up)
	fields := []kv{{"collection", mStr(coll)}, {"batch_id", mStr(NewBatchID())}, {"cursor", mStr("")}, {"uploads", mArr(u)}, {"downloads", mArr()}}
	return mMap(applyOverrides(fields, top)...)
}

type badBody struct {
	name string
	body []byte
}

// structuralBad are bodies malformed whatever the endpoint expects.
func structuralBad(valid []byte) []badBody {
	deep := mNil
	for i := 0; i < 17; i++ {
		deep = mArr(deep)
	}
	// A scalar at level 17, and a map at level 16 whose entry is at 17.
	deepScalar, deepEntry := mUint(1), mMap(kv{"k", mUint(1)})
	for i := 0; i < 16; i++ {
		deepScalar = mArr(deepScalar)
		if i < 15 {
			deepEntry = mArr(deepEntry)
		}
	}
	return []badBody{
		{"an empty body", nil},
		{"a body cut in the middle", valid[:len(valid)/2]},
		{"a body without its last byte", valid[:len(valid)-1]},
		{"a byte after the map", raw(valid, mNil)},
		{"two messages", raw(valid, valid)},
		{"an array instead of a map", mArr(mUint(1))},
		{"nil instead of a map", mNil},
		{"a str instead of a map", mStr("hello")},
		{"ASCII text", []byte("hello")},
		{"the reserved byte 0xc1 as a value", mMap(kv{"x", []byte{0xc1}})},
		{"a float32 under an unknown key", mMap(kv{"x", []byte{0xca, 0x3f, 0x80, 0, 0}})},
		{"a float64 under an unknown key", mMap(kv{"x", []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}})},
		{"an ext (fixext1) under an unknown key", mMap(kv{"x", []byte{0xd4, 0x01, 0x01}})},
		{"a timestamp ext under an unknown key", mMap(kv{"x", []byte{0xd6, 0xff, 0, 0, 0, 1}})},
		{"a negative fixint under an unknown key", mMap(kv{"x", []byte{0xff}})},
		{"a negative int8 under an unknown key", mMap(kv{"x", []byte{0xd0, 0xff}})},
		{"a negative int64 under an unknown key", mMap(kv{"x", []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}})},
		{"a map key that is not a str", raw([]byte{0x81}, mUint(1), mUint(2))},
		{"nesting 17 levels below the top-level map", mMap(kv{"x", deep})},
		{"a scalar at level 17 (16 arrays around a uint)", mMap(kv{"x", deepScalar})},
		{"a map entry at level 17 (a map at level 16)", mMap(kv{"x", deepEntry})},
		{"an array32 claiming 2^31 elements", mMap(kv{"x", []byte{0xdd, 0x80, 0, 0, 0}})},
		{"a map32 claiming 2^31 entries", mMap(kv{"x", []byte{0xdf, 0x80, 0, 0, 0}})},
		{"a bin32 claiming 4 GiB", mMap(kv{"x", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0}})},
		{"a str32 claiming 4 GiB", mMap(kv{"x", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}})},
		{"a top-level map32 claiming 2^32-1 entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
	}
}

func init() {
	serverCase(Case{
		Hostile: 1,
		ID:      "server/malformed/exchange-structural", Level: MUST,
		Reqs: []string{"SP-4.1-4", "SP-4.1-1", "SP-9-2", "SP-12-5"},
		Desc: "structurally malformed exchange bodies are malformed_request and apply nothing",
		Procedure: `
			Build a valid exchange uploading "m" to a fresh collection and send, instead of it:
			an empty body; the body cut in half and without its last byte; the body plus one
			byte; two bodies; an array, nil, a str or ASCII text instead of the map; under an
			unknown key: 0xc1, float32, float64, fixext1, a timestamp ext, negative fixint, int8
			and int64; a non-str map key; 17 levels of nesting (17 arrays, a uint inside 16 arrays,
			a map entry inside 15 arrays); array32, map32, bin32 and str32
			headers claiming more than the body holds; a top-level map32 of 2^32-1 entries.
			Assert: malformed_request (400) each time, and "m" never exists (head 0).`,
	}, func(t *T) {
		ns := t.NewCollection()
		valid := t.exchangeBody(ns.Collection, nil, nil)
		for _, b := range structuralBad(valid) {
			t.Logf("body: %s", b.name)
			t.WantError(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: b.body}), protocol.CodeMalformed)
		}
		t.Unchanged(UserA, ns, "m", nil)
		t.SameHead(ns, 0)
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/malformed/every-endpoint", Level: MUST,
		Reqs: []string{"SP-4.1-4", "SP-3-3"},
		Desc: "every POST endpoint refuses malformed bodies with malformed_request",
		Procedure: `
			For /v1/collections, /v1/changes (and /v1/watch, /v1/conflicts, /v1/conflicts/resolve
			when announced): send the structurally malformed bodies of
			server/malformed/exchange-structural built around a valid body of that endpoint.
			Assert: malformed_request (400) each time.`,
	}, func(t *T) {
		ns := t.NewCollection()
		bodies := map[string][]byte{
			protocol.PathCollections: {0x80},
			protocol.PathChanges:     t.Marshal(protocol.ChangesRequest{Collection: ns.Collection}),
		}
		if t.HasFeature(protocol.FeatureWatch) {
			bodies[protocol.PathWatch] = t.Marshal(protocol.WatchRequest{Cursors: map[string]string{ns.Collection: ""}, TimeoutMillis: 1})
		}
		if t.HasFeature(protocol.FeatureConflicts) {
			bodies[protocol.PathConflicts] = t.Marshal(protocol.ConflictsRequest{Collection: ns.Collection})
			bodies[protocol.PathResolve] = t.Marshal(protocol.ResolveRequest{Collection: ns.Collection, ID: "x"})
		}
		for _, p := range sortedPaths(bodies) {
			for _, b := range structuralBad(bodies[p]) {
				if len(bodies[p]) < 2 && strings.HasPrefix(b.name, "a body cut") {
					continue
				}
				t.Logf("%s: %s", p, b.name)
				t.WantError(t.Do(Request{Path: p, As: UserA, Body: b.body}), protocol.CodeMalformed)
			}
		}
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/malformed/wrong-types", Level: MUST,
		Reqs: []string{"SP-4.1-4", "SP-9-2"},
		Desc: "a known key with a value of the wrong msgpack family is malformed_request and applies nothing",
		Procedure: `
			Send the valid exchange with one value replaced: collection an integer; uploads a
			map; uploads a str; downloads a str; an upload that is an array; upload base a str;
			seen a bool; hlc a bin; deleted the integer 1; fp an array; content an integer;
			base a negative fixint; hlc a negative int64; hlc a float64. Also /v1/changes with
			limit a str and cursor an integer. Assert: malformed_request (400) each time; "m"
			never exists.`,
	}, func(t *T) {
		ns := t.NewCollection()
		type variant struct {
			name    string
			top, up map[string][]byte
		}
		for _, v := range []variant{
			{"collection an integer", map[string][]byte{"collection": mUint(5)}, nil},
			{"uploads a map", map[string][]byte{"uploads": mMap()}, nil},
			{"uploads a str", map[string][]byte{"uploads": mStr("x")}, nil},
			{"downloads a str", map[string][]byte{"downloads": mStr("x")}, nil},
			{"an upload that is an array", map[string][]byte{"uploads": mArr(mArr())}, nil},
			{"base a str", nil, map[string][]byte{"base": mStr("1")}},
			{"seen a bool", nil, map[string][]byte{"seen": mBool(true)}},
			{"hlc a bin", nil, map[string][]byte{"hlc": mBin([]byte{1})}},
			{"deleted an integer", nil, map[string][]byte{"deleted": mUint(1)}},
			{"fp an array", nil, map[string][]byte{"fp": mArr(mUint(1), mUint(2))}},
			{"content an integer", nil, map[string][]byte{"content": mUint(7)}},
			{"base a negative fixint", nil, map[string][]byte{"base": {0xff}}},
			{"hlc a negative int64", nil, map[string][]byte{"hlc": {0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}}},
			{"hlc a float64", nil, map[string][]byte{"hlc": {0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}}},
		} {
			t.Logf("exchange: %s", v.name)
			t.WantError(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: t.exchangeBody(ns.Collection, v.top, v.up)}), protocol.CodeMalformed)
		}
		t.Unchanged(UserA, ns, "m", nil)
		for _, body := range [][]byte{
			mMap(kv{"collection", mStr(ns.Collection)}, kv{"cursor", mStr("")}, kv{"limit", mStr("10")}),
			mMap(kv{"collection", mStr(ns.Collection)}, kv{"cursor", mUint(3)}, kv{"limit", mUint(0)}),
		} {
			t.WantError(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: body}), protocol.CodeMalformed)
		}
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/malformed/non-canonical-accepted", Level: MUST,
		Reqs: []string{"SP-4.1-3", "SP-13-2", "SP-13-3", "SP-4.1-6"},
		Desc: "non-canonical encodings, nil values, absent and unknown keys are accepted",
		Procedure: `
			Send an exchange whose keys are in reverse order, with the collection as str8, base as
			uint64 (cf), seen as a signed int8 0 (d0 00), hlc as int64 (d3), fp as bin16,
			uploads as array16, deleted as nil, cursor absent, downloads nil, and unknown keys
			holding a map, an array and a uint (and a nested unknown key in the upload). Then a
			change-info request with limit nil and an unknown key. Assert: 200; the upload is
			applied and listed with its fingerprint.`,
	}, func(t *T) {
		ns := t.NewCollection()
		content := []byte("non-canonical")
		fp := FP("nc", false, content)
		hlc := t.HLC(0)
		up := raw([]byte{0x88},
			mStr("future_key"), mMap(kv{"a", mUint(1)}),
			mStr("content"), mBin(content),
			mStr("deleted"), mNil,
			mStr("hlc"), raw([]byte{0xd3}, mUint(hlc)[1:]),
			mStr("fp"), raw([]byte{0xc5, 0x00, 0x20}, fp),
			mStr("seen"), []byte{0xd0, 0x00},
			mStr("base"), []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 0},
			mStr("id"), raw([]byte{0xd9, 2}, []byte("nc")),
		)
		body := raw([]byte{0x87},
			mStr("zz_unknown"), mArr(mUint(1), mStr("x"), mMap()),
			mStr("downloads"), mNil,
			mStr("uploads"), raw([]byte{0xdc, 0x00, 0x01}, up),
			mStr("batch_id"), mStr(NewBatchID()),
			mStr("collection"), raw([]byte{0xd9, byte(len(ns.Collection))}, []byte(ns.Collection)),
			mStr("another_unknown"), mUint(123456),
			mStr("empty_unknown"), mMap(),
		)
		var resp protocol.ExchangeResponse
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body}), &resp)
		t.Check(len(resp.Results) == 1, "one result", "%d", len(resp.Results))
		t.WantStatus(resp.Results[0], protocol.StatusApplied)
		var p protocol.ChangesResponse
		t.OK(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: mMap(kv{"limit", mNil}, kv{"collection", mStr(ns.Collection)}, kv{"x", mBool(true)})}), &p)
		t.Check(len(p.Changes) == 1 && bytes.Equal(p.Changes[0].FP, fp) && p.Changes[0].HLC == hlc, "the upload listed with its fp and hlc", "%s", brief(p.Changes))
	})

	serverCase(Case{
		Hostile: 1,
		ID:      "server/malformed/duplicate-key", Level: MUST,
		Reqs: []string{"SP-4.1-5"},
		Desc: "a map with a repeated key is refused as malformed or read with its last occurrence",
		Procedure: `
			POST /v1/changes {collection: "Not Valid!", collection: <fresh valid name>}. Assert:
			either malformed_request or 200 (the last occurrence used); never
			invalid_collection (which would mean the first occurrence was used).`,
	}, func(t *T) {
		ns := t.NewCollection()
		r := t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: mMap(kv{"collection", mStr("Not Valid!")}, kv{"collection", mStr(ns.Collection)})})
		if r.Status == http.StatusOK {
			t.OK(r, &protocol.ChangesResponse{})
			return
		}
		t.WantError(r, protocol.CodeMalformed)
	})

	serverCase(Case{
		Hostile: 2,
		ID:      "server/malformed/integer-overflow-controlled", Level: MUST,
		Reqs: []string{"SP-4.1-7", "SP-9-2"},
		Desc: "an integer above its type's range never causes an uncontrolled failure",
		Procedure: `
			POST /v1/changes with limit = 2^40 and 2^64-1 (limit is an int of at most 2^31-1);
			an exchange whose upload base is 2^64-1 is in range (uint) and is stale. Assert: the
			server answers every request with a msgpack response of status 200 or 4xx (never
			5xx, never a dropped connection); the base of 2^64-1 gives stale.`,
	}, func(t *T) {
		ns := t.NewCollection()
		for _, v := range []uint64{1 << 40, 1<<64 - 1} {
			r, err := t.TryDo(Request{Path: protocol.PathChanges, As: UserA, Body: mMap(kv{"collection", mStr(ns.Collection)}, kv{"limit", mUint(v)})})
			t.Check(err == nil, "a response", "%v", err)
			t.Check(r.Status < 500 && (r.Status == 200 || r.Err != nil), "200 or a 4xx Error", "status %d %s", r.Status, describeErr(r))
		}
		var resp protocol.ExchangeResponse
		t.OK(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: t.exchangeBody(ns.Collection, nil, map[string][]byte{"seen": mUint(1<<64 - 1)})}), &resp)
		t.WantStatus(resp.Results[0], protocol.StatusStale)
	})

	serverCase(Case{
		Hostile: 2,
		ID:      "server/malformed/integer-overflow-refused", Level: SHOULD,
		Reqs: []string{"SP-4.1-7"},
		Desc: "an integer above its type's range is refused as malformed_request",
		Procedure: `
			POST /v1/changes with limit = 2^40 (limit is an int of at most 2^31-1). Assert:
			malformed_request.`,
	}, func(t *T) {
		ns := t.NewCollection()
		t.WantError(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: mMap(kv{"collection", mStr(ns.Collection)}, kv{"limit", mUint(1 << 40)})}), protocol.CodeMalformed)
	})

	serverCase(Case{
		ID: "server/validate/item-ids", Level: MUST,
		Reqs: []string{"SP-2-2", "SP-6.3-2", "SP-9-7", "SP-4.1-9"},
		Desc: "upload and download IDs outside SP-2-2 are invalid_id naming the ID (as valid UTF-8 of at most 256 bytes), and apply nothing",
		Procedure: `
			Upload (alone, plus a valid "ok" before it) each of: "" ; 257 bytes; invalid UTF-8
			"a\xff"; a truncated UTF-8 sequence "\xe6\x97"; "a\nb"; "\x00"; "a\x7f". Then download
			each. Assert: invalid_id (400) with ids = [the ID as SP-9-7 lists it: invalid UTF-8
			runs replaced by U+FFFD, cut to at most 256 bytes at a character boundary; no ids
			check for ""], and "ok" never exists. Valid edge IDs are accepted: 256
			bytes, "Zürich/東京", "🚀", "é" precomposed and decomposed as two items, "A" and "a" as
			two items.`,
	}, func(t *T) {
		ns := t.NewCollection()
		long := strings.Repeat("x", 255) + "éy"
		for _, id := range []string{"", long, "a\xff", "\xe6\x97", "a\nb", "\x00", "a\x7f", "tab\there"} {
			want := []string{listedID(id)}
			r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
				Uploads: []protocol.Upload{Up("ok", 0, 0, t.HLC(0), "x"), Up(id, 0, 0, t.HLC(0), "x")}})
			e := t.WantError(r, protocol.CodeInvalidID)
			if id != "" {
				t.Equal(fmt.Sprintf("ids of invalid_id for %q", id), want, e.IDs)
			}
			r = t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Downloads: []string{"fine", id}})
			e = t.WantError(r, protocol.CodeInvalidID)
			if id != "" {
				t.Equal(fmt.Sprintf("ids of invalid_id for download %q", id), want, e.IDs)
			}
		}
		t.Unchanged(UserA, ns, "ok", nil)
		good := []string{strings.Repeat("é", 128), "Zürich/東京", "🚀", "\u00e9", "e\u0301", "A", "a", " spaces ok "}
		for _, id := range good {
			t.WantStatus(t.Upload(UserA, ns, Up(id, 0, 0, t.HLC(0), id))[0], protocol.StatusApplied)
		}
		t.Equal("head (every valid ID a separate item)", uint64(len(good)), t.Head(UserA, ns.Collection))
	})

	serverCase(Case{
		ID: "server/validate/batch-id", Level: MUST,
		Reqs: []string{"SP-6.4-1", "SP-6.3-2"},
		Desc: "batch IDs outside 16 to 64 characters of A-Z a-z 0-9 - _ are malformed_request",
		Procedure: `
			Exchanges uploading "m" with batch_id "", 15 characters, 65 characters, 22 characters
			with ".", "=", "+", "/", a space or "é". Assert: malformed_request (400); "m" never
			exists. Batch IDs of exactly 16 and 64 characters are accepted.`,
	}, func(t *T) {
		ns := t.NewCollection()
		base := NewBatchID()
		for _, b := range []string{"", strings.Repeat("a", 15), strings.Repeat("a", 65), base[:21] + ".", base[:21] + "=", base[:21] + "+", base[:21] + "/", base[:21] + " ", base[:20] + "é"} {
			r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: b, Uploads: []protocol.Upload{Up("m", 0, 0, t.HLC(0), "x")}})
			t.WantError(r, protocol.CodeMalformed)
		}
		t.Unchanged(UserA, ns, "m", nil)
		for _, n := range []int{16, 64} {
			b := (RandomName(64) + "-_AZ")[:n]
			t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: b})
		}
	})

	serverCase(Case{
		ID: "server/validate/duplicate-ids", Level: MUST,
		Reqs: []string{"SP-6.3-2", "SP-9-7", "SP-6.3-1"},
		Desc: "an ID twice in uploads or in downloads is duplicate_id naming it; an ID in both lists is fine",
		Procedure: `
			Exchange uploading a, b, a: duplicate_id, ids [a], nothing applied. Exchange
			downloading x, y, y: duplicate_id, ids [y]. Exchange uploading c and downloading c:
			200.`,
	}, func(t *T) {
		ns := t.NewCollection()
		r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
			Uploads: []protocol.Upload{Up("a", 0, 0, t.HLC(0), "1"), Up("b", 0, 0, t.HLC(0), "2"), Up("a", 0, 0, t.HLC(0), "3")}})
		t.WantErrorIDs(r, protocol.CodeDuplicateID, "a")
		t.SameHead(ns, 0)
		r = t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Downloads: []string{"x", "y", "y"}})
		t.WantErrorIDs(r, protocol.CodeDuplicateID, "y")
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{Up("c", 0, 0, t.HLC(0), "c")}, Downloads: []string{"c"}})
		t.WantStatus(resp.Results[0], protocol.StatusApplied)
	})

	serverCase(Case{
		ID: "server/validate/upload-shape", Level: MUST,
		Reqs: []string{"SP-4.2-3", "SP-2-3", "SP-6.3-2", "SP-9-7"},
		Desc: "an fp that is not 32 bytes, or a tombstone with content, is malformed_request naming the upload",
		Procedure: `
			Exchanges with a valid "ok" upload followed by: "f" with a 31-byte fp; "g" with a
			33-byte fp; "h" with an empty fp; "t", a deletion with content "x" (and the
			fingerprint of a tombstone). Assert: malformed_request (400) with ids = [that ID];
			"ok" never exists.`,
	}, func(t *T) {
		ns := t.NewCollection()
		mk := func(id string, fp []byte) protocol.Upload {
			u := Up(id, 0, 0, t.HLC(0), "x")
			u.FP = fp
			return u
		}
		tomb := Del("t", 0, 0, t.HLC(0))
		tomb.Content = []byte("x")
		for _, u := range []protocol.Upload{mk("f", make([]byte, 31)), mk("g", make([]byte, 33)), mk("h", []byte{}), tomb} {
			r := t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
				Uploads: []protocol.Upload{Up("ok", 0, 0, t.HLC(0), "x"), u}})
			t.WantErrorIDs(r, protocol.CodeMalformed, u.ID)
		}
		t.Unchanged(UserA, ns, "ok", nil)
	})

	serverCase(Case{
		ID: "server/validate/exchange-order", Level: MUST,
		Reqs: []string{"SP-6.3-2", "SP-3-3"},
		Desc: "exchange validation reports the first failing step in the order of SP-6.3-2",
		Procedure: `
			Requests failing two steps at once: bad collection + bad batch ID: invalid_collection;
			bad batch ID + too many uploads: malformed_request; too many uploads + an invalid ID:
			too_many_items; too many downloads + an invalid upload ID: too_many_items; an invalid
			upload ID after a duplicate upload ID: duplicate_id (request order); an invalid
			download ID + an invalid upload ID: invalid_id for the upload; a duplicate download +
			a 31-byte fp: duplicate_id; a 31-byte fp + a fingerprint mismatch: malformed_request;
			an oversized item + a fingerprint mismatch: item_too_large. Nothing is applied.`,
	}, func(t *T) {
		ns := t.NewCollection()
		l := t.info.Limits
		ok := func(id string) protocol.Upload { return Up(id, 0, 0, t.HLC(0), "x") }
		many := func(n int) []protocol.Upload {
			out := make([]protocol.Upload, n)
			for i := range out {
				out[i] = ok(fmt.Sprintf("u%d", i))
			}
			return out
		}
		manyIDs := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("d%d", i)
			}
			return out
		}
		short := ok("short")
		short.FP = short.FP[:31]
		mismatch := ok("mm")
		mismatch.FP = FP("mm", false, []byte("y"))
		big := Up("big", 0, 0, t.HLC(0), strings.Repeat("b", l.MaxItemBytes+1))
		for _, c := range []struct {
			name string
			req  protocol.ExchangeRequest
			code protocol.Code
			ids  []string
		}{
			{"bad collection, bad batch", protocol.ExchangeRequest{Collection: "BAD", BatchID: "x", Uploads: []protocol.Upload{ok("a")}}, protocol.CodeInvalidCollection, nil},
			{"bad batch, too many uploads", protocol.ExchangeRequest{Collection: ns.Collection, BatchID: "x", Uploads: many(l.MaxBatchItems + 1)}, protocol.CodeMalformed, nil},
			{"too many uploads, invalid ID", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: append(many(l.MaxBatchItems), ok("bad\x01"))}, protocol.CodeTooManyItems, nil},
			{"too many downloads, invalid upload ID", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{ok("bad\x01")}, Downloads: manyIDs(l.MaxIDs + 1)}, protocol.CodeTooManyItems, nil},
			{"duplicate before invalid", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{ok("a"), ok("a"), ok("bad\x01")}}, protocol.CodeDuplicateID, []string{"a"}},
			{"invalid download, invalid upload", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{ok("up\x01")}, Downloads: []string{"down\x01"}}, protocol.CodeInvalidID, []string{"up\x01"}},
			{"duplicate download, short fp", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{short}, Downloads: []string{"q", "q"}}, protocol.CodeDuplicateID, []string{"q"}},
			{"short fp, mismatch", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{mismatch, short}}, protocol.CodeMalformed, []string{"short"}},
			{"oversized item, mismatch", protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{mismatch, big}}, protocol.CodeItemTooLarge, []string{"big"}},
		} {
			if c.req.BatchID == "" {
				c.req.BatchID = NewBatchID()
			}
			t.Logf("step order: %s", c.name)
			r := t.Post(UserA, protocol.PathExchange, c.req)
			if c.ids != nil {
				t.WantErrorIDs(r, c.code, c.ids...)
			} else {
				t.WantError(r, c.code)
			}
		}
		t.SameHead(ns, 0)
	})
}

// listedID is an ID as an error's ids lists it [SP-9-7]: every maximal run
// of invalid UTF-8 replaced by U+FFFD, then cut to at most 256 bytes at a
// character boundary.
func listedID(id string) string {
	s := strings.ToValidUTF8(id, "\uFFFD")
	if len(s) <= protocol.MaxIDBytes {
		return s
	}
	cut := protocol.MaxIDBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func init() {
	serverCase(Case{
		ID: "server/validate/invalid-utf8-by-field", Level: MUST,
		Reqs: []string{"SP-4.1-9", "SP-9-7", "SP-6.3-9"},
		Desc: "invalid UTF-8 in a str is refused with the code of its field, never as malformed by itself",
		Procedure: `
			With the str bytes "a\xff": /v1/changes collection: invalid_collection; cursor:
			invalid_cursor; exchange collection: invalid_collection; batch_id (22 bytes with 0xff):
			malformed_request; a download ID: invalid_id with ids ["a\uFFFD"]; the exchange's
			cursor: 200, echoed byte for byte; an unknown key whose name and value are invalid
			UTF-8: ignored (200). When announced: a watch key: invalid_collection; a watch cursor:
			invalid_cursor; a resolution's id: invalid_id; a close ID: not_found with ids
			["a\uFFFD"].`,
	}, func(t *T) {
		ns := t.NewCollection()
		bad := "a\xff"
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: bad}), protocol.CodeInvalidCollection)
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: bad}), protocol.CodeInvalidCursor)
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: bad, BatchID: NewBatchID()}), protocol.CodeInvalidCollection)
		t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID()[:21] + "\xff"}), protocol.CodeMalformed)
		t.WantErrorIDs(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Downloads: []string{bad}}), protocol.CodeInvalidID, "a\uFFFD")
		resp := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: bad})
		t.Equal("the exchange's cursor echoed as sent", bad, resp.Cursor)
		body := raw([]byte{0x82}, mStr("collection"), mStr(ns.Collection), mStr("\xfe\xff"), mStr("\xc3\x28"))
		t.OK(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: body}), &protocol.ChangesResponse{})
		if t.HasFeature(protocol.FeatureWatch) {
			t.WantError(t.Post(UserA, protocol.PathWatch, protocol.WatchRequest{Cursors: map[string]string{bad: ""}, TimeoutMillis: 1}), protocol.CodeInvalidCollection)
			t.WantError(t.Post(UserA, protocol.PathWatch, protocol.WatchRequest{Cursors: map[string]string{ns.Collection: bad}, TimeoutMillis: 1}), protocol.CodeInvalidCursor)
		}
		if t.HasFeature(protocol.FeatureConflicts) {
			t.WantError(t.Post(UserA, protocol.PathResolve, protocol.ResolveRequest{Collection: ns.Collection, ID: bad}), protocol.CodeInvalidID)
			t.WantErrorIDs(t.Post(UserA, protocol.PathResolve, protocol.ResolveRequest{Collection: ns.Collection, ID: "x", Close: []string{bad}}), protocol.CodeNotFound, "a\uFFFD")
		}
	})
}
