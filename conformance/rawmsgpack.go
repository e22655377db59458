package conformance

import (
	"encoding/binary"
	"sort"
)

// A tiny msgpack writer for hand-made bodies: non-canonical and malformed
// encodings that a well-behaved encoder never produces.

type kv struct {
	k string
	v []byte
}

// mMap encodes a map with str keys in the given order (fixmap or map16).
func mMap(kvs ...kv) []byte {
	var b []byte
	if len(kvs) < 16 {
		b = []byte{0x80 | byte(len(kvs))}
	} else {
		b = []byte{0xde, byte(len(kvs) >> 8), byte(len(kvs))}
	}
	for _, e := range kvs {
		b = append(b, mStr(e.k)...)
		b = append(b, e.v...)
	}
	return b
}

// mArr encodes an array of encoded values (fixarray or array16).
func mArr(vs ...[]byte) []byte {
	var b []byte
	if len(vs) < 16 {
		b = []byte{0x90 | byte(len(vs))}
	} else {
		b = []byte{0xdc, byte(len(vs) >> 8), byte(len(vs))}
	}
	for _, v := range vs {
		b = append(b, v...)
	}
	return b
}

// mStr encodes a str with its shortest header.
func mStr(s string) []byte {
	n := len(s)
	var b []byte
	switch {
	case n < 32:
		b = []byte{0xa0 | byte(n)}
	case n < 256:
		b = []byte{0xd9, byte(n)}
	case n < 65536:
		b = []byte{0xda, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint32([]byte{0xdb}, uint32(n))
	}
	return append(b, s...)
}

// mBin encodes a bin with its shortest header.
func mBin(p []byte) []byte {
	n := len(p)
	var b []byte
	switch {
	case n < 256:
		b = []byte{0xc4, byte(n)}
	case n < 65536:
		b = []byte{0xc5, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint32([]byte{0xc6}, uint32(n))
	}
	return append(b, p...)
}

// mUint encodes a non-negative integer in its shortest format.
func mUint(v uint64) []byte {
	switch {
	case v < 128:
		return []byte{byte(v)}
	case v < 256:
		return []byte{0xcc, byte(v)}
	case v < 65536:
		return []byte{0xcd, byte(v >> 8), byte(v)}
	case v < 1<<32:
		return binary.BigEndian.AppendUint32([]byte{0xce}, uint32(v))
	default:
		return binary.BigEndian.AppendUint64([]byte{0xcf}, v)
	}
}

func mBool(v bool) []byte {
	if v {
		return []byte{0xc3}
	}
	return []byte{0xc2}
}

var mNil = []byte{0xc0}

// raw concatenates byte slices.
func raw(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// rawUpload encodes an upload canonically, with value overrides by key (a
// nil override drops the key).
func rawUpload(u uploadFields, override map[string][]byte) []byte {
	fields := []kv{
		{"id", mStr(u.id)}, {"base", mUint(u.base)}, {"seen", mUint(u.seen)}, {"fp", mBin(u.fp)},
		{"hlc", mUint(u.hlc)}, {"deleted", mBool(u.deleted)}, {"content", mBin(u.content)},
	}
	return mMap(applyOverrides(fields, override)...)
}

type uploadFields struct {
	id         string
	base, seen uint64
	fp         []byte
	hlc        uint64
	deleted    bool
	content    []byte
}

func applyOverrides(fields []kv, override map[string][]byte) []kv {
	var out []kv
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.k] = true
		if v, ok := override[f.k]; ok {
			if v == nil {
				continue
			}
			f.v = v
		}
		out = append(out, f)
	}
	var extra []string
	for k := range override {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		if v := override[k]; v != nil {
			out = append(out, kv{k, v})
		}
	}
	return out
}
