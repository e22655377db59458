package clientd

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/syncprint/syncprint/internal/fuzzseed"
	"github.com/syncprint/syncprint/protocol"
)

// FuzzStoreMsgpackRecords decodes arbitrary bytes as each msgpack record
// the store keeps (local conflict, server conflict, history entry): a
// record decodes or fails with errCorrupt, and a decoded record encodes
// and decodes back to itself (the history encoder to Marshal's bytes).
func FuzzStoreMsgpackRecords(f *testing.F) {
	f.Fuzz(func(t *testing.T, v []byte) {
		check := func(rec any, again func() any) {
			t.Helper()
			if err := unmarshal(v, rec); err != nil {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("%T: %v is not errCorrupt", rec, err)
				}
				return
			}
			b, err := marshal(rec)
			if err != nil {
				t.Fatalf("%T: %v", rec, err)
			}
			rec2 := again()
			if err := unmarshal(b, rec2); err != nil || !reflect.DeepEqual(rec, rec2) {
				t.Fatalf("%T round trip: %v\n got %#v\nwant %#v", rec, err, rec2, rec)
			}
		}
		check(new(localConflict), func() any { return new(localConflict) })
		check(new(protocol.Conflict), func() any { return new(protocol.Conflict) })
		var h historyRecord
		check(&h, func() any { return new(historyRecord) })
		if unmarshal(v, &h) == nil {
			want, _ := marshal(&h)
			if got := appendHistoryRecord(nil, &h); !bytes.Equal(got, want) {
				t.Fatalf("appendHistoryRecord %x, Marshal %x", got, want)
			}
		}
	})
}

// FuzzErrorFromResponse: any status, Retry-After and body make a
// *protocol.Error (or an ErrNetwork for a status without a code), never
// a panic, with a Retry-After of zero or more seconds.
func FuzzErrorFromResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, status uint16, retryAfter string, body []byte) {
		resp := &http.Response{StatusCode: int(status), Status: strconv.Itoa(int(status)), Header: http.Header{}}
		if retryAfter != "" {
			resp.Header.Set(protocol.HeaderRetryAfter, retryAfter)
		}
		err := errorFromResponse(resp, body)
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe):
			if pe.Code == "" || pe.RetryAfterSeconds < 0 {
				t.Fatalf("error %#v", pe)
			}
		case errors.Is(err, ErrNetwork):
		default:
			t.Fatalf("errorFromResponse: %v", err)
		}
	})
}

func TestFuzzSeedsAreUpToDate(t *testing.T) {
	enc := func(v any) []byte {
		b, err := marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	errBody := enc(protocol.Errorf(protocol.CodeRateLimited, "slow down"))
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{
		"FuzzStoreMsgpackRecords": {
			{Name: "local conflict", Args: []any{enc(&localConflict{ConflictID: "c", Reason: "rejected", Collection: "notes", ID: "a", Content: []byte("x"), FP: make([]byte, 32), HLC: 1 << 50, Replica: "a/b", Base: 1, ServerVersion: 2, CreatedMS: 3})}},
			{Name: "server conflict", Args: []any{enc(&protocol.Conflict{ConflictID: "c", Collection: "m", ID: "x", Reason: protocol.ReasonManual, FP: make([]byte, 32), Content: []byte{}})}},
			{Name: "history", Args: []any{appendHistoryRecord(nil, &historyRecord{TimeMS: 1, Collection: "notes", ID: "a", FP: make([]byte, 32), Author: "a/b", Source: "local", HLC: 1 << 50})}},
			{Name: "history without fp", Args: []any{appendHistoryRecord(nil, &historyRecord{TimeMS: 1 << 40, ID: "a"})}},
			{Name: "empty map", Args: []any{[]byte{0x80}}},
			{Name: "garbage", Args: []any{[]byte("garbage")}},
		},
		"FuzzErrorFromResponse": {
			{Name: "rate limited", Args: []any{uint16(429), "3", errBody}},
			{Name: "http date", Args: []any{uint16(503), "Wed, 21 Oct 2015 07:28:00 GMT", []byte("<html>")}},
			{Name: "huge retry-after", Args: []any{uint16(429), "99999999999999999999", errBody}},
			{Name: "negative retry-after", Args: []any{uint16(429), "-5", errBody}},
			{Name: "proxy page", Args: []any{uint16(502), "", []byte("<html>bad gateway</html>")}},
			{Name: "unknown status", Args: []any{uint16(418), "", []byte{}}},
			{Name: "error without code", Args: []any{uint16(400), "", []byte{0x80}}},
		},
	})
}
