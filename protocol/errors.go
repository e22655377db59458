package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Code is a stable error code carried in every error response [SP-9].
// Codes are never renamed or reused.
type Code string

// The error codes, with the HTTP status each is sent with.
const (
	CodeMalformed           Code = "malformed_request"    // 400: not a valid message: bad msgpack, wrong types, missing field
	CodeUnsupportedVersion  Code = "unsupported_version"  // 400: version header missing, not a number, or newer than the server speaks
	CodeVersionTooOld       Code = "version_too_old"      // 400: version older than the server still speaks
	CodeUnauthorized        Code = "unauthorized"         // 401: missing, malformed or unknown bearer token
	CodeNotFound            Code = "not_found"            // 404: no such endpoint, or no such conflict record
	CodeMethodNotAllowed    Code = "method_not_allowed"   // 405: wrong HTTP method for the endpoint
	CodePayloadTooLarge     Code = "payload_too_large"    // 413: body or batch content over the announced limit
	CodeItemTooLarge        Code = "item_too_large"       // 413: one item's content over max_item_bytes
	CodeTooManyItems        Code = "too_many_items"       // 413: more uploads, IDs or page entries than announced
	CodeInvalidID           Code = "invalid_id"           // 400: empty, too long, invalid UTF-8 or control characters
	CodeInvalidCollection   Code = "invalid_collection"   // 400: collection name outside the charset or length
	CodeDuplicateID         Code = "duplicate_id"         // 400: the same ID twice in one list
	CodeFingerprintMismatch Code = "fingerprint_mismatch" // 422: an upload's fingerprint is not that of its content
	CodeStaleBase           Code = "stale_base"           // 409: a resolution's base version is not the current one
	CodeBatchReused         Code = "batch_id_reused"      // 409: a batch ID was reused with a different request
	CodeInvalidCursor       Code = "invalid_cursor"       // 400: a cursor this server never issued
	CodeCursorExpired       Code = "cursor_expired"       // 410: a cursor from another server epoch, or past the head
	CodeRateLimited         Code = "rate_limited"         // 429: too many requests; see Retry-After
	CodeUnavailable         Code = "unavailable"          // 503: shutting down or overloaded; see Retry-After
	CodeInternal            Code = "internal"             // 500: a server fault; nothing was applied
)

// codeStatus maps each code to its HTTP status.
var codeStatus = map[Code]int{
	CodeMalformed:           http.StatusBadRequest,
	CodeUnsupportedVersion:  http.StatusBadRequest,
	CodeVersionTooOld:       http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeNotFound:            http.StatusNotFound,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodePayloadTooLarge:     http.StatusRequestEntityTooLarge,
	CodeItemTooLarge:        http.StatusRequestEntityTooLarge,
	CodeTooManyItems:        http.StatusRequestEntityTooLarge,
	CodeInvalidID:           http.StatusBadRequest,
	CodeInvalidCollection:   http.StatusBadRequest,
	CodeDuplicateID:         http.StatusBadRequest,
	CodeFingerprintMismatch: http.StatusUnprocessableEntity,
	CodeStaleBase:           http.StatusConflict,
	CodeBatchReused:         http.StatusConflict,
	CodeInvalidCursor:       http.StatusBadRequest,
	CodeCursorExpired:       http.StatusGone,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeInternal:            http.StatusInternalServerError,
}

// Codes lists every code in the order of the spec's table.
var Codes = []Code{
	CodeMalformed, CodeUnsupportedVersion, CodeVersionTooOld, CodeUnauthorized, CodeNotFound,
	CodeMethodNotAllowed, CodePayloadTooLarge, CodeItemTooLarge, CodeTooManyItems, CodeInvalidID,
	CodeInvalidCollection, CodeDuplicateID, CodeFingerprintMismatch, CodeStaleBase, CodeBatchReused,
	CodeInvalidCursor, CodeCursorExpired, CodeRateLimited, CodeUnavailable, CodeInternal,
}

// HTTPStatus returns the status a code is sent with; unknown codes map to 500.
func (c Code) HTTPStatus() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Retryable reports whether a client may retry the same request later
// (after Retry-After where given). Every other code is final: retrying the
// same request cannot succeed [SP-9-4].
func (c Code) Retryable() bool {
	return c == CodeRateLimited || c == CodeUnavailable || c == CodeInternal
}

// Error is the body of every error response [SP-9-1]: a stable code, a
// human-readable message, and, where the error concerns particular items,
// their IDs. It implements error, so handlers return it and clients get it
// back from a failed call.
type Error struct {
	Code    Code     `msgpack:"code"`
	Message string   `msgpack:"message"`
	IDs     []string `msgpack:"ids,omitempty"`
	// RetryAfterSeconds mirrors the Retry-After header on the client side;
	// it is not part of the body.
	RetryAfterSeconds int `msgpack:"-"`
}

// Errorf builds an *Error with a formatted message. The message is made
// valid UTF-8 (it may quote client-supplied bytes) [SP-4.1-2].
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: strings.ToValidUTF8(fmt.Sprintf(format, args...), "\uFFFD")}
}

// WithIDs returns e with the offending item IDs attached, each as ErrorID
// renders it: valid UTF-8 of at most MaxIDBytes bytes [SP-9-7].
func (e *Error) WithIDs(ids ...string) *Error {
	e.IDs = make([]string, len(ids))
	for i, id := range ids {
		e.IDs[i] = ErrorID(id)
	}
	return e
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is matches another *Error with the same code, so that
// errors.Is(err, &protocol.Error{Code: protocol.CodeCursorExpired}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// CodeOf returns the protocol code carried by err, or "" if err carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
