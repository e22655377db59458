package protocol

import (
	"strings"
	"unicode/utf8"
)

// ErrorID returns an ID as an Error lists it in ids [SP-9-7]: every
// maximal run of bytes that is not valid UTF-8 replaced by one U+FFFD
// (strings.ToValidUTF8), then cut at a character boundary to at most
// MaxIDBytes bytes. A valid ID of at most MaxIDBytes bytes is returned
// unchanged, so that a client can match it; every other ID still yields
// a valid str [SP-4.1-2].
func ErrorID(id string) string {
	s := strings.ToValidUTF8(id, "\uFFFD")
	if len(s) <= MaxIDBytes {
		return s
	}
	n := MaxIDBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidateID checks an item ID [SP-2-2]: 1 to MaxIDBytes bytes of valid
// UTF-8 with no C0 control character (U+0000-U+001F) and no U+007F.
// The error is an *Error with CodeInvalidID naming the ID as ErrorID
// renders it (valid UTF-8, at most MaxIDBytes bytes).
func ValidateID(id string) error {
	switch {
	case id == "":
		return Errorf(CodeInvalidID, "empty item id")
	case len(id) > MaxIDBytes:
		return Errorf(CodeInvalidID, "item id is %d bytes, the limit is %d", len(id), MaxIDBytes).WithIDs(id)
	case !utf8.ValidString(id):
		return Errorf(CodeInvalidID, "item id %q is not valid UTF-8", id).WithIDs(id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return Errorf(CodeInvalidID, "item id %q contains control character 0x%02x", id, c).WithIDs(id)
		}
	}
	return nil
}

// ValidateCollection checks a collection name [SP-2-1]: 1 to
// MaxCollectionBytes characters from a-z, 0-9, '.', '_' and '-', starting
// with a letter or digit.
func ValidateCollection(name string) error {
	if name == "" {
		return Errorf(CodeInvalidCollection, "empty collection name")
	}
	if len(name) > MaxCollectionBytes {
		return Errorf(CodeInvalidCollection, "collection name is %d bytes, the limit is %d", len(name), MaxCollectionBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return Errorf(CodeInvalidCollection, "collection name %q: character %q at %d is not allowed (a-z 0-9 . _ -, starting with a-z or 0-9)", name, c, i)
		}
	}
	return nil
}

// ValidateBatchID checks an exchange batch ID [SP-6.4-1]: MinBatchIDBytes
// to MaxBatchIDBytes characters from A-Z, a-z, 0-9, '-' and '_'.
func ValidateBatchID(id string) error {
	if len(id) < MinBatchIDBytes || len(id) > MaxBatchIDBytes {
		return Errorf(CodeMalformed, "batch_id must be %d to %d characters, got %d", MinBatchIDBytes, MaxBatchIDBytes, len(id))
	}
	if !isName(id, false) {
		return Errorf(CodeMalformed, "batch_id %q: only A-Z a-z 0-9 - _ are allowed", id)
	}
	return nil
}

// ValidateName checks a user or device name [SP-2-4]: 1 to MaxReplicaBytes
// characters from A-Z, a-z, 0-9, '.', '-' and '_'. The replica ID of a
// device is "user/device".
func ValidateName(name string) error {
	if name == "" || len(name) > MaxReplicaBytes || !isName(name, true) {
		return Errorf(CodeMalformed, "name %q: want 1 to %d characters from A-Z a-z 0-9 . - _", name, MaxReplicaBytes)
	}
	return nil
}

func isName(s string, dot bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || dot && c == '.'
		if !ok {
			return false
		}
	}
	return true
}
