package boltdb

import (
	"bytes"
	"os"
	"strconv"

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
