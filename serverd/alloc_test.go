package serverd

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/syncprint/syncprint/protocol"
)

// worstBodies builds request bodies of about n bytes that make a decoder
// allocate the most per byte: arrays and maps of the smallest elements,
// under known and unknown keys.
func worstBodies(n int) map[string]struct {
	path string
	body []byte
} {
	arr := func(key string, elem []byte) []byte {
		count := (n - 64) / len(elem)
		b := append([]byte{0x81}, byte(0xa0|len(key)))
		b = append(b, key...)
		b = binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(count))
		return append(b, bytes.Repeat(elem, count)...)
	}
	withColl := func(body []byte, kv ...string) []byte {
		body[0] = 0x80 | byte(1+len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			body = append(body, byte(0xa0|len(kv[i])))
			body = append(body, kv[i]...)
			body = append(body, byte(0xa0|len(kv[i+1])))
			body = append(body, kv[i+1]...)
		}
		return body
	}
	cursors := func() []byte {
		count := (n - 64) / 5
		b := append([]byte{0x81, 0xa7}, "cursors"...)
		b = binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(count))
		for i := 0; i < count; i++ {
			b = append(b, 0xa3, byte(i>>16), byte(i>>8), byte(i), 0xa0)
		}
		return b
	}
	type req = struct {
		path string
		body []byte
	}
	return map[string]req{
		"exchange: uploads of empty maps":        {protocol.PathExchange, withColl(arr("uploads", []byte{0x80}), "collection", "notes", "batch_id", "worst-batch-00001")},
		"exchange: uploads of nils":              {protocol.PathExchange, withColl(arr("uploads", []byte{0xc0}), "collection", "notes", "batch_id", "worst-batch-00002")},
		"exchange: downloads of empty strings":   {protocol.PathExchange, withColl(arr("downloads", []byte{0xa0}), "collection", "notes", "batch_id", "worst-batch-00003")},
		"exchange: unknown key of empty maps":    {protocol.PathExchange, withColl(arr("zz", []byte{0x80}), "collection", "notes", "batch_id", "worst-batch-00004")},
		"resolve: close of empty strings":        {protocol.PathResolve, withColl(arr("close", []byte{0xa0}), "collection", "m", "id", "x")},
		"resolve: close of nils":                 {protocol.PathResolve, withColl(arr("close", []byte{0xc0}), "collection", "m", "id", "x")},
		"watch: cursors of distinct collections": {protocol.PathWatch, cursors()},
		"changes: unknown key of empty arrays":   {protocol.PathChanges, withColl(arr("zz", []byte{0x90}), "collection", "notes")},
		"conflicts: unknown key of nils":         {protocol.PathConflicts, arr("zz", []byte{0xc0})},
		"collections: unknown key of maps":       {protocol.PathCollections, arr("zz", []byte{0x80})},
		"admin: unknown key of empty strings":    {protocol.PathAdminTokens, withColl(arr("zz", []byte{0xa0}), "user", "carol", "device", "d1")},
	}
}

// TestHandlerAllocationIsBoundedByTheBodySize sends, for every endpoint,
// the bodies that make a decoder allocate the most per byte, each just
// under max_body_bytes, and bounds the bytes the handler allocates by
// allocPerByte per body byte plus allocFixed. Length prefixes claiming
// more than the body holds allocate nothing.
//
// It found that the decoder materialised every entry of a list before
// validation refused the list as too long: a body of nil uploads made it
// allocate about 345 bytes per body byte (some 7 GB for a body of the
// default 20 MiB max_body_bytes), downloads, conflict IDs and watch
// cursors 15 to 90; lists are now cut past the limits while decoding
// (protocol.UnmarshalCapped).
func TestHandlerAllocationIsBoundedByTheBodySize(t *testing.T) {
	const maxBody = 128 << 10
	fs := newFuzzServerLimits(t, protocol.Limits{MaxBodyBytes: maxBody, WatchMaxMillis: 1})
	bodies := worstBodies(maxBody)
	bodies["exchange: uploads claiming 2^32-1 elements"] = struct {
		path string
		body []byte
	}{protocol.PathExchange, []byte{0x81, 0xa7, 'u', 'p', 'l', 'o', 'a', 'd', 's', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80}}
	bodies["changes: bin claiming 4 GiB"] = struct {
		path string
		body []byte
	}{protocol.PathChanges, []byte{0x81, 0xa6, 'c', 'u', 'r', 's', 'o', 'r', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x80}}
	for name, w := range bodies {
		t.Run(name, func(t *testing.T) {
			if len(w.body) > maxBody {
				t.Fatalf("body of %d bytes is over the limit", len(w.body))
			}
			auth := byte(fuzzAuthAlice)
			if w.path == protocol.PathAdminTokens {
				auth = fuzzAuthAdmin
			}
			r := &fuzzRequest{method: http.MethodPost, path: w.path, version: "1", auth: auth, body: w.body}
			resp := fs.serve(r.raw())
			checkResponse(t, r, resp)
			ratio := float64(resp.allocated) / float64(len(w.body))
			t.Logf("%d-byte body: %d bytes allocated (%.1f per byte), answer %d", len(w.body), resp.allocated, ratio, resp.status)
			if resp.allocated > uint64(allocPerByte*len(w.body))+allocFixed {
				t.Fatalf("allocated %d bytes for a %d-byte body: over %d per byte", resp.allocated, len(w.body), allocPerByte)
			}
		})
	}
}
