// Package protocol owns the Syncprint wire format: the messages exchanged
// over HTTP, their msgpack codec, the protocol version, the error codes and
// their HTTP statuses, the limits, and the validation of names and IDs.
//
// spec/PROTOCOL.md is the normative text; this package is its Go rendering
// and cites requirement IDs (for example [SP-5-3]) where it enforces one.
// The package depends only on the standard library and msgpack, so any Go
// program can speak the protocol without importing the server or client.
//
// Messages are msgpack maps with short snake_case string keys. [Marshal]
// writes them in the canonical form the test vectors use (fields in
// declaration order, smallest integer encodings); [Unmarshal] accepts any
// key order and integer width, ignores unknown keys, and rejects anything
// that is not a single map with the right value types, returning an *Error
// with code [CodeMalformed].
package protocol
