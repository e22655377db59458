package wirecheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/syncprint/syncprint/protocol"
)

// maxParseDepth is the deepest level below the top-level map a value may
// sit at (SP-4.1-4: the top-level map's values are at level 1).
const maxParseDepth = 16

// value is one parsed msgpack value.
type value struct {
	kind  kind
	b     bool
	u     uint64
	s     []byte  // str and bin bytes
	elems []value // array elements; map keys and values alternating
}

type kind byte

const (
	kNil kind = iota
	kBool
	kUint
	kStr
	kBin
	kArray
	kMap
)

var kindNames = [...]string{"nil", "bool", "uint", "str", "bin", "array", "map"}

func (k kind) String() string { return kindNames[k] }

// Parse reads exactly one value of the SP-4.1-1 subset filling b; it
// refuses what the subset excludes, truncation, and trailing bytes.
func Parse(b []byte) error {
	_, err := parseAll(b)
	return err
}

func parseAll(b []byte) (value, error) {
	v, n, err := parse(b, 0, 0)
	if err != nil {
		return value{}, err
	}
	if n != len(b) {
		return value{}, fmt.Errorf("%d bytes after the value", len(b)-n)
	}
	return v, nil
}

func parse(b []byte, off, depth int) (value, int, error) {
	if depth > maxParseDepth {
		return value{}, 0, fmt.Errorf("nesting deeper than %d", maxParseDepth)
	}
	if off >= len(b) {
		return value{}, 0, fmt.Errorf("truncated at %d", off)
	}
	c := b[off]
	rest := len(b) - off - 1
	num := func(size int) (uint64, error) {
		if rest < size {
			return 0, fmt.Errorf("truncated number at %d", off)
		}
		p := b[off+1 : off+1+size]
		switch size {
		case 1:
			return uint64(p[0]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(p)), nil
		case 4:
			return uint64(binary.BigEndian.Uint32(p)), nil
		}
		return binary.BigEndian.Uint64(p), nil
	}
	blob := func(k kind, hdr int, n uint64) (value, int, error) {
		if uint64(len(b)-off-hdr) < n {
			return value{}, 0, fmt.Errorf("%s at %d claims %d bytes, %d left", k, off, n, len(b)-off-hdr)
		}
		start := off + hdr
		return value{kind: k, s: b[start : start+int(n)]}, hdr + int(n), nil
	}
	container := func(k kind, hdr int, n uint64) (value, int, error) {
		count := n
		if k == kMap {
			count = 2 * n
		}
		if count > uint64(len(b)-off-hdr) { // every value takes a byte at least
			return value{}, 0, fmt.Errorf("%s at %d claims %d entries, %d bytes left", k, off, n, len(b)-off-hdr)
		}
		v := value{kind: k, elems: make([]value, 0, int(count))}
		pos := off + hdr
		for i := uint64(0); i < count; i++ {
			e, l, err := parse(b, pos, depth+1)
			if err != nil {
				return value{}, 0, err
			}
			if k == kMap && i%2 == 0 && e.kind != kStr {
				return value{}, 0, fmt.Errorf("a %s map key at %d", e.kind, pos)
			}
			v.elems = append(v.elems, e)
			pos += l
		}
		return v, pos - off, nil
	}
	switch {
	case c <= 0x7f:
		return value{kind: kUint, u: uint64(c)}, 1, nil
	case c >= 0xe0:
		return value{}, 0, fmt.Errorf("negative fixint at %d", off)
	case c&0xf0 == 0x80:
		return container(kMap, 1, uint64(c&0x0f))
	case c&0xf0 == 0x90:
		return container(kArray, 1, uint64(c&0x0f))
	case c&0xe0 == 0xa0:
		return blob(kStr, 1, uint64(c&0x1f))
	}
	switch c {
	case 0xc0:
		return value{kind: kNil}, 1, nil
	case 0xc2, 0xc3:
		return value{kind: kBool, b: c == 0xc3}, 1, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		size := 1 << (c - 0xcc)
		u, err := num(size)
		return value{kind: kUint, u: u}, 1 + size, err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (c - 0xd0)
		u, err := num(size)
		if err == nil && u>>(8*size-1) != 0 {
			err = fmt.Errorf("negative integer at %d", off)
		}
		return value{kind: kUint, u: u}, 1 + size, err
	case 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6:
		k, size := kStr, 1<<(c-0xd9)
		if c <= 0xc6 {
			k, size = kBin, 1<<(c-0xc4)
		}
		n, err := num(size)
		if err != nil {
			return value{}, 0, err
		}
		return blob(k, 1+size, n)
	case 0xdc, 0xdd, 0xde, 0xdf:
		k := kArray
		if c >= 0xde {
			k = kMap
		}
		size := 2 << ((c - 0xdc) % 2)
		n, err := num(size)
		if err != nil {
			return value{}, 0, err
		}
		return container(k, 1+size, n)
	}
	return value{}, 0, fmt.Errorf("byte 0x%02x at %d is outside the protocol's msgpack subset", c, off)
}

// Options tune Canonical.
type Options struct {
	// KeepNil keeps an absent or nil array, map or bin as nil (c0) instead
	// of the empty value rule 5 of SP-4.1-2 prescribes. protocol.Marshal
	// writes a nil Go slice or map so; set it to compare with Marshal's
	// output for a decoded message.
	KeepNil bool
	// ExchangeCursorLast puts the cursor key of an ExchangeRequest last:
	// the one departure from the canonical order a client may make
	// (SP-4.1-2).
	ExchangeCursorLast bool
}

// Canonical returns the canonical encoding (SP-4.1-2) of the message body b
// as a value of msg's type (a protocol message, or a pointer to one). b
// must follow SP-4.1-1 and SP-4.1-3; an error says where it does not.
// Repeated keys take their last occurrence (SP-4.1-5), a str where a bin
// belongs and the reverse are converted (SP-4.1-6), unknown keys are
// dropped.
func Canonical(b []byte, msg any, opts Options) ([]byte, error) {
	t := reflect.TypeOf(msg)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	v, err := parseAll(b)
	if err != nil {
		return nil, err
	}
	if v.kind != kMap {
		return nil, fmt.Errorf("body is a %s, want a map", v.kind)
	}
	e := encoder{opts: opts}
	return e.encode(nil, t, &v, t.Name())
}

type encoder struct{ opts Options }

func (e encoder) encode(dst []byte, t reflect.Type, v *value, path string) ([]byte, error) {
	absent := v == nil || v.kind == kNil
	wrong := func() ([]byte, error) {
		return nil, fmt.Errorf("%s: a %s where a %s belongs", path, v.kind, t)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if absent {
			return append(dst, 0xc0), nil
		}
		return e.encode(dst, t.Elem(), v, path)
	case reflect.Struct:
		if !absent && v.kind != kMap {
			return wrong()
		}
		return e.message(dst, t, v, path)
	case reflect.String:
		switch {
		case absent:
			return append(dst, 0xa0), nil
		case v.kind == kStr || v.kind == kBin:
			return appendStr(dst, v.s), nil
		}
		return wrong()
	case reflect.Bool:
		switch {
		case absent:
			return append(dst, 0xc2), nil
		case v.kind == kBool:
			if v.b {
				return append(dst, 0xc3), nil
			}
			return append(dst, 0xc2), nil
		}
		return wrong()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch {
		case absent:
			return append(dst, 0), nil
		case v.kind == kUint:
			if v.u > maxOf(t) {
				return nil, fmt.Errorf("%s: %d is over the range of %s", path, v.u, t)
			}
			return appendUint(dst, v.u), nil
		}
		return wrong()
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			switch {
			case absent && e.opts.KeepNil:
				return append(dst, 0xc0), nil
			case absent:
				return append(dst, 0xc4, 0), nil
			case v.kind == kBin || v.kind == kStr:
				return appendBin(dst, v.s), nil
			}
			return wrong()
		}
		switch {
		case absent && e.opts.KeepNil:
			return append(dst, 0xc0), nil
		case absent:
			return append(dst, 0x90), nil
		case v.kind != kArray:
			return wrong()
		}
		dst = appendHeader(dst, 0x90, 0xdc, len(v.elems))
		for i := range v.elems {
			var err error
			if dst, err = e.encode(dst, t.Elem(), &v.elems[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case reflect.Map:
		switch {
		case absent && e.opts.KeepNil:
			return append(dst, 0xc0), nil
		case absent:
			return append(dst, 0x80), nil
		case v.kind != kMap:
			return wrong()
		}
		last := map[string]*value{}
		for i := 0; i < len(v.elems); i += 2 {
			k := &v.elems[i]
			if k.kind != kStr {
				return nil, fmt.Errorf("%s: a %s map key", path, k.kind)
			}
			last[string(k.s)] = &v.elems[i+1]
		}
		keys := make([]string, 0, len(last))
		for k := range last {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order
		dst = appendHeader(dst, 0x80, 0xde, len(keys))
		for _, k := range keys {
			dst = appendStr(dst, []byte(k))
			var err error
			if dst, err = e.encode(dst, t.Elem(), last[k], path+"."+k); err != nil {
				return nil, err
			}
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%s: wirecheck does not know %s", path, t)
}

// message writes a struct as a map of every field in declaration order.
func (e encoder) message(dst []byte, t reflect.Type, v *value, path string) ([]byte, error) {
	last := map[string]*value{}
	if v != nil && v.kind == kMap {
		for i := 0; i < len(v.elems); i += 2 {
			k := &v.elems[i]
			if k.kind != kStr {
				return nil, fmt.Errorf("%s: a %s map key", path, k.kind)
			}
			last[string(k.s)] = &v.elems[i+1]
		}
	}
	var fields [][]byte
	var cursor []byte // ExchangeCursorLast: the cursor field, put last
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opt, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := last[name]
		omit := opt == "omitempty"
		if omit && (fv == nil || fv.kind == kNil) {
			continue
		}
		b, err := e.encode(appendStr(nil, []byte(name)), f.Type, fv, path+"."+name)
		if err != nil {
			return nil, err // an omitted empty value must still be of its family (SP-4.1-3)
		}
		if omit && len(fv.elems) == 0 && len(fv.s) == 0 && fv.u == 0 && !fv.b {
			continue
		}
		if e.opts.ExchangeCursorLast && t == reflect.TypeFor[protocol.ExchangeRequest]() && name == "cursor" {
			cursor = b
			continue
		}
		fields = append(fields, b)
	}
	if cursor != nil {
		fields = append(fields, cursor)
	}
	dst = appendHeader(dst, 0x80, 0xde, len(fields))
	for _, f := range fields {
		dst = append(dst, f...)
	}
	return dst, nil
}

// maxOf is the largest value of an integer field on the wire (SP-4.1-1):
// a Go int is the spec's int, at most 2^31-1.
func maxOf(t reflect.Type) uint64 {
	switch t.Kind() {
	case reflect.Int:
		return math.MaxInt32
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return 1<<(t.Bits()-1) - 1
	}
	if t.Bits() == 64 {
		return math.MaxUint64
	}
	return 1<<t.Bits() - 1
}

func appendHeader(b []byte, fix, wide byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, wide), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, wide+1), uint32(n))
}

func appendStr(b, s []byte) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBin(b, p []byte) []byte {
	switch n := len(p); {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

func appendUint(b []byte, u uint64) []byte {
	switch {
	case u <= 0x7f:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), u)
}

// CheckCanonical reports whether b is the canonical encoding of a message
// of msg's type, saying where it first differs.
func CheckCanonical(b []byte, msg any) error {
	return checkCanonical(b, msg, Options{})
}

// CheckClientBody reports whether b is a request body a client should
// send: the canonical encoding of a message of msg's type, or for an
// ExchangeRequest the same with its cursor last (SP-4.1-2).
func CheckClientBody(b []byte, msg any) error {
	err := checkCanonical(b, msg, Options{})
	if _, ok := msg.(*protocol.ExchangeRequest); ok && err != nil {
		if checkCanonical(b, msg, Options{ExchangeCursorLast: true}) == nil {
			return nil
		}
	}
	return err
}

func checkCanonical(b []byte, msg any, opts Options) error {
	want, err := Canonical(b, msg, opts)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, want) {
		i := 0
		for i < len(b) && i < len(want) && b[i] == want[i] {
			i++
		}
		return fmt.Errorf("not canonical: first difference at byte %d of %d\n got %x\nwant %x", i, len(b), b, want)
	}
	return nil
}

// CheckStrs reports the first str in b that is not valid UTF-8 (map keys
// included), except at the paths listed in except. A path is the keys
// from the top-level map joined with ".", with "[]" for any array element
// (for example "items[].id", "cursor").
func CheckStrs(b []byte, except ...string) error {
	v, err := parseAll(b)
	if err != nil {
		return err
	}
	skip := map[string]bool{}
	for _, p := range except {
		skip[p] = true
	}
	return checkStrs(&v, "", skip)
}

func checkStrs(v *value, path string, skip map[string]bool) error {
	switch v.kind {
	case kStr:
		if !skip[path] && !utf8.Valid(v.s) {
			return fmt.Errorf("str at %q is not valid UTF-8: %s", path, strconv.Quote(string(v.s)))
		}
	case kArray:
		for i := range v.elems {
			if err := checkStrs(&v.elems[i], path+"[]", skip); err != nil {
				return err
			}
		}
	case kMap:
		for i := 0; i < len(v.elems); i += 2 {
			k := &v.elems[i]
			if err := checkStrs(k, path+"{key}", skip); err != nil {
				return err
			}
			sub := string(k.s)
			if path != "" {
				sub = path + "." + sub
			}
			if err := checkStrs(&v.elems[i+1], sub, skip); err != nil {
				return err
			}
		}
	}
	return nil
}

// Messages returns a new zero value of every protocol message, by the type
// name the spec's tables and vectors use.
func Messages() map[string]any {
	return map[string]any{
		"Info":                new(protocol.Info),
		"InfoShort":           new(protocol.InfoShort),
		"CollectionsRequest":  new(protocol.CollectionsRequest),
		"CollectionsResponse": new(protocol.CollectionsResponse),
		"ChangesRequest":      new(protocol.ChangesRequest),
		"ChangesResponse":     new(protocol.ChangesResponse),
		"ExchangeRequest":     new(protocol.ExchangeRequest),
		"ExchangeResponse":    new(protocol.ExchangeResponse),
		"WatchRequest":        new(protocol.WatchRequest),
		"WatchResponse":       new(protocol.WatchResponse),
		"ConflictsRequest":    new(protocol.ConflictsRequest),
		"ConflictsResponse":   new(protocol.ConflictsResponse),
		"ResolveRequest":      new(protocol.ResolveRequest),
		"ResolveResponse":     new(protocol.ResolveResponse),
		"TokenRequest":        new(protocol.TokenRequest),
		"TokenResponse":       new(protocol.TokenResponse),
		"Error":               new(protocol.Error),
	}
}

// TopKeys returns the keys of the top-level map of the message body b, in
// order; b must follow SP-4.1-1.
func TopKeys(b []byte) ([]string, error) {
	v, err := parseAll(b)
	if err != nil {
		return nil, err
	}
	if v.kind != kMap {
		return nil, fmt.Errorf("body is a %s, want a map", v.kind)
	}
	keys := make([]string, 0, len(v.elems)/2)
	for i := 0; i < len(v.elems); i += 2 {
		if v.elems[i].kind != kStr {
			return nil, fmt.Errorf("a %s map key", v.elems[i].kind)
		}
		keys = append(keys, string(v.elems[i].s))
	}
	return keys, nil
}

// ParsePrefix reads one value of the SP-4.1-1 subset at the start of b,
// nested at most 16 levels below it, and returns its length.
func ParsePrefix(b []byte) (int, error) {
	_, n, err := parse(b, 0, 0)
	return n, err
}
