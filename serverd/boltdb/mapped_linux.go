package boltdb

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// trimSupported says whether the mapped pages can be counted and released here.
const trimSupported = true

// dontNeed is madvise(addr, n, MADV_DONTNEED). addr is the start of
// bbolt's mapping, which Go does not know as a slice of its own.
func dontNeed(addr uintptr, n int64) error {
	if n <= 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(n), unix.MADV_DONTNEED)
	if errno != 0 {
		return errno
	}
	return nil
}

// residentMapped returns the process's resident file-backed memory
// (RssFile in /proc/self/status, in bytes): the pages of mapped files,
// the store's among them, that its page tables hold.
func residentMapped() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	_, rest, ok := bytes.Cut(b, []byte("\nRssFile:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	if err != nil {
		return 0, false
	}
	return kb << 10, true
}

// mappedBranches returns, in file order, the runs of pages of the
// mapping (n bytes at addr) that are mapped in and hold a B+tree branch
// page or a meta page, at most limit bytes of them. It reads only pages that
// are mapped in (the present bit of /proc/self/pagemap; mincore would say
// which are in the page cache), so it faults nothing in. A page starts
// with bbolt's page header, in the machine's byte order: its ID (uint64),
// flags (uint16), count (uint16) and overflow (uint32, the pages that
// follow it as one); a page whose ID is not its own position is the rest
// of a larger one, or was never written, and is skipped. When it cannot
// read the page map it returns the runs found so far (none at first), and
// the caller releases the rest.
func mappedBranches(addr uintptr, n int64, pageSize int, limit int64) []pageRun {
	sys := int64(os.Getpagesize())
	ps := int64(pageSize)
	if n <= 0 || ps < sys || ps%sys != 0 || int64(addr)%sys != 0 {
		return nil
	}
	pm, err := openPagemap(addr, n, sys)
	if err != nil {
		return nil
	}
	defer pm.close()
	data := mapped(addr, n)
	var runs []pageRun
	for off := int64(0); off+pageHeader <= n && limit > 0; {
		if present, err := pm.present(off); err != nil {
			return runs
		} else if !present {
			off += ps
			continue
		}
		id := binary.NativeEndian.Uint64(data[off:])
		flags := binary.NativeEndian.Uint16(data[off+8:])
		end := off + (int64(binary.NativeEndian.Uint32(data[off+12:]))+1)*ps
		if id != uint64(off/ps) || end > n {
			off += ps
			continue
		}
		if flags&(branchPageFlag|metaPageFlag) != 0 {
			if k := len(runs) - 1; k >= 0 && runs[k].end == off {
				runs[k].end = end
			} else {
				runs = append(runs, pageRun{off, end})
			}
			limit -= end - off
		}
		off = end
	}
	return runs
}

// pagemapWindow is how many page-table entries a pagemap reads at a time
// (8 bytes each): its memory does not grow with the store file.
const pagemapWindow = 8 << 10

// pagemap reads the page-table entries of a mapping (n bytes at addr) from
// /proc/self/pagemap, 8 bytes a page, a window at a time.
type pagemap struct {
	f      *os.File
	addr   uintptr
	n, sys int64
	first  int64  // the page of the mapping that buf starts with
	buf    []byte // the entries of pages first, first+1, ...
}

func openPagemap(addr uintptr, n, sys int64) (*pagemap, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, err
	}
	return &pagemap{f: f, addr: addr, n: n, sys: sys}, nil
}

// present reports whether the page holding byte off of the mapping is
// mapped in (bit 63 of its entry).
func (p *pagemap) present(off int64) (bool, error) {
	page := off / p.sys
	if page < p.first || page >= p.first+int64(len(p.buf)/8) {
		pages := min(pagemapWindow, (p.n+p.sys-1)/p.sys-page)
		p.buf = slices.Grow(p.buf[:0], int(pages*8))[:pages*8]
		if _, err := p.f.ReadAt(p.buf, (int64(p.addr)/p.sys+page)*8); err != nil {
			p.buf = p.buf[:0]
			return false, err
		}
		p.first = page
	}
	return binary.NativeEndian.Uint64(p.buf[(page-p.first)*8:])&(1<<63) != 0, nil
}

func (p *pagemap) close() { _ = p.f.Close() }

// mapped returns the n bytes of bbolt's mapping at addr as a slice. The
// mapping is not Go memory (bbolt maps it with mmap and hands out its
// address as a uintptr), so the collector neither moves nor frees it; it
// stays valid while the caller's transaction holds bbolt's mmap lock.
func mapped(addr uintptr, n int64) []byte {
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), n)
}
