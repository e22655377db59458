// Package fuzzseed keeps generated seed corpora of fuzz targets in step
// with the code that generates them. A package's TestFuzzSeedsAreUpToDate
// lists its seeds and calls [Check]: the test fails when a committed seed
// file differs from its generator (or is missing, or is a generated file
// no generator lists any more), and with SYNCPRINT_UPDATE_FUZZ_SEEDS=1 it
// writes them instead (`make fuzz-seeds`).
//
// Generated files are testdata/fuzz/<Target>/seed-<name>; every other file
// there (a failing input go test saved, a regression seed named by hand)
// is left alone. Only tests import this package.
package fuzzseed
