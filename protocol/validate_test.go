package protocol

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestErrorIDsAreValidUTF8 checks [SP-9-7]: every entry of Error.ids is
// valid UTF-8 of at most MaxIDBytes bytes, invalid sequences replaced by
// U+FFFD and over-long IDs cut at a character boundary; a valid ID of at
// most MaxIDBytes bytes is listed unchanged.
func TestErrorIDsAreValidUTF8(t *testing.T) {
	const r = "\uFFFD"
	cases := []struct{ name, id, want string }{
		{"valid ID unchanged", "note-1", "note-1"},
		{"multi-byte ID unchanged", "caf\u00e9/\U0001F600", "caf\u00e9/\U0001F600"},
		{"empty ID", "", ""},
		{"byte ff", "a\xffb", "a" + r + "b"},
		{"run of invalid bytes is one U+FFFD", "a\xff\xfe\xfdb", "a" + r + "b"},
		{"truncated sequence", "x\xe2\x82", "x" + r},
		{"encoded surrogate", "\xed\xa0\x80z", r + "z"},
		{"over-long ASCII cut to 256", strings.Repeat("a", 300), strings.Repeat("a", 256)},
		{"exactly 256 bytes kept", strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{"cut before a 2-byte character", strings.Repeat("a", 255) + "\u00e9", strings.Repeat("a", 255)},
		{"cut before a 4-byte character", strings.Repeat("a", 254) + "\U0001F600" + "b", strings.Repeat("a", 254)},
		{"over-long multi-byte", strings.Repeat("\u00e9", 200), strings.Repeat("\u00e9", 128)},
		{"replacement grows the ID past 256", strings.Repeat("a\xff", 128), strings.Repeat("a"+r, 64)},
		{"control character kept", "a\x01b", "a\x01b"},
	}
	for _, c := range cases {
		got := ErrorID(c.id)
		if got != c.want {
			t.Errorf("%s: ErrorID(%q) = %q, want %q", c.name, c.id, got, c.want)
		}
		if !utf8.ValidString(got) || len(got) > MaxIDBytes {
			t.Errorf("%s: ErrorID(%q) = %q is not valid UTF-8 of at most %d bytes", c.name, c.id, got, MaxIDBytes)
		}
		e := Errorf(CodeInvalidID, "x").WithIDs(c.id, "ok")
		if len(e.IDs) != 2 || e.IDs[0] != c.want || e.IDs[1] != "ok" {
			t.Errorf("%s: WithIDs = %q", c.name, e.IDs)
		}
	}
}

// TestValidateIDListsValidUTF8 checks that the invalid_id errors of
// ValidateID [SP-2-2] carry valid UTF-8 in ids and message.
func TestValidateIDListsValidUTF8(t *testing.T) {
	cases := []struct{ id, want string }{
		{"a\xffb", "a\uFFFDb"},
		{strings.Repeat("\u00e9", 129), strings.Repeat("\u00e9", 128)},  // 258 bytes: cut at a boundary
		{strings.Repeat("a", 255) + "\u00e9", strings.Repeat("a", 255)}, // 257 bytes
		{strings.Repeat("a", 256) + "\xff", strings.Repeat("a", 256)},   // long and invalid
		{"tab\there", "tab\there"},                                      // control character: valid UTF-8, unchanged
		{strings.Repeat("b", 300), strings.Repeat("b", 256)},
	}
	for _, c := range cases {
		err := ValidateID(c.id)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidID {
			t.Fatalf("ValidateID(%q) = %v, want invalid_id", c.id, err)
		}
		if len(e.IDs) != 1 || e.IDs[0] != c.want {
			t.Errorf("ValidateID(%q): ids = %q, want [%q]", c.id, e.IDs, c.want)
		}
		if !utf8.ValidString(e.Message) {
			t.Errorf("ValidateID(%q): message %q is not valid UTF-8", c.id, e.Message)
		}
	}
	if err := ValidateID("note-1"); err != nil {
		t.Errorf("ValidateID(note-1) = %v", err)
	}
}

// TestErrorfMessageIsValidUTF8 checks that a message quoting raw bytes is
// still a valid str.
func TestErrorfMessageIsValidUTF8(t *testing.T) {
	e := Errorf(CodeNotFound, "no endpoint %s", "/v1/\xff")
	if !utf8.ValidString(e.Message) || e.Message != "no endpoint /v1/\uFFFD" {
		t.Errorf("message = %q", e.Message)
	}
}
