// Package gcfloor puts a floor under the Go garbage collector's heap
// target: a process whose live heap is small collects when its heap
// reaches the floor, not at twice its live heap. It is for a program's
// main: the setting is process-wide.
//
// Why: with GOGC=100 a process that has just started, with a few MB live,
// collects every few MB it allocates. A sync session allocates tens of MB
// in a few tens of milliseconds (decoded requests and responses, store
// records), so a new `syncprint client sync` or a freshly started server
// ran many collections per session, each with its stop-the-world phases,
// its mark workers taking a core of two, and write barriers and assists on
// the session's goroutines. Interleaved runs of `syncprint bench` with
// GOGC=400 for the client and the server took the push from 96 to 88 ms
// and the bidirectional sync from 41 to 34 ms (docs/performance-history.md).
//
// How: after every collection, Start's watcher reads the live heap
// (runtime/metrics) and sets GOGC so that the next collection comes when
// the heap reaches max(floor, 2 x live), as GOGC=100 would for a heap
// larger than half the floor. The cost is memory: the heap may grow to the
// floor before it is collected.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// DefaultFloor is the heap target Start sets by default: a sync session's
// garbage at the sizes the bench measures, without a collection.
const DefaultFloor = 64 << 20

// maxPercent bounds the GOGC Start sets, whatever the live heap.
const maxPercent = 2000

// initialTarget is the runtime's heap target before its first
// collection, at GOGC=100: 4 MiB, scaled by GOGC/100.
const initialTarget = 4 << 20

// Percent returns the GOGC that makes the next heap target
// max(floor, 2 x live) for a live heap of live bytes; live 0 is a process
// before its first collection.
func Percent(floor, live uint64) int {
	if live == 0 {
		return int(min(max(floor*100/initialTarget, 100), maxPercent))
	}
	if floor <= 2*live {
		return 100
	}
	p := (floor - live) * 100 / live
	return int(min(p, maxPercent))
}

// Start sets the heap target's floor to floor bytes, until stop is
// called, which sets GOGC back to what it was. It does nothing (and stop
// does nothing) when the user chose a GOGC: set in the environment, or
// anything but 100 when Start is called.
func Start(floor uint64) (stop func()) {
	before := debug.SetGCPercent(100)
	if before != 100 {
		debug.SetGCPercent(before)
		return func() {}
	}
	w := &watcher{floor: floor}
	w.tune()
	w.arm()
	return func() {
		w.stopped.Store(true)
		debug.SetGCPercent(before)
	}
}

type watcher struct {
	floor   uint64
	stopped atomic.Bool
	sample  [1]metrics.Sample
}

// sentinel is garbage that the next collection finds unreachable: its
// finalizer runs after that collection. At 16 bytes it is no tiny
// allocation, which would share its finalizer's timing with others.
type sentinel struct{ _ [16]byte }

// arm has the next collection call tune, and so on after each.
func (w *watcher) arm() {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		if w.stopped.Load() {
			return
		}
		w.tune()
		w.arm()
	})
}

// tune sets GOGC from the live heap the last collection marked (0 before
// the first).
func (w *watcher) tune() {
	w.sample[0].Name = "/gc/heap/live:bytes"
	metrics.Read(w.sample[:])
	live := uint64(0)
	if w.sample[0].Value.Kind() == metrics.KindUint64 {
		live = w.sample[0].Value.Uint64()
	}
	if !w.stopped.Load() {
		debug.SetGCPercent(Percent(w.floor, live))
	}
}
