//go:build unix

package bench

import (
	"syscall"
	"time"
)

// syncAll writes back every dirty page of the machine (sync(2)).
func syncAll() { syscall.Sync() }

// freshMemoryCost measures, in ms per MB, the first write to anonymous
// memory: the median of three fresh 32 MB mappings, each written once per
// 4 KiB page. On a virtual machine whose host backs guest memory lazily or
// takes freed pages back (free page reporting), it is many times what it
// is on bare hardware, and a new process's start-up pays it.
func freshMemoryCost() float64 {
	const size = 32 << 20
	var ms []float64
	for range 3 {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return 0
		}
		t := time.Now()
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		ms = append(ms, float64(time.Since(t).Microseconds())/1000/(size>>20))
		_ = syscall.Munmap(b)
	}
	return statOf(ms).Median
}
