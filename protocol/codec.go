package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// encoderPool recycles encoders and their buffers.
var encoderPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	return &pooledEncoder{buf: &buf, enc: enc}
}}

type pooledEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

func init() {
	// The library sorts map[string]string keys itself (SetSortMapKeys) but
	// not those of maps with a named element type; Info.Rules is one.
	msgpack.Register(map[string]Rule(nil), encodeRuleMap, nil)
}

// encodeRuleMap writes a map[string]Rule with its keys in increasing byte
// order, so that Marshal is deterministic [SP-4.1-2].
func encodeRuleMap(e *msgpack.Encoder, v reflect.Value) error {
	if v.IsNil() {
		return e.EncodeNil()
	}
	m := v.Interface().(map[string]Rule)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := e.EncodeMapLen(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := e.EncodeString(string(m[k])); err != nil {
			return err
		}
	}
	return nil
}

// Marshal encodes a message in canonical form: a map with the fields in
// declaration order, integers in their smallest encoding, and the keys of
// nested maps in increasing byte order [SP-4.1-2].
func Marshal(v any) ([]byte, error) {
	if b, ok := fastMarshal(nil, v); ok {
		return b, nil
	}
	return marshalReflect(v)
}

// marshalReflect is Marshal by reflection, the reference encoding.
func marshalReflect(v any) ([]byte, error) {
	p := encoderPool.Get().(*pooledEncoder)
	defer encoderPool.Put(p)
	p.buf.Reset()
	if err := p.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return bytes.Clone(p.buf.Bytes()), nil
}

// AppendMarshal appends the canonical encoding of v to dst.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	if b, ok := fastMarshal(dst, v); ok {
		return b, nil
	}
	b, err := Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Unmarshal decodes one message from b into v. The body must be exactly one
// msgpack map; any failure, including bytes after the map, returns an
// *Error with CodeMalformed whose message says what was wrong [SP-4.1-4].
func Unmarshal(b []byte, v any) error { return unmarshal(b, v, false) }

// UnmarshalOwned is Unmarshal for a buffer the caller hands over: the
// decoded message may share memory with b (sparing a copy of a large body),
// so the caller must never write to b afterwards.
func UnmarshalOwned(b []byte, v any) error { return unmarshal(b, v, true) }

func unmarshal(b []byte, v any, owned bool) error {
	if len(b) == 0 {
		return Errorf(CodeMalformed, "empty body: want a msgpack map")
	}
	if !isMapCode(b[0]) {
		return Errorf(CodeMalformed, "body starts with 0x%02x: want a msgpack map", b[0])
	}
	n, err := scan(b, 0, 0)
	if err != nil {
		return Errorf(CodeMalformed, "%v", err)
	}
	if n != len(b) {
		return Errorf(CodeMalformed, "%d bytes after the message", len(b)-n)
	}
	if !fastUnmarshal(b, v, owned) {
		if err := checkShape(b, 0, reflect.TypeOf(v), typeName(v)); err != nil {
			return Errorf(CodeMalformed, "%v", err)
		}
		if err := unmarshalReflect(b, v); err != nil {
			return err
		}
	}
	if m, ok := v.(emptyArrays); ok {
		m.nilEmptyArrays()
	}
	return nil
}

// emptyArrays is a message with optional arrays (omitempty): an empty
// array on the wire and an absent key are the same message, whose
// canonical form omits the key (SP-4.1-2), so both decode as nil. The
// decoders themselves make an empty array an empty slice.
type emptyArrays interface{ nilEmptyArrays() }

// nilEmpty returns s, or nil when s is empty.
func nilEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (e *Error) nilEmptyArrays()           { e.IDs = nilEmpty(e.IDs) }
func (r *ChangesResponse) nilEmptyArrays() { r.Contents = nilEmpty(r.Contents) }
func (i *Info) nilEmptyArrays()            { i.Collections = nilEmpty(i.Collections) }
func (i *InfoShort) nilEmptyArrays()       { i.Collections = nilEmpty(i.Collections) }

// unmarshalReflect is the reflective decoder, the reference for
// fastUnmarshal; b has passed scan.
func unmarshalReflect(b []byte, v any) error {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Errorf(CodeMalformed, "truncated msgpack body")
		}
		return Errorf(CodeMalformed, "decode %s: %v", typeName(v), err)
	}
	return nil
}

func isMapCode(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

func typeName(v any) string {
	s := fmt.Sprintf("%T", v)
	if i := bytes.LastIndexByte([]byte(s), '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}
