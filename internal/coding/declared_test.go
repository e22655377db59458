package coding

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestABodyWhoseFramesDeclareMoreThanTheLimitAllocatesNothing: a zstd
// frame's header may declare its content size, and the decoder sizes its
// output to it. Nine bytes declaring 3 MB, alone or after a valid frame,
// are refused as too large before anything is allocated for them; frames
// within the limit still decode.
func TestABodyWhoseFramesDeclareMoreThanTheLimitAllocatesNothing(t *testing.T) {
	d, err := NewDecoder(fuzzLimit)
	require.NoError(t, err)
	defer d.Close()
	e, err := NewEncoder()
	require.NoError(t, err)
	bomb := []byte("(\xb5/\xfd\xa4000\x00") // single segment, content size 0x303030
	small, err := e.Encode(Zstd, nil, []byte("x"))
	require.NoError(t, err)
	for name, body := range map[string][]byte{
		"alone":              bomb,
		"after a frame":      append(append([]byte{}, small...), bomb...),
		"after two frames":   append(append(append([]byte{}, small...), small...), bomb...),
		"in a skippable one": append([]byte("\x50\x2a\x4d\x18\x02\x00\x00\x00ab"), bomb...),
	} {
		require.Equal(t, uint64(0x303030), zstdDeclared(body)-zstdDeclared(body[:len(body)-len(bomb)]), name)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := d.Decode(Zstd, body)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrTooLarge, name)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "%s: allocated", name)
	}
	// Frames within the limit, together, decode.
	two := append(append([]byte{}, small...), small...)
	out, err := d.Decode(Zstd, two)
	require.NoError(t, err)
	require.Equal(t, "xx", string(out))
	big := make([]byte, fuzzLimit/2+1)
	z, err := e.Encode(Zstd, nil, big)
	require.NoError(t, err)
	_, err = d.Decode(Zstd, append(append([]byte{}, z...), z...))
	require.ErrorIs(t, err, ErrTooLarge, "two frames over the limit together")
}
