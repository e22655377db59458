package hugeheap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// modeFile holds the kernel's transparent huge page mode.
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

// Advise prepares reserve bytes of the heap and advises them
// MADV_HUGEPAGE, when the kernel's mode leaves huge pages to the process
// and GODEBUG does not disable them. Call it once, early in main. An error
// is returned only when the advice itself failed; the process works as
// before either way.
func Advise(reserve int) (Result, error) {
	res := Result{Mode: Mode()}
	switch {
	case res.Mode == "":
		res.Skipped = "the kernel has no transparent huge pages"
		return res, nil
	case res.Mode == "always":
		res.Skipped = "the kernel backs all memory with huge pages already (mode always)"
		return res, nil
	case res.Mode != "madvise":
		res.Skipped = fmt.Sprintf("the kernel's huge pages are off (mode %q)", res.Mode)
		return res, nil
	case disabledByGODEBUG(os.Getenv("GODEBUG")):
		res.Skipped = "GODEBUG=disablethp=1"
		return res, nil
	case reserve <= 0:
		res.Skipped = "no reserve"
		return res, nil
	}
	// The runtime maps the reserve now; it is never written, so none of it
	// is resident. Its addresses are the part of the arena to advise.
	reserved := make([]byte, reserve)
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(reserved)))
	hi := lo + uintptr(reserve)
	runtime.KeepAlive(reserved)
	reserved = nil
	// The reserve is garbage now; collect it, or it would count as live
	// heap until the first collection, which would then come later.
	runtime.GC()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return res, fmt.Errorf("advise huge pages: %w", err)
	}
	for _, m := range heapMappings(maps, lo, hi) {
		// Only the reserve: the heap a process starts with stays in
		// ordinary pages, so a small command, which never grows past it,
		// does not pay for whole huge pages it hardly uses.
		m.lo, m.hi = max(m.lo, lo), min(m.hi, hi)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.lo, m.hi-m.lo, unix.MADV_HUGEPAGE); errno != 0 {
			return res, fmt.Errorf("advise huge pages: madvise %#x-%#x: %w", m.lo, m.hi, errno)
		}
		res.Advised += int(m.hi - m.lo)
	}
	if res.Advised == 0 {
		res.Skipped = "no heap mapping found"
	}
	return res, nil
}

// Mode returns the kernel's transparent huge page mode: "always",
// "madvise" or "never"; empty when the kernel has none.
func Mode() string {
	b, err := os.ReadFile(modeFile)
	if err != nil {
		return ""
	}
	return parseMode(b)
}

// parseMode returns the selected mode of the kernel's mode file: the word
// in brackets ("always [madvise] never" is madvise).
func parseMode(b []byte) string {
	_, after, ok := bytes.Cut(b, []byte("["))
	if !ok {
		return ""
	}
	mode, _, ok := bytes.Cut(after, []byte("]"))
	if !ok {
		return ""
	}
	return string(mode)
}

// disabledByGODEBUG says whether godebug (GODEBUG's value) sets
// disablethp to a non-zero value; the last setting wins, as for the
// runtime.
func disabledByGODEBUG(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k == "disablethp" {
			n, err := strconv.Atoi(v)
			off = err == nil && n != 0
		}
	}
	return off
}

// mapping is a range of the process's address space.
type mapping struct{ lo, hi uintptr }

// heapMappings returns the private, writable, anonymous mappings of maps
// (the text of /proc/self/maps) that overlap [lo, hi): the heap arena's
// mapped part around the reserve.
func heapMappings(maps []byte, lo, hi uintptr) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// address perms offset dev inode [path]; the heap has no path,
		// or a name in brackets the runtime gave it ("[anon: Go: heap]").
		if len(f) < 5 || f[1] != "rw-p" || f[4] != "0" || len(f) > 5 && !strings.HasPrefix(f[5], "[anon") {
			continue
		}
		a, b, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(a, 16, 64)
		end, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil || uintptr(end) <= lo || uintptr(start) >= hi {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out
}
