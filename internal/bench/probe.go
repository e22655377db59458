package bench

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/syncprint/syncprint/fingerprint"
)

// The CPU probe: a fixed piece of CPU-bound work that the harness times in
// its own process right before each timed step, while the client and the
// server wait for "go". On a shared or virtual machine the speed of a CPU
// can move from one moment to the next; a step of tens of milliseconds
// feels a slow moment whole, a step of seconds averages it out. The
// probe's time says how fast the CPU was when each step started, for both
// systems, so that a reader can tell a slow run of the code from a run on
// a slow CPU. It rules the CPU's speed out, not every cause: slow runs have
// come with a fast probe (docs/performance-analysis.md, "Run-to-run noise").
//
// The work: probeRounds BLAKE3 fingerprints of a 256 KiB buffer, which
// stays in the cache (6 MiB hashed, about 2 ms here); it allocates nothing
// and touches no new memory, so the fresh-memory price does not enter it.
const (
	probeBytes  = 256 << 10
	probeRounds = 24
)

// probeBuf returns the probe's buffer, made on first use: the package is
// linked into every command of the binary, which should not pay for it.
var probeBuf = sync.OnceValue(func() []byte {
	b := make([]byte, probeBytes)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
})

// cpuProbe runs the probe once and returns its wall time.
func cpuProbe() time.Duration {
	buf := probeBuf()
	t := time.Now()
	var acc uint64
	for range probeRounds {
		fp := fingerprint.Of("cpu-probe", false, buf)
		acc += binary.LittleEndian.Uint64(fp[:8])
	}
	probeSink = acc
	return time.Since(t)
}

// probeSink keeps the probe's result alive, so that the compiler cannot
// drop the work: the sum of the first 8 bytes of every hash.
var probeSink uint64
