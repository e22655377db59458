package coding

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWarmLeavesItsEncodersInThePools: after Warm, the first body encoded
// either way, and the first decoded, reuse what Warm made instead of
// allocating a codec's tables and buffers; the bodies are unchanged.
func TestWarmLeavesItsEncodersInThePools(t *testing.T) {
	body := bytes.Repeat(warmSample(), 2)
	firstUse := func(enc *Encoder, dec *Decoder) (allocated uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		z, err := enc.Encode(Zstd, nil, body)
		require.NoError(t, err)
		st, err := enc.NewStream(Zstd, len(body)/2)
		require.NoError(t, err)
		require.NoError(t, st.Write(body[:100]))
		zs, err := st.Close(body[100:])
		require.NoError(t, err)
		for _, b := range [][]byte{z, zs} {
			out, err := dec.Decode(Zstd, b)
			require.NoError(t, err)
			require.True(t, bytes.Equal(body, out))
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	cold := func() (*Encoder, *Decoder) {
		enc, err := NewEncoder()
		require.NoError(t, err)
		dec, err := NewDecoder(4 << 20)
		require.NoError(t, err)
		t.Cleanup(dec.Close)
		return enc, dec
	}
	coldBytes := firstUse(cold())
	enc, dec := cold()
	Warm(enc, dec)
	require.Len(t, enc.za.free, 1, "Encode's encoder kept")
	require.Len(t, enc.zs.free, 1, "a Stream's encoder kept")
	warmBytes := firstUse(enc, dec)
	t.Logf("first use allocated %d bytes cold, %d warmed", coldBytes, warmBytes)
	require.Less(t, warmBytes*2, coldBytes, "warmed, the first use allocates less than half")
	Warm(nil, dec) // nothing to do without an encoder
}
