package protocol

import (
	"encoding/binary"
	"fmt"
	"reflect"
)

// UnmarshalCapped is Unmarshal for a receiver that refuses long lists
// (a server: uploads over max_batch_items, download IDs, conflict IDs and
// watch cursors over max_ids). A list of the message (an array or a
// caller-keyed map of a top-level field) holding more than max entries is
// decoded as its first max+1 entries (distinct keys for a map): its
// length still tells validation that it is too long, and decoding
// allocates for at most max+1 entries whatever the body claims. The
// entries left out are checked as Unmarshal checks every value, so a body
// is malformed exactly when Unmarshal says so [SP-4.1-4]; a body without
// a list over max decodes exactly as with Unmarshal.
//
// Without the cap a body of one-byte entries (nil uploads, empty strings)
// makes the decoder allocate 16 to 100 bytes per body byte before
// validation can refuse the list.
func UnmarshalCapped(b []byte, v any, max int) error { return unmarshalCapped(b, v, max, false) }

// UnmarshalCappedOwned is UnmarshalCapped for a body the caller never
// writes to again (a decompressed request body): the decoded message may
// share its bytes, as with UnmarshalOwned, instead of copying them.
func UnmarshalCappedOwned(b []byte, v any, max int) error { return unmarshalCapped(b, v, max, true) }

func unmarshalCapped(b []byte, v any, max int, owned bool) error {
	if max < 0 {
		max = 0
	}
	if len(b) == 0 || !isMapCode(b[0]) {
		return unmarshal(b, v, owned)
	}
	if n, err := scan(b, 0, 0); err != nil || n != len(b) {
		return unmarshal(b, v, owned) // the same refusal
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return unmarshal(b, v, owned)
	}
	cut, long := capLists(b, t, max)
	if !long {
		return unmarshal(b, v, owned)
	}
	// Everything the cut leaves out must still be well-formed.
	if err := checkFamilies(b, 0, t); err != nil {
		return Errorf(CodeMalformed, "%s: %v", typeName(v), err)
	}
	return UnmarshalOwned(cut, v)
}

// capLists returns b with every top-level list field of struct type t
// longer than max cut to max+1 entries, and whether it cut any. b has
// passed scan.
func capLists(b []byte, t reflect.Type, max int) ([]byte, bool) {
	n, hdr, _ := mapHeader(b, 0)
	fields := fieldsOf(t)
	pos := hdr
	var out []byte
	long := false
	for i := 0; i < n; i++ {
		klen, _ := scan(b, pos, 0)
		vlen, _ := scan(b, pos+klen, 0)
		entry := b[pos : pos+klen+vlen]
		ks, ke := keySpan(b, pos, klen)
		if ft, ok := fields[string(b[ks:ke])]; ok {
			if short, cut := capList(b, pos+klen, ft, max); cut {
				if !long {
					out = append(make([]byte, 0, len(b)), b[:pos]...)
					long = true
				}
				out = append(append(out, b[pos:pos+klen]...), short...)
				pos += klen + vlen
				continue
			}
		}
		if long {
			out = append(out, entry...)
		}
		pos += klen + vlen
	}
	return out, long
}

// capList returns the value at b[off] cut to max+1 entries when it is a
// list of type t longer than max.
func capList(b []byte, off int, t reflect.Type, max int) ([]byte, bool) {
	switch {
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		n, hdr, ok := arrayHeader(b, off)
		if !ok || n <= max {
			return nil, false
		}
		pos := off + hdr
		for i := 0; i <= max; i++ {
			l, _ := scan(b, pos, 0)
			pos += l
		}
		out := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(max+1))
		return append(out, b[off+hdr:pos]...), true
	case t.Kind() == reflect.Map:
		n, hdr, ok := mapHeader(b, off)
		if !ok || n <= max {
			return nil, false
		}
		// Keep the first max+1 distinct keys (the last value of each
		// within the kept part): the map's length is what matters.
		seen := make(map[string]struct{}, max+1)
		out := binary.BigEndian.AppendUint32([]byte{0xdf}, 0)
		pos := off + hdr
		for i := 0; i < n && len(seen) <= max; i++ {
			klen, _ := scan(b, pos, 0)
			vlen, _ := scan(b, pos+klen, 0)
			ks, ke := keySpan(b, pos, klen)
			seen[string(b[ks:ke])] = struct{}{}
			out = append(out, b[pos:pos+klen+vlen]...)
			pos += klen + vlen
			binary.BigEndian.PutUint32(out[1:5], uint32(i+1))
		}
		return out, len(seen) > max
	}
	return nil, false
}

// keySpan returns the bytes of the str key at b[off:off+n] (scan made
// every key a str) as b[start:end]; indexing a map with string(b[start:end])
// does not allocate.
func keySpan(b []byte, off, n int) (start, end int) {
	hdr := 1
	switch b[off] {
	case 0xd9:
		hdr = 2
	case 0xda:
		hdr = 3
	case 0xdb:
		hdr = 5
	}
	return off + hdr, off + n
}

// checkFamilies checks, without allocating, every value of a scanned
// body against the Go type it decodes into, as the decoders do: nil
// anywhere, a str or a bin for a string or a byte slice [SP-4.1-6], a
// bool for a bool, a non-negative integer in range for an integer, a map
// for a message or a map, an array for a list [SP-4.1-3]. Keys the type
// does not know are left alone (scan checked them).
func checkFamilies(b []byte, off int, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	c := b[off]
	if c == 0xc0 {
		return nil
	}
	wrong := func() error {
		return fmt.Errorf("msgpack type 0x%02x at offset %d where a %s belongs", c, off, t)
	}
	isBin := c == 0xc4 || c == 0xc5 || c == 0xc6
	switch t.Kind() {
	case reflect.String:
		if !isStrCode(c) && !isBin {
			return wrong()
		}
	case reflect.Bool:
		if c != 0xc2 && c != 0xc3 {
			return wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, ok := uintValue(b, off)
		if !ok {
			return wrong()
		}
		if v > maxOf(t) {
			return fmt.Errorf("integer %d at offset %d is out of range (at most %d)", v, off, maxOf(t))
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if !isStrCode(c) && !isBin {
				return wrong()
			}
			return nil
		}
		n, hdr, ok := arrayHeader(b, off)
		if !ok {
			return wrong()
		}
		pos := off + hdr
		for i := 0; i < n; i++ {
			if err := checkFamilies(b, pos, t.Elem()); err != nil {
				return err
			}
			l, _ := scan(b, pos, 0)
			pos += l
		}
	case reflect.Map, reflect.Struct:
		n, hdr, ok := mapHeader(b, off)
		if !ok {
			return wrong()
		}
		var fields map[string]reflect.Type
		if t.Kind() == reflect.Struct {
			fields = fieldsOf(t)
		}
		pos := off + hdr
		for i := 0; i < n; i++ {
			klen, _ := scan(b, pos, 0)
			var vt reflect.Type
			known := true
			if fields != nil {
				ks, ke := keySpan(b, pos, klen)
				vt, known = fields[string(b[ks:ke])]
			} else {
				vt = t.Elem()
			}
			if known {
				if err := checkFamilies(b, pos+klen, vt); err != nil {
					return err
				}
			}
			vlen, _ := scan(b, pos+klen, 0)
			pos += klen + vlen
		}
	default:
		return fmt.Errorf("bug: checkFamilies: %s has no wire form", t)
	}
	return nil
}
