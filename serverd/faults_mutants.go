//go:build syncprint_mutants

package serverd

import (
	"os"
	"sync"

	"github.com/syncprint/syncprint/internal/coding"
)

// Fault switches of the conformance suite's mutant builds: a server built
// with -tags syncprint_mutants breaks the requirement that the environment
// variable SYNCPRINT_FAULT names (skip-fingerprint-check, ignore-rule,
// apply-stale, double-apply-retry, shared-namespace, wrong-codes,
// deaf-watch, decode-without-limit, resolve-replay-off; see
// conformance/faults_test.go). Unset, it behaves normally.
const faultsEnabled = true

// activeFault is read once at start.
var activeFault = os.Getenv("SYNCPRINT_FAULT")

// fault reports whether the named fault is switched on.
func fault(name string) bool { return activeFault == name }

var (
	faultDecOnce sync.Once
	faultDec     *coding.Decoder
)

// faultDecoder is the request-body decoder of the decode-without-limit
// fault: it does not refuse a body that decodes to more than
// max_body_bytes. It stops at 8 times the limit all the same, so that the
// suite's self-test cannot exhaust the machine's memory.
func faultDecoder(maxBody int) *coding.Decoder {
	faultDecOnce.Do(func() {
		var err error
		if faultDec, err = coding.NewDecoder(8 * maxBody); err != nil {
			panic("bug: " + err.Error())
		}
	})
	return faultDec
}
