// Package gen computes the Syncprint test vectors (spec/vectors) from the
// reference packages. [Files] returns every file by its slash-separated path
// relative to the vectors directory; the output is deterministic, so the
// spec test can regenerate it and compare it with the committed files.
package gen

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
)

// Files returns every vector file, keyed by its path relative to the
// vectors directory.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, g := range []func(map[string][]byte) error{
		genFingerprint, genHLC, genMessages, genDecisions, genMalformed, genSession, genFormats, genCodings,
	} {
		if err := g(files); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// The fixed identities and times every vector uses.
const (
	user      = "alice"
	laptop    = "alice/laptop"
	phone     = "alice/phone"
	coll      = "notes"
	epoch     = "3f9a1c2e7b4d8605"
	serverVer = "syncprint/0.1.0"
)

// baseMillis is 2026-11-25T12:00:00Z.
var baseMillis = uint64(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMilli())

// hlcAt returns the HLC d milliseconds after baseMillis with a logical counter.
func hlcAt(d uint64, logical uint16) changelog.HLC { return changelog.NewHLC(baseMillis+d, logical) }

func fpOf(id string, deleted bool, content []byte) []byte {
	return fingerprint.Of(id, deleted, content).Bytes()
}

// writeJSON encodes v indented, without HTML escaping, with a final newline.
func writeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Render converts one canonical msgpack value to JSON, keeping map key
// order: maps become objects, arrays arrays, str strings, bin lower-case
// hex strings, nil null, integers numbers (which may exceed 2^53). It fails
// on anything outside the subset Syncprint messages use.
func Render(b []byte) (json.RawMessage, error) {
	var out bytes.Buffer
	n, err := render(&out, b, 0)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("render: %d trailing bytes", len(b)-n)
	}
	return out.Bytes(), nil
}

func render(out *bytes.Buffer, b []byte, off int) (int, error) {
	if off >= len(b) {
		return 0, fmt.Errorf("render: truncated")
	}
	c := b[off]
	be := func(n int) (uint64, error) {
		if off+1+n > len(b) {
			return 0, fmt.Errorf("render: truncated")
		}
		switch n {
		case 1:
			return uint64(b[off+1]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(b[off+1:])), nil
		case 4:
			return uint64(binary.BigEndian.Uint32(b[off+1:])), nil
		}
		return binary.BigEndian.Uint64(b[off+1:]), nil
	}
	str := func(hdr int, n uint64, isBin bool) (int, error) {
		end := off + hdr + int(n)
		if end > len(b) {
			return 0, fmt.Errorf("render: truncated")
		}
		s := b[off+hdr : end]
		if isBin {
			out.WriteString(strconv.Quote(hex.EncodeToString(s)))
		} else {
			if !utf8.Valid(s) {
				return 0, fmt.Errorf("render: invalid UTF-8 string")
			}
			j, _ := json.Marshal(string(s))
			out.Write(j)
		}
		return end - off, nil
	}
	seq := func(hdr int, n uint64, isMap bool) (int, error) {
		pos := off + hdr
		if isMap {
			out.WriteByte('{')
		} else {
			out.WriteByte('[')
		}
		for i := uint64(0); i < n; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			if isMap {
				l, err := render(out, b, pos)
				if err != nil {
					return 0, err
				}
				pos += l
				out.WriteByte(':')
			}
			l, err := render(out, b, pos)
			if err != nil {
				return 0, err
			}
			pos += l
		}
		if isMap {
			out.WriteByte('}')
		} else {
			out.WriteByte(']')
		}
		return pos - off, nil
	}
	switch {
	case c <= 0x7f:
		out.WriteString(strconv.Itoa(int(c)))
		return 1, nil
	case c&0xf0 == 0x80:
		return seq(1, uint64(c&0x0f), true)
	case c&0xf0 == 0x90:
		return seq(1, uint64(c&0x0f), false)
	case c&0xe0 == 0xa0:
		return str(1, uint64(c&0x1f), false)
	}
	switch c {
	case 0xc0:
		out.WriteString("null")
		return 1, nil
	case 0xc2:
		out.WriteString("false")
		return 1, nil
	case 0xc3:
		out.WriteString("true")
		return 1, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		n := 1 << (c - 0xcc)
		v, err := be(n)
		if err != nil {
			return 0, err
		}
		out.WriteString(strconv.FormatUint(v, 10))
		return 1 + n, nil
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb:
		var n int
		switch c {
		case 0xc4, 0xd9:
			n = 1
		case 0xc5, 0xda:
			n = 2
		default:
			n = 4
		}
		l, err := be(n)
		if err != nil {
			return 0, err
		}
		return str(1+n, l, c <= 0xc6)
	case 0xdc, 0xdd, 0xde, 0xdf:
		n := 2
		if c == 0xdd || c == 0xdf {
			n = 4
		}
		l, err := be(n)
		if err != nil {
			return 0, err
		}
		return seq(1+n, l, c >= 0xde)
	}
	return 0, fmt.Errorf("render: byte 0x%02x at %d is outside the canonical subset", c, off)
}

func fingerprintOf(id string, deleted bool, content []byte) fingerprint.Fingerprint {
	return fingerprint.Of(id, deleted, content)
}

// Canonical returns a pointer to a copy of the message v in which every nil
// slice and map is empty, so that protocol.Marshal writes an empty array,
// map or bin as 0x90, 0x80 or 0xc4 0x00 and keeps nil (0xc0) for absent
// nested messages only, as the canonical form requires [SP-4.1-2].
func Canonical(v any) any {
	rv := reflect.ValueOf(v)
	var p reflect.Value
	if rv.Kind() == reflect.Pointer {
		p = reflect.New(rv.Elem().Type())
		p.Elem().Set(rv.Elem())
	} else {
		p = reflect.New(rv.Type())
		p.Elem().Set(rv)
	}
	fillEmpty(p.Elem())
	return p.Interface()
}

// fillEmpty replaces nil slices and maps below v with empty ones. It copies
// what it changes, so values shared with the caller are left alone.
func fillEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				fillEmpty(f)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(v.Elem())
			fillEmpty(c.Elem())
			v.Set(c)
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := 0; i < c.Len(); i++ {
			fillEmpty(c.Index(i))
		}
		v.Set(c)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
	}
}
