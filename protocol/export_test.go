package protocol

import "reflect"

// Hooks for the external tests (fuzz_test.go): the two decoders that
// Unmarshal chooses between, and the scanner.

// Scan is scan from the top of b.
func Scan(b []byte) (int, error) { return scan(b, 0, 0) }

// UnmarshalFast runs only the hand-written decoder; it reports whether it
// took b (false: Unmarshal would fall back to the reflective decoder).
func UnmarshalFast(b []byte, v any) bool {
	if _, err := scan(b, 0, 0); err != nil {
		return false
	}
	return fastUnmarshal(b, v, false)
}

// UnmarshalReflect runs only the reflective decoder (with the checks
// Unmarshal makes before it).
func UnmarshalReflect(b []byte, v any) error {
	if len(b) == 0 || !isMapCode(b[0]) {
		return Errorf(CodeMalformed, "not a map")
	}
	n, err := scan(b, 0, 0)
	if err != nil {
		return Errorf(CodeMalformed, "%v", err)
	}
	if n != len(b) {
		return Errorf(CodeMalformed, "%d bytes after the message", len(b)-n)
	}
	if err := checkShape(b, 0, reflect.TypeOf(v), typeName(v)); err != nil {
		return Errorf(CodeMalformed, "%v", err)
	}
	return unmarshalReflect(b, v)
}
