package protocol_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

func sampleExchange() protocol.ExchangeRequest {
	return protocol.ExchangeRequest{
		Collection: "notes",
		BatchID:    "AAAAAAAAAAAAAAAAAAAAAA",
		Uploads: []protocol.Upload{
			{ID: "a", Base: 1, Seen: 2, FP: bytes.Repeat([]byte{1}, 32), HLC: 1 << 20, Content: []byte("x")},
			{ID: "ü", Seen: 3, FP: bytes.Repeat([]byte{2}, 32), Deleted: true},
		},
		Downloads: []string{"b", "c"},
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	in := sampleExchange()
	b, err := protocol.Marshal(in)
	require.NoError(t, err)
	var out protocol.ExchangeRequest
	require.NoError(t, protocol.Unmarshal(b, &out))
	require.Equal(t, in, out)
	again, err := protocol.Marshal(out)
	require.NoError(t, err)
	require.Equal(t, b, again, "canonical encoding is stable")
}

func TestUnmarshalRejectsMalformedBodiesWithTheMalformedCode(t *testing.T) {
	good, err := protocol.Marshal(sampleExchange())
	require.NoError(t, err)
	cases := []struct {
		name string
		body []byte
	}{
		{"an empty body", nil},
		{"a truncated map", good[:len(good)/2]},
		{"bytes after the map", append(append([]byte{}, good...), 0xc0)},
		{"an array instead of a map", []byte{0x91, 0x01}},
		{"a string instead of a map", []byte{0xa1, 'x'}},
		{"a negative integer", []byte{0x81, 0xa4, 'b', 'a', 's', 'e', 0xff}},
		{"a float", []byte{0x81, 0xa4, 'b', 'a', 's', 'e', 0xca, 0, 0, 0, 0}},
		{"an ext type", []byte{0x81, 0xa1, 'x', 0xd4, 1, 1}},
		{"the reserved byte 0xc1", []byte{0x81, 0xa1, 'x', 0xc1}},
		{"a string where a list belongs", []byte{0x81, 0xa7, 'u', 'p', 'l', 'o', 'a', 'd', 's', 0xa1, 'x'}},
		{"a map claiming more entries than bytes", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"an array claiming more elements than bytes", []byte{0x81, 0xa1, 'x', 0xdd, 0x7f, 0xff, 0xff, 0xff}},
		{"nesting deeper than any message", append(bytes.Repeat([]byte{0x81, 0xa1, 'x'}, 40), 0xc0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out protocol.ExchangeRequest
			err := protocol.Unmarshal(tc.body, &out)
			require.Error(t, err)
			require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(err), "%v", err)
		})
	}
}

func TestUnmarshalIgnoresUnknownKeys(t *testing.T) {
	// {"collection": "n", "future": 1}
	body := []byte{0x82, 0xaa, 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o', 'n', 0xa1, 'n', 0xa6, 'f', 'u', 't', 'u', 'r', 'e', 0x01}
	var out protocol.ChangesRequest
	require.NoError(t, protocol.Unmarshal(body, &out))
	require.Equal(t, "n", out.Collection)
}

func TestEveryCodeHasAStatusAndOnlyTransientCodesAreRetryable(t *testing.T) {
	seen := map[protocol.Code]bool{}
	for _, c := range protocol.Codes {
		require.False(t, seen[c], "code %s listed twice", c)
		seen[c] = true
		require.GreaterOrEqual(t, c.HTTPStatus(), 400, c)
	}
	require.True(t, protocol.CodeRateLimited.Retryable())
	require.True(t, protocol.CodeUnavailable.Retryable())
	require.False(t, protocol.CodeFingerprintMismatch.Retryable())
	require.False(t, protocol.CodeMalformed.Retryable())
}

func TestValidation(t *testing.T) {
	for _, id := range []string{"a", "Zürich/東京", "🚀", string(bytes.Repeat([]byte{'x'}, protocol.MaxIDBytes))} {
		require.NoError(t, protocol.ValidateID(id), "%q", id)
	}
	for name, id := range map[string]string{
		"empty": "", "too long": string(bytes.Repeat([]byte{'x'}, protocol.MaxIDBytes+1)),
		"invalid UTF-8": "a\xff", "a control character": "a\nb", "DEL": "a\x7f",
	} {
		err := protocol.ValidateID(id)
		require.Equal(t, protocol.CodeInvalidID, protocol.CodeOf(err), name)
	}
	require.NoError(t, protocol.ValidateCollection("notes-2026.v1_x"))
	for _, c := range []string{"", "Notes", "-x", "a b", "a/b", string(bytes.Repeat([]byte{'a'}, 65))} {
		require.Equal(t, protocol.CodeInvalidCollection, protocol.CodeOf(protocol.ValidateCollection(c)), "%q", c)
	}
}

// FuzzUnmarshal checks that no input makes the decoder panic or hang, and
// that whatever it accepts re-encodes and decodes to the same value.
func FuzzUnmarshal(f *testing.F) {
	good, _ := protocol.Marshal(sampleExchange())
	f.Add(good)
	f.Add([]byte{0x80})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m protocol.ExchangeRequest
		if err := protocol.Unmarshal(b, &m); err != nil {
			require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(err))
			return
		}
		again, err := protocol.Marshal(m)
		require.NoError(t, err)
		var m2 protocol.ExchangeRequest
		require.NoError(t, protocol.Unmarshal(again, &m2))
		require.Equal(t, m, m2)
	})
}

// TestUnmarshalCappedOwnedSharesTheBody: the owned variant does not copy
// contents out of the body (a server's decompressed request), the other
// one does (fasthttp reuses its buffer).
func TestUnmarshalCappedOwnedSharesTheBody(t *testing.T) {
	req := &protocol.ExchangeRequest{Collection: "c", BatchID: "b-0123456789abcdef",
		Uploads: []protocol.Upload{{ID: "a", FP: make([]byte, 32), Content: []byte("content")}}, Downloads: []string{}}
	body, err := protocol.Marshal(req)
	require.NoError(t, err)
	var owned, copied protocol.ExchangeRequest
	require.NoError(t, protocol.UnmarshalCappedOwned(body, &owned, 10))
	require.NoError(t, protocol.UnmarshalCapped(body, &copied, 10))
	i := bytes.LastIndex(body, []byte("content")) // the value, after its key
	body[i] = 'C'
	require.Equal(t, "Content", string(owned.Uploads[0].Content), "shared")
	require.Equal(t, "content", string(copied.Uploads[0].Content), "copied")
}
