package serverd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/internal/fuzzseed"
	"github.com/syncprint/syncprint/protocol"
)

// TestFuzzSeedsAreUpToDate keeps testdata/fuzz/*/seed-* in step with the
// seeds listed here (SYNCPRINT_UPDATE_FUZZ_SEEDS=1 rewrites them).
func TestFuzzSeedsAreUpToDate(t *testing.T) {
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{
		"FuzzHandler":       handlerSeeds(t),
		"FuzzVersionHeader": versionSeeds(),
		"FuzzServeRawHTTP":  rawHTTPSeeds(t),
		"FuzzCursorIssue": {
			{Name: "zero", Args: []any{"alice", "notes", uint64(0)}},
			{Name: "max", Args: []any{"a", "n", uint64(1<<64 - 1)}},
			{Name: "long names", Args: []any{strings.Repeat("u", 64), strings.Repeat("c", 64), uint64(12345)}},
		},
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := protocol.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seedUpload(id, content string, base, seen uint64) protocol.Upload {
	return protocol.Upload{ID: id, Base: base, Seen: seen, FP: fingerprint.Of(id, false, []byte(content)).Bytes(), HLC: 1 << 56, Content: []byte(content)}
}

// specBodies returns the spec's message (or malformed) vectors of the
// given types, by name.
func specBodies(t *testing.T, file, list string, types ...string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "spec", "vectors", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Name, Type, File string }
	if err := json.Unmarshal(doc[list], &entries); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		for _, typ := range types {
			if e.Type == typ && e.File != "" {
				body, err := os.ReadFile(filepath.Join("..", "spec", "vectors", e.File))
				if err != nil {
					t.Fatal(err)
				}
				out[e.Name] = body
			}
		}
	}
	return out
}

func handlerSeeds(t *testing.T) []fuzzseed.Seed {
	type req struct {
		name, method, path, version string
		noVersion                   bool
		auth                        byte
		authRaw, encoding           string
		body                        []byte
	}
	post := func(name, path string, auth byte, body []byte) req {
		return req{name: name, method: "POST", path: path, version: "1", auth: auth, body: body}
	}
	enc := func(v any) []byte { return mustMarshal(t, v) }
	encoder, err := coding.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	encode := func(c string, b []byte) []byte {
		out, err := encoder.Encode(c, nil, b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	exchange := func(coll, batch string, ups []protocol.Upload, downloads ...string) []byte {
		return enc(&protocol.ExchangeRequest{Collection: coll, BatchID: batch, Uploads: ups, Downloads: downloads})
	}
	badFP := seedUpload("n", "new", 0, 0)
	badFP.FP[0] ^= 1
	put := seedUpload("x", "resolved", 0, 1)
	reqs := []req{
		{name: "info anonymous", method: "GET", path: protocol.PathInfo, noVersion: true},
		{name: "info with a token", method: "GET", path: protocol.PathInfo, auth: fuzzAuthAlice, noVersion: true},
		{name: "info with the admin token", method: "GET", path: protocol.PathInfo, auth: fuzzAuthAdmin, noVersion: true},
		post("collections", protocol.PathCollections, fuzzAuthAlice, enc(&protocol.CollectionsRequest{})),
		post("changes from the start", protocol.PathChanges, fuzzAuthAlice, enc(&protocol.ChangesRequest{Collection: "notes"})),
		post("changes from a cursor", protocol.PathChanges, fuzzAuthAlice, enc(&protocol.ChangesRequest{Collection: "notes", Cursor: fuzzCursor, Limit: 3})),
		post("changes over max_page", protocol.PathChanges, fuzzAuthAlice, enc(&protocol.ChangesRequest{Collection: "notes", Limit: 9})),
		post("changes with bob's cursor", protocol.PathChanges, fuzzAuthBob, enc(&protocol.ChangesRequest{Collection: "notes", Cursor: fuzzCursor})),
		post("changes with a bad collection", protocol.PathChanges, fuzzAuthAlice, enc(&protocol.ChangesRequest{Collection: "Notes"})),
		post("exchange upload and download", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "seed-batch-0000001", []protocol.Upload{seedUpload("n", "new", 0, 0)}, "a", "b", "zz")),
		post("exchange with a cursor", protocol.PathExchange, fuzzAuthAlice, enc(&protocol.ExchangeRequest{Collection: "notes", BatchID: "seed-batch-0000002", Cursor: fuzzCursor, Uploads: []protocol.Upload{seedUpload("a", "alpha2", 1, 1)}})),
		post("exchange manual conflict", protocol.PathExchange, fuzzAuthAlice, exchange("m", "seed-batch-0000003", []protocol.Upload{seedUpload("x", "other", 0, 1)})),
		post("exchange stale", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "seed-batch-0000004", []protocol.Upload{seedUpload("b", "b2", 0, 0)})),
		post("exchange client-wins", protocol.PathExchange, fuzzAuthBob, exchange("c", "seed-batch-0000005", []protocol.Upload{seedUpload("k", "v", 0, 0)})),
		post("exchange bad fingerprint", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "seed-batch-0000006", []protocol.Upload{badFP})),
		post("exchange duplicate ids", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "seed-batch-0000007", nil, "a", "a")),
		post("exchange short batch id", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "short", nil, "a")),
		post("exchange too many downloads", protocol.PathExchange, fuzzAuthAlice, exchange("notes", "seed-batch-0000008", nil, "1", "2", "3", "4", "5", "6", "7", "8", "9")),
		post("watch", protocol.PathWatch, fuzzAuthAlice, enc(&protocol.WatchRequest{Cursors: map[string]string{"notes": fuzzCursor, "m": ""}, TimeoutMillis: 1})),
		post("watch with a bad cursor", protocol.PathWatch, fuzzAuthAlice, enc(&protocol.WatchRequest{Cursors: map[string]string{"notes": "1.x"}})),
		post("conflicts", protocol.PathConflicts, fuzzAuthAlice, enc(&protocol.ConflictsRequest{})),
		post("conflicts of one collection", protocol.PathConflicts, fuzzAuthAlice, enc(&protocol.ConflictsRequest{Collection: "m"})),
		post("resolve close", protocol.PathResolve, fuzzAuthAlice, enc(&protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{fuzzConflict}})),
		post("resolve with put", protocol.PathResolve, fuzzAuthAlice, enc(&protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{fuzzConflict}, Put: &put})),
		post("resolve unknown record", protocol.PathResolve, fuzzAuthBob, enc(&protocol.ResolveRequest{Collection: "m", ID: "x", Close: []string{fuzzConflict}})),
		post("admin token", protocol.PathAdminTokens, fuzzAuthAdmin, enc(&protocol.TokenRequest{User: "carol", Device: "d1"})),
		post("admin token with a user token", protocol.PathAdminTokens, fuzzAuthAlice, enc(&protocol.TokenRequest{User: "carol", Device: "d1"})),
		post("admin token with a bad name", protocol.PathAdminTokens, fuzzAuthAdmin, enc(&protocol.TokenRequest{User: "carol/x", Device: "d1"})),
		{name: "wrong method", method: "GET", path: protocol.PathExchange, version: "1", auth: fuzzAuthAlice},
		{name: "unknown method", method: "BREW", path: protocol.PathInfo},
		{name: "unknown path", method: "POST", path: "/v1/nothing", version: "1", auth: fuzzAuthAlice},
		{name: "trailing slash", method: "GET", path: "/v1/info/"},
		{name: "upper case path", method: "GET", path: "/V1/info"},
		{name: "double slash", method: "GET", path: "/v1//info"},
		{name: "dot segment", method: "GET", path: "/v1/./info"},
		{name: "percent-encoded path", method: "GET", path: "/v1/%69nfo"},
		{name: "query string", method: "GET", path: "/v1/info?x=1"},
		{name: "absolute form", method: "GET", path: "http://fuzz/v1/info"},
		{name: "missing version", method: "POST", path: protocol.PathCollections, noVersion: true, auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version 0", method: "POST", path: protocol.PathCollections, version: "0", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version 2", method: "POST", path: protocol.PathCollections, version: "2", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version with leading zeros", method: "POST", path: protocol.PathCollections, version: "0001", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version with a tab", method: "POST", path: protocol.PathCollections, version: "1\t", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version with inner space", method: "POST", path: protocol.PathCollections, version: "1 1", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version plus sign", method: "POST", path: protocol.PathCollections, version: "+1", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version of twenty digits", method: "POST", path: protocol.PathCollections, version: "00000000000000000001", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "version huge", method: "POST", path: protocol.PathCollections, version: "99999999999999999999999", auth: fuzzAuthAlice, body: []byte{0x80}},
		{name: "no token", method: "POST", path: protocol.PathCollections, version: "1", body: []byte{0x80}},
		{name: "lower-case bearer", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthRaw, authRaw: "bearer " + fuzzAlice, body: []byte{0x80}},
		{name: "basic scheme", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthRaw, authRaw: "Basic " + fuzzAlice, body: []byte{0x80}},
		{name: "unknown token", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthBearer, authRaw: "sp_" + strings.Repeat("A", 43), body: []byte{0x80}},
		{name: "malformed token", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthBearer, authRaw: "token", body: []byte{0x80}},
		{name: "gzip body that is not gzip", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthAlice, encoding: "gzip", body: []byte{0x80}},
		{name: "gzip body", method: "POST", path: protocol.PathChanges, version: "1", auth: fuzzAuthAlice, encoding: "gzip", body: encode(coding.Gzip, enc(&protocol.ChangesRequest{Collection: "notes"}))},
		{name: "zstd body", method: "POST", path: protocol.PathExchange, version: "1", auth: fuzzAuthAlice, encoding: "ZSTD", body: encode(coding.Zstd, exchange("notes", "seed-batch-0000009", []protocol.Upload{seedUpload("z", "zstd", 0, 0)}, "a"))},
		{name: "zstd bomb", method: "POST", path: protocol.PathChanges, version: "1", auth: fuzzAuthAlice, encoding: "zstd", body: encode(coding.Zstd, make([]byte, 4*fuzzLimits.MaxBodyBytes))},
		{name: "two codings", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthAlice, encoding: "gzip, zstd", body: []byte{0x80}},
		{name: "unknown coding", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthAlice, encoding: "br", body: []byte{0x80}},
		{name: "identity coding", method: "POST", path: protocol.PathCollections, version: "1", auth: fuzzAuthAlice, encoding: "identity, IDENTITY", body: []byte{0x80}},
		post("body over max_body_bytes", protocol.PathCollections, fuzzAuthAlice, bytes.Repeat([]byte{0xc1}, fuzzLimits.MaxBodyBytes+1)),
	}
	for path, typ := range map[string]string{
		protocol.PathCollections: "CollectionsRequest", protocol.PathChanges: "ChangesRequest", protocol.PathExchange: "ExchangeRequest",
		protocol.PathWatch: "WatchRequest", protocol.PathConflicts: "ConflictsRequest", protocol.PathResolve: "ResolveRequest",
	} {
		for name, body := range specBodies(t, "messages.json", "messages", typ) {
			reqs = append(reqs, post("spec "+name, path, fuzzAuthAlice, body))
		}
	}
	for name, body := range specBodies(t, "messages.json", "messages", "TokenRequest") {
		reqs = append(reqs, post("spec "+name, protocol.PathAdminTokens, fuzzAuthAdmin, body))
	}
	for name, body := range specBodies(t, "malformed.json", "malformed", "ChangesRequest") {
		reqs = append(reqs, post("malformed "+name, protocol.PathChanges, fuzzAuthAlice, body))
	}
	for name, body := range specBodies(t, "malformed.json", "malformed", "ExchangeRequest") {
		reqs = append(reqs, post("malformed "+name, protocol.PathExchange, fuzzAuthAlice, body))
	}
	seeds := make([]fuzzseed.Seed, 0, len(reqs))
	for _, r := range reqs {
		seeds = append(seeds, fuzzseed.Seed{Name: r.name, Args: []any{r.method, r.path, r.version, r.noVersion, r.auth, r.authRaw, r.encoding, r.body}})
	}
	return seeds
}

func versionSeeds() []fuzzseed.Seed {
	var seeds []fuzzseed.Seed
	for i, v := range []string{"", "1", "0", "2", "01", "0001", " 1", "1\t", "+1", "-1", "1.0", "1e0", "abc", "1 1", "00000000000000000001", "18446744073709551617"} {
		seeds = append(seeds, fuzzseed.Seed{Name: fmt.Sprintf("%02d", i), Args: []any{v}})
	}
	return seeds
}

func rawHTTPSeeds(t *testing.T) []fuzzseed.Seed {
	valid := func(method, path string, auth string, body []byte) []byte {
		r := &fuzzRequest{method: method, path: path, version: "1", auth: fuzzAuthRaw, authRaw: auth, body: body}
		if auth == "" {
			r.auth = fuzzAuthNone
		}
		return r.raw()
	}
	return []fuzzseed.Seed{
		{Name: "info", Args: []any{valid("GET", protocol.PathInfo, "", nil)}},
		{Name: "collections", Args: []any{valid("POST", protocol.PathCollections, "Bearer "+fuzzAlice, []byte{0x80})}},
		{Name: "changes", Args: []any{valid("POST", protocol.PathChanges, "Bearer "+fuzzAlice, mustMarshal(t, &protocol.ChangesRequest{Collection: "notes"}))}},
		{Name: "two pipelined requests", Args: []any{append(valid("GET", protocol.PathInfo, "", nil), valid("POST", protocol.PathCollections, "Bearer "+fuzzAlice, []byte{0x80})...)}},
		{Name: "body over the limit", Args: []any{valid("POST", protocol.PathCollections, "Bearer "+fuzzAlice, bytes.Repeat([]byte{0x80}, fuzzLimits.MaxBodyBytes+1))}},
		{Name: "content-length over the limit", Args: []any{[]byte("POST /v1/changes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n\x80")}},
		{Name: "chunked", Args: []any{[]byte("POST /v1/collections HTTP/1.1\r\nHost: x\r\nSyncprint-Version: 1\r\nAuthorization: Bearer " + fuzzAlice + "\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\x80\r\n0\r\n\r\n")}},
		{Name: "garbage", Args: []any{[]byte("hello, world\r\n\r\n")}},
		{Name: "accept-encoding", Args: []any{[]byte("POST /v1/changes HTTP/1.1\r\nHost: x\r\nSyncprint-Version: 1\r\nAccept-Encoding: gzip\r\nAuthorization: Bearer " + fuzzAlice + "\r\nContent-Length: 20\r\n\r\n\x81\xaacollection\xa5notes\x00\x00")}},
		{Name: "http 1.0", Args: []any{[]byte("GET /v1/info HTTP/1.0\r\n\r\n")}},
		{Name: "header without colon", Args: []any{[]byte("GET /v1/info HTTP/1.1\r\nHost x\r\n\r\n")}},
	}
}
