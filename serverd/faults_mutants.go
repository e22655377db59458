//go:build syncprint_mutants

package serverd

import "os"

// Fault switches of the conformance suite's mutant builds: a server built
// with -tags syncprint_mutants breaks the requirement that the environment
// variable SYNCPRINT_FAULT names (skip-fingerprint-check, ignore-rule,
// apply-stale, double-apply-retry, shared-namespace, wrong-codes,
// deaf-watch; see conformance/faults_test.go). Unset, it behaves normally.
const faultsEnabled = true

// activeFault is read once at start.
var activeFault = os.Getenv("SYNCPRINT_FAULT")

// fault reports whether the named fault is switched on.
func fault(name string) bool { return activeFault == name }
