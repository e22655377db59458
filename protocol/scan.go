package protocol

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds nesting in a message; no message nests deeper than 4.
const maxDepth = 16

// scan walks one msgpack value starting at b[0] without allocating and
// returns its length. It rejects what no Syncprint message contains:
// negative integers, floats, ext types, map keys that are not str, and
// nesting deeper than maxDepth;
// and it catches truncation and container lengths larger than the bytes
// left, before the decoder allocates for them [SP-4.1-4].
func scan(b []byte, off, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nesting deeper than %d at offset %d", maxDepth, off)
	}
	if off >= len(b) {
		return 0, errTruncated
	}
	c := b[off]
	need := func(n int) error {
		if off+n > len(b) {
			return errTruncated
		}
		return nil
	}
	u := func(size int) uint64 { // big-endian length or value after the code byte
		switch size {
		case 1:
			return uint64(b[off+1])
		case 2:
			return uint64(binary.BigEndian.Uint16(b[off+1:]))
		case 4:
			return uint64(binary.BigEndian.Uint32(b[off+1:]))
		default:
			return binary.BigEndian.Uint64(b[off+1:])
		}
	}
	container := func(hdr int, n uint64, perEntry int) (int, error) {
		// Every element takes at least one byte: a count larger than what is
		// left is a lie, caught before anything is allocated.
		if n*uint64(perEntry) > uint64(len(b)-off-hdr) {
			return 0, errTruncated
		}
		pos := off + hdr
		for i := uint64(0); i < n*uint64(perEntry); i++ {
			if perEntry == 2 && i%2 == 0 && pos < len(b) && !isStrCode(b[pos]) {
				return 0, fmt.Errorf("map key at offset %d is not a str (msgpack type 0x%02x)", pos, b[pos])
			}
			l, err := scan(b, pos, depth+1)
			if err != nil {
				return 0, err
			}
			pos += l
		}
		return pos - off, nil
	}
	blob := func(hdr int, n uint64) (int, error) {
		if uint64(len(b)-off-hdr) < n {
			return 0, errTruncated
		}
		return hdr + int(n), nil
	}
	switch {
	case c <= 0x7f, c == 0xc0, c == 0xc2, c == 0xc3: // positive fixint, nil, false, true
		return 1, nil
	case c >= 0xe0: // negative fixint
		return 0, fmt.Errorf("negative integer at offset %d", off)
	case c&0xf0 == 0x80: // fixmap
		return container(1, uint64(c&0x0f), 2)
	case c&0xf0 == 0x90: // fixarray
		return container(1, uint64(c&0x0f), 1)
	case c&0xe0 == 0xa0: // fixstr
		return blob(1, uint64(c&0x1f))
	}
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8..64
		n := 1 << (c - 0xcc)
		if err := need(1 + n); err != nil {
			return 0, err
		}
		return 1 + n, nil
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8..64: only non-negative values pass
		n := 1 << (c - 0xd0)
		if err := need(1 + n); err != nil {
			return 0, err
		}
		if b[off+1]&0x80 != 0 {
			return 0, fmt.Errorf("negative integer at offset %d", off)
		}
		return 1 + n, nil
	case 0xc4, 0xd9: // bin8, str8
		if err := need(2); err != nil {
			return 0, err
		}
		return blob(2, u(1))
	case 0xc5, 0xda: // bin16, str16
		if err := need(3); err != nil {
			return 0, err
		}
		return blob(3, u(2))
	case 0xc6, 0xdb: // bin32, str32
		if err := need(5); err != nil {
			return 0, err
		}
		return blob(5, u(4))
	case 0xdc: // array16
		if err := need(3); err != nil {
			return 0, err
		}
		return container(3, u(2), 1)
	case 0xdd: // array32
		if err := need(5); err != nil {
			return 0, err
		}
		return container(5, u(4), 1)
	case 0xde: // map16
		if err := need(3); err != nil {
			return 0, err
		}
		return container(3, u(2), 2)
	case 0xdf: // map32
		if err := need(5); err != nil {
			return 0, err
		}
		return container(5, u(4), 2)
	case 0xca, 0xcb:
		return 0, fmt.Errorf("floating-point value at offset %d", off)
	case 0xc1:
		return 0, fmt.Errorf("reserved byte 0xc1 at offset %d", off)
	default: // ext types 0xc7-0xc9, 0xd4-0xd8
		return 0, fmt.Errorf("extension type 0x%02x at offset %d", c, off)
	}
}

// isStrCode reports whether c starts a msgpack str: every map key is one
// [SP-4.1-4], under known and unknown keys alike.
func isStrCode(c byte) bool { return c&0xe0 == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb }

var errTruncated = fmt.Errorf("truncated msgpack body")
