//go:build !linux

package hugeheap

// Advise does nothing here: transparent huge pages are Linux's.
func Advise(reserve int) (Result, error) {
	return Result{Skipped: "transparent huge pages are Linux's"}, nil
}
