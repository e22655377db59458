//go:build !linux

package hugeheap

// Mode returns "": transparent huge pages are Linux's.
func Mode() string { return "" }

// Advise does nothing here: transparent huge pages are Linux's.
func Advise(reserve int) (Result, error) {
	return Result{Skipped: "transparent huge pages are Linux's"}, nil
}
