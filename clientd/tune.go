package clientd

import (
	"fmt"
	"sync"

	"github.com/syncprint/syncprint/internal/gcfloor"
	"github.com/syncprint/syncprint/internal/hugeheap"
)

// TuneProcess readies the whole process for bulk syncs, as the syncprint
// command does for its commands that move data: it backs the Go heap with
// transparent huge pages where Linux leaves that to each process (THP mode
// "madvise"), and puts a floor of 64 MiB under the garbage collector's
// heap target. Both are process-wide, so a library does not do them on its
// own: an app calls TuneProcess once, early in main, before its heap grows.
//
// Why: a process's first write to each 4 KiB page is expensive on virtual
// machines, and one that has just started, with a few MB live, collects
// every few MB of a sync's garbage at GOGC=100. On the machine of
// docs/performance.md huge pages took a new process's pull of 10,000
// items from 120 to 90 ms, and the floor, later, from 80 to 61 ms. The
// cost is memory: the heap may grow to the floor before it is collected,
// about 10 MB more resident memory.
//
// The collector is left alone when the user chose a GOGC, and the heap's
// pages when GODEBUG=disablethp=1. restore sets the collector back as it
// was; the huge-page advice, given once per process, stays. An error says
// only that the advice failed: restore is valid, the floor applies, and
// the process works as before.
func TuneProcess() (restore func(), err error) {
	restore = gcfloor.Start(gcfloor.DefaultFloor)
	if err := adviseHeap(); err != nil {
		return restore, fmt.Errorf("tune process: %w", err)
	}
	return restore, nil
}

// adviseHeap gives the huge-page advice of TuneProcess, once.
var adviseHeap = sync.OnceValue(func() error {
	_, err := hugeheap.Advise(hugeheap.DefaultReserve)
	return err
})
