package gcfloor_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/gcfloor"
)

func TestPercentMakesTheTargetTheFloorOrTwiceTheLiveHeap(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		floor, live uint64
		want        int
	}{
		{64 * mb, 0, 1600},       // before the first collection: 4 MiB x 16
		{64 * mb, 8 * mb, 700},   // 8 + 8 x 7 = 64
		{64 * mb, 32 * mb, 100},  // 2 x 32 = 64: GOGC=100 reaches the floor
		{64 * mb, 200 * mb, 100}, // a large live heap: as GOGC=100
		{64 * mb, 1024, 2000},    // bounded
		{1 * mb, 0, 100},         // a floor under the runtime's own start
	} {
		got := gcfloor.Percent(tc.floor, tc.live)
		require.Equal(t, tc.want, got, "floor %d, live %d", tc.floor, tc.live)
		if tc.live > 0 && got > 100 && got < 2000 {
			require.InDelta(t, float64(tc.floor), float64(tc.live)*(1+float64(got)/100), float64(tc.live)/50)
		}
	}
}

// gogc reads GOGC without setting it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// settles collects until GOGC is want, or anything but 100 for want -1
// (the watcher tunes on its own goroutine, after a collection), for at
// most a second.
func settles(want int) int {
	got := gogc()
	done := func() bool { return got == want || want == -1 && got != 100 }
	for i := 0; i < 100 && !done(); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		got = gogc()
	}
	return got
}

// churn allocates n MiB of garbage a MiB at a time, keeping keep MiB live,
// and returns the collections it took.
func churn(n int, keep [][]byte) uint32 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var sink []byte
	for i := range n {
		sink = make([]byte, 1<<20)
		sink[i%len(sink)] = 1
	}
	runtime.KeepAlive(sink)
	runtime.KeepAlive(keep)
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

func TestStartCollectsAtTheFloorAndStopRestoresGOGC(t *testing.T) {
	if gogc() != 100 {
		t.Skipf("GOGC is %d in this test process", gogc())
	}
	runtime.GC()
	plain := churn(256, nil)

	stop := gcfloor.Start(64 << 20)
	require.Greater(t, settles(-1), 100, "a small live heap: the floor raises GOGC")
	floored := churn(256, nil)
	t.Logf("collections over 256 MiB of garbage: %d at GOGC=100, %d with the floor", plain, floored)
	// GOGC=100 collects every few MiB over a small live heap, the floor
	// about every 64.
	require.Greater(t, plain, 3*floored)
	require.LessOrEqual(t, floored, uint32(8))

	// A live heap over half the floor: collections come as at GOGC=100.
	keep := make([][]byte, 48)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	require.Equal(t, 100, settles(100), "with 48 MiB live the floor asks for nothing more")
	runtime.KeepAlive(keep)

	stop()
	require.Equal(t, 100, gogc(), "stop sets GOGC back")
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 100, gogc(), "and the watcher is gone")
}

func TestStartLeavesAChosenGOGCAlone(t *testing.T) {
	prev := debug.SetGCPercent(300)
	defer debug.SetGCPercent(prev)
	stop := gcfloor.Start(64 << 20)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 300, gogc())
	stop()
	require.Equal(t, 300, gogc())
}
