package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// An array where a message belongs, and an integer too large for its field,
// are malformed [SP-4.1-4] [SP-4.1-7]; the msgpack library alone would
// decode the first as an array-encoded struct and wrap the second around
// to a negative number.
func TestUnmarshalRefusesArraysForMessagesAndOutOfRangeIntegers(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		into any
	}{
		{"an empty array for a resolution's put", []byte{0x81, 0xa3, 'p', 'u', 't', 0x90}, &protocol.ResolveRequest{}},
		{"an array for an upload", []byte{0x81, 0xa7, 'u', 'p', 'l', 'o', 'a', 'd', 's', 0x91, 0x90}, &protocol.ExchangeRequest{}},
		{"an array for a result's current entry", []byte{0x81, 0xa7, 'c', 'u', 'r', 'r', 'e', 'n', 't', 0x90}, &protocol.UploadResult{}},
		{"an array for the limits", []byte{0x81, 0xa6, 'l', 'i', 'm', 'i', 't', 's', 0x92, 1, 2}, &protocol.Info{}},
		{"a page limit of 2^63 (over the spec's int of 2^31-1)", []byte{0x81, 0xa5, 'l', 'i', 'm', 'i', 't', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, &protocol.ChangesRequest{}},
		{"a watch timeout of 2^64-1", []byte{0x81, 0xaa, 't', 'i', 'm', 'e', 'o', 'u', 't', '_', 'm', 's', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, &protocol.WatchRequest{}},
		{"a size over 32 bits", []byte{0x81, 0xa4, 's', 'i', 'z', 'e', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, &protocol.ChangeInfo{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := protocol.Unmarshal(tc.body, tc.into)
			require.Error(t, err)
			require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(err), "%v", err)
		})
	}
	var ok protocol.ChangesRequest
	require.NoError(t, protocol.Unmarshal([]byte{0x81, 0xa5, 'l', 'i', 'm', 'i', 't', 0xce, 0x7f, 0xff, 0xff, 0xff}, &ok))
	require.Equal(t, 1<<31-1, ok.Limit, "the spec's int holds 2^31-1")
	err := protocol.Unmarshal([]byte{0x81, 0xa5, 'l', 'i', 'm', 'i', 't', 0xce, 0x80, 0, 0, 0}, &ok)
	require.Equal(t, protocol.CodeMalformed, protocol.CodeOf(err), "2^31 is over the spec's int")
}
