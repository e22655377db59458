// Package spec holds the normative text of the Syncprint protocol,
// PROTOCOL.md, and its test vectors in vectors/. It has no code: its test
// checks that the reference packages reproduce every vector, that the
// committed vectors are exactly what internal/vectorgen generates, and that
// every requirement ID cited in the Go code exists in PROTOCOL.md.
package spec
