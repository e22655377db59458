package coding

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bodies encoded one after another reuse one encoder, across garbage
// collections; bodies encoded at once get encoders of their own, and at
// most maxIdle are kept.
func TestEncodersAreReusedLastInFirstOut(t *testing.T) {
	e, err := NewEncoder()
	require.NoError(t, err)
	body := bytes.Repeat([]byte("item-0000001 a record of some words "), 100)
	first, ok := e.za.get()
	require.True(t, ok, "NewEncoder keeps the encoder it checked the options with")
	e.za.put(first)
	for range 5 {
		out, err := e.Encode(Zstd, nil, body)
		require.NoError(t, err)
		require.Less(t, len(out), len(body))
		runtime.GC()
	}
	require.Len(t, e.za.free, 1)
	require.Same(t, first, e.za.free[0])

	st, err := e.NewStream(Zstd, 0)
	require.NoError(t, err)
	_, err = st.Close(body)
	require.NoError(t, err)
	runtime.GC()
	require.Len(t, e.zs.free, 1, "a stream's encoder outlives a collection")

	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 2 * maxIdle {
		wg.Go(func() {
			<-start
			_, err := e.Encode(Gzip, nil, body)
			assert.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
	require.LessOrEqual(t, len(e.gz.free), maxIdle)
	require.NotEmpty(t, e.gz.free)
	for _, w := range e.gz.free {
		require.NotNil(t, w)
	}
}
