//go:build !syncprint_mutants

package serverd

import "github.com/syncprint/syncprint/internal/coding"

// faultsEnabled is false in every build but the mutant builds of the
// conformance suite's self-test (build tag syncprint_mutants,
// faults_mutants.go). Every fault switch is guarded by it, so the compiler
// drops them all: this build has no fault code path.
const faultsEnabled = false

// fault is never called in this build.
func fault(string) bool { return false }

// faultDecoder is never called in this build.
func faultDecoder(int) *coding.Decoder { return nil }
