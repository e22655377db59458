package protocol

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// checkShape walks a scanned msgpack value along the Go type it decodes
// into and refuses the one thing the msgpack library would otherwise
// accept silently: an array where a message (a struct) belongs, which it
// decodes as a struct encoded as an array [SP-4.1-4]. Unknown keys are
// skipped; everything else is left to the decoder. b has passed scan, so
// every length is in bounds.
func checkShape(b []byte, off int, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	c := b[off]
	if c == 0xc0 { // nil: absent value, the decoder's business
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v, ok := uintValue(b, off); ok && v > maxOf(t) {
			return fmt.Errorf("%s: integer %d is out of range (at most %d)", path, v, maxOf(t))
		}
	case reflect.Struct:
		n, hdr, ok := mapHeader(b, off)
		if !ok {
			return fmt.Errorf("%s: want a map (a message), got msgpack type 0x%02x", path, c)
		}
		fields := fieldsOf(t)
		pos := off + hdr
		for i := 0; i < n; i++ {
			klen, err := scan(b, pos, 0)
			if err != nil {
				return err
			}
			key, isStr := strValue(b, pos, klen)
			pos += klen
			vlen, err := scan(b, pos, 0)
			if err != nil {
				return err
			}
			if f, ok := fields[key]; ok && isStr {
				if err := checkShape(b, pos, f, path+"."+key); err != nil {
					return err
				}
			}
			pos += vlen
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		n, hdr, ok := arrayHeader(b, off)
		if !ok {
			return nil // the decoder reports the wrong type
		}
		pos := off + hdr
		for i := 0; i < n; i++ {
			if err := checkShape(b, pos, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
			l, err := scan(b, pos, 0)
			if err != nil {
				return err
			}
			pos += l
		}
	case reflect.Map:
		n, hdr, ok := mapHeader(b, off)
		if !ok {
			return nil
		}
		pos := off + hdr
		for i := 0; i < n; i++ {
			klen, err := scan(b, pos, 0)
			if err != nil {
				return err
			}
			key, _ := strValue(b, pos, klen)
			pos += klen
			if err := checkShape(b, pos, t.Elem(), path+"."+key); err != nil {
				return err
			}
			vlen, err := scan(b, pos, 0)
			if err != nil {
				return err
			}
			pos += vlen
		}
	}
	return nil
}

// uintValue returns the value of a msgpack unsigned integer at b[off]
// (negative integers never pass scan).
func uintValue(b []byte, off int) (uint64, bool) {
	switch c := b[off]; {
	case c <= 0x7f:
		return uint64(c), true
	case c == 0xcc, c == 0xd0:
		return uint64(b[off+1]), true
	case c == 0xcd, c == 0xd1:
		return uint64(binary.BigEndian.Uint16(b[off+1:])), true
	case c == 0xce, c == 0xd2:
		return uint64(binary.BigEndian.Uint32(b[off+1:])), true
	case c == 0xcf, c == 0xd3:
		return binary.BigEndian.Uint64(b[off+1:]), true
	}
	return 0, false
}

// maxOf returns the largest value an integer field holds on the wire. A Go
// int is the spec's "int", at most 2^31-1 on every platform [SP-4.1-1].
func maxOf(t reflect.Type) uint64 {
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Int:
		return 1<<31 - 1
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return 1<<(bits-1) - 1
	}
	if bits == 64 {
		return ^uint64(0)
	}
	return 1<<bits - 1
}

func mapHeader(b []byte, off int) (n, hdr int, ok bool) {
	switch c := b[off]; {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), 1, true
	case c == 0xde:
		return int(binary.BigEndian.Uint16(b[off+1:])), 3, true
	case c == 0xdf:
		return int(binary.BigEndian.Uint32(b[off+1:])), 5, true
	}
	return 0, 0, false
}

func arrayHeader(b []byte, off int) (n, hdr int, ok bool) {
	switch c := b[off]; {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), 1, true
	case c == 0xdc:
		return int(binary.BigEndian.Uint16(b[off+1:])), 3, true
	case c == 0xdd:
		return int(binary.BigEndian.Uint32(b[off+1:])), 5, true
	}
	return 0, 0, false
}

// strValue returns the string at b[off:off+n] if it is a msgpack str.
func strValue(b []byte, off, n int) (string, bool) {
	c := b[off]
	hdr := 0
	switch {
	case c&0xe0 == 0xa0:
		hdr = 1
	case c == 0xd9:
		hdr = 2
	case c == 0xda:
		hdr = 3
	case c == 0xdb:
		hdr = 5
	default:
		return "", false
	}
	return string(b[off+hdr : off+n]), true
}

// fieldCache maps a struct type to its msgpack keys and field types.
var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
