// Package hugeheap backs the Go heap of a process with transparent huge
// pages (2 MiB) on Linux, where the kernel leaves that to each process
// (THP mode "madvise", the default of Debian, Ubuntu and others). It is
// for a program's main: the advice is process-wide.
//
// Why: a process's first write to a page of fresh memory traps into the
// kernel, and on a virtual machine often into the hypervisor as well. On
// the machine of docs/performance.md that costs 11-17 µs for every 4 KiB
// page, about 3 ms per MB, which a short-lived process (one `syncprint
// client sync`) or a server that has just started pays for every page of
// heap it grows into: a third of a cold pull of 10,000 items. With huge
// pages it pays that once per 2 MiB.
//
// How: the Go runtime gives its heap no advice (since Go 1.21.1), and
// advice given to a mapping is lost when the runtime maps the next part
// of its arena, which it does as the heap grows. Advise therefore has the
// runtime map a reserve up front, with an allocation that is never written
// (so it costs address space, not memory), frees it, and advises the
// mapping that holds it: the heap grows into advised memory up to about
// the reserve, and into ordinary pages beyond it.
//
// The cost is memory: a huge page is resident whole once any of it is
// written, so a process's resident size grows in steps of 2 MiB (a few MB
// more for Syncprint's processes). GODEBUG=disablethp=1, the Go runtime's
// own switch, turns Advise off too.
package hugeheap

// DefaultReserve is the heap that Advise prepares by default: more than a
// client or a freshly started server grows to (12-40 MB measured), and
// only address space until it is used.
const DefaultReserve = 64 << 20

// Result says what Advise did.
type Result struct {
	// Mode is the kernel's transparent huge page mode: "always",
	// "madvise" or "never"; empty when the kernel has none.
	Mode string
	// Advised is how many bytes of heap mapping were advised; 0 when
	// Advise did nothing, and Skipped says why.
	Advised int
	Skipped string
}
