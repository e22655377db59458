package coding

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"strings"
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
		all, _ := zstdSizes(body)
		rest, _ := zstdSizes(body[:len(body)-len(bomb)])
		require.Equal(t, uint64(0x303030), all-rest, name)
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

// TestAStreamedBodyIsDecodedInOneAllocationWithinItsBound: a streamed
// zstd body declares no content size. zstdSizes bounds what its blocks
// decode to from their headers, and Decode sizes its output from that
// bound and the body's size, so a body of record-like text decodes without
// growing (and copying) its output, whatever the split of its writes;
// content that compresses far better, or incompressible content, still
// decodes whole.
func TestAStreamedBodyIsDecodedInOneAllocationWithinItsBound(t *testing.T) {
	d, err := NewDecoder(4 << 20)
	require.NoError(t, err)
	defer d.Close()
	e, err := NewEncoder()
	require.NoError(t, err)
	// Record-like text as the benchmark's items: about 3 times smaller
	// encoded.
	words := strings.Fields("the of and to in is for on with visit patient clinic report site check pump valve north south east west field sample water soil pressure reading normal high low follow up next week today done open closed pending note")
	r := mrand.New(mrand.NewPCG(1, 2))
	var text []byte
	for i := 0; len(text) < 600<<10; i++ {
		text = fmt.Appendf(text, "item-%07d v1 ref:%x ", i, r.Uint64())
		for range 30 {
			text = append(append(text, words[r.IntN(len(words))]...), ' ')
		}
	}
	random := make([]byte, 300<<10)
	_, _ = rand.Read(random)
	zeros := make([]byte, 1<<20)
	for name, src := range map[string][]byte{"text": text, "random": random, "zeros": zeros} {
		for _, parts := range []int{1, 2, 7} {
			st, err := e.NewStream(Zstd, 1024)
			require.NoError(t, err)
			step := len(src) / parts
			for i := 0; i < parts-1; i++ {
				require.NoError(t, st.Write(src[i*step:(i+1)*step]))
			}
			body, err := st.Close(src[(parts-1)*step:])
			require.NoError(t, err)
			declared, bound := zstdSizes(body)
			require.Zero(t, declared, "%s in %d: a stream declares nothing", name, parts)
			require.GreaterOrEqual(t, bound, uint64(len(src)), "%s in %d: the bound", name, parts)
			_, _ = d.Decode(Zstd, body) // the decoder's own buffers, once
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := d.Decode(Zstd, body)
			runtime.ReadMemStats(&after)
			require.NoError(t, err, "%s in %d", name, parts)
			require.True(t, bytes.Equal(src, out), "%s in %d: decoded content", name, parts)
			if name == "text" {
				// One output of at most streamedRatio times the body, and a
				// little of the decoder's; growing from twice the body
				// would have added the copies of every smaller output.
				require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(streamedRatio*len(body)+256<<10), "text in %d: allocated (%d bytes encoded)", parts, len(body))
			}
		}
	}
}
