//go:build !unix

package bench

// The harness measures on Linux (it reads /proc); elsewhere it builds, so
// that the syncprint command does, and these measure nothing.

// syncAll does nothing: there is no sync(2) to call.
func syncAll() {}

// freshMemoryCost returns 0: not measured here.
func freshMemoryCost() float64 { return 0 }
