package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// Bugs the fuzz targets found, each kept as a plain test (the failing input
// is also a seed under testdata/fuzz/).

// FuzzUnmarshalInfo found that a map key of nil (c0) or bin decoded as a
// str: the reflective decoder read it as "" or as the field name, and for a
// bin key the shape check never saw the value (an array passed for a
// nested message). SP-4.1-4 makes any non-str key malformed, under known
// and unknown keys alike.
func TestMapKeysThatAreNotStrAreMalformed(t *testing.T) {
	bin := func(s string) []byte { return append([]byte{0xc4, byte(len(s))}, s...) }
	cases := []struct {
		name string
		body []byte
	}{
		{"nil keys", []byte{0x84, 0xc0, 0x30, 0xc0, 0x30, 0xc0, 0x30, 0xc0, 0x30}},
		{"a bin key naming a field", append(append([]byte{0x81}, bin("collection")...), 0xa1, 'x')},
		{"an integer key", []byte{0x81, 0x01, 0x02}},
		{"a nil key in a map under an unknown key", []byte{0x81, 0xa1, 'z', 0x81, 0xc0, 0xc0}},
		{"a bin key in a caller-keyed map", append(append([]byte{0x81, 0xa7, 'c', 'u', 'r', 's', 'o', 'r', 's', 0x81}, bin("notes")...), 0xa0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []any{new(protocol.Info), new(protocol.ChangesRequest), new(protocol.WatchRequest), new(protocol.ExchangeRequest)} {
				err := protocol.Unmarshal(tc.body, v)
				require.Error(t, err, "%T", v)
				require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(err), "%T", v)
			}
		})
	}
	// An array where a nested message belongs, behind a bin key.
	put := append(append([]byte{0x81}, bin("put")...), 0x91, 0xa1, 'x')
	var rr protocol.ResolveRequest
	require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(protocol.Unmarshal(put, &rr)))
}

// FuzzUnmarshalError found that an optional array sent empty (Error.ids =
// 90) decoded as an empty slice, which encodes without the key (its
// canonical form, SP-4.1-2) and decodes again as nil: decode(encode(m)) !=
// m. An empty optional array and an absent key are one message, so every
// optional array decodes empty as nil.
func TestAnEmptyOptionalArrayDecodesAsAnAbsentOne(t *testing.T) {
	msg := func(key string) []byte { return append(append([]byte{0x81, 0xa0 | byte(len(key))}, key...), 0x90) }
	var e protocol.Error
	require.NoError(t, protocol.Unmarshal(msg("ids"), &e))
	require.Nil(t, e.IDs)
	var cr protocol.ChangesResponse
	require.NoError(t, protocol.Unmarshal(msg("contents"), &cr))
	require.Nil(t, cr.Contents)
	var info protocol.Info
	require.NoError(t, protocol.Unmarshal(msg("collections"), &info))
	require.Nil(t, info.Collections)
	var short protocol.InfoShort
	require.NoError(t, protocol.UnmarshalOwned(msg("collections"), &short))
	require.Nil(t, short.Collections)
	// Not empty: kept.
	require.NoError(t, protocol.Unmarshal([]byte{0x81, 0xa3, 'i', 'd', 's', 0x91, 0xa1, 'x'}, &e))
	require.Equal(t, []string{"x"}, e.IDs)
}
