package clientd

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The cursors the session remembers must not share the response bodies
// they were decoded from (protocol.UnmarshalOwned): a push of 1,000,000
// items kept every exchange's body alive through them, 178 MB.
func TestKnownHeadsDoNotKeepResponseBodiesAlive(t *testing.T) {
	body := []byte("1.0123456789abcdef.7.0123456789abcdef")
	shared := unsafe.String(&body[0], len(body)) // as UnmarshalOwned decodes a str
	s := &session{info: nil}
	s.knowHead(shared, 7)
	for k := range s.heads {
		require.True(t, unsafe.StringData(shared) != unsafe.StringData(k), "the key shares the body")
	}
	copy(body, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") // the body's buffer reused
	require.Equal(t, map[string]uint64{"1.0123456789abcdef.7.0123456789abcdef": 7}, s.heads)
}
