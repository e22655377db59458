// Package wirecheck is a test oracle for the wire format: an independent
// reading of spec/PROTOCOL.md section 4.1 that the fuzz and replay tests
// compare the protocol package's codec against. It does not use the msgpack
// library or the protocol package's codec, only the message types' field
// tables (their msgpack tags, in declaration order, which is the order of
// the spec's tables).
//
// [Canonical] rewrites a body that a receiver accepted into the canonical
// encoding of SP-4.1-2 (keys in table order, every key present, shortest
// integer and header formats, nil only for an absent nested message, sorted
// keys in caller-keyed maps), so a test can check that re-encoding a decoded
// message yields exactly those bytes. [CheckStrs] checks that every str in a
// body is valid UTF-8 (SP-4.1-2 rule 7).
//
// Only tests import it; it is not part of any program.
package wirecheck
