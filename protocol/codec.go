package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// encoderPool recycles encoders and their buffers.
var encoderPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	return &pooledEncoder{buf: &buf, enc: enc}
}}

type pooledEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// Marshal encodes a message in canonical form: a map with the fields in
// declaration order and integers in their smallest encoding [SP-4.1-2].
func Marshal(v any) ([]byte, error) {
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
	b, err := Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Unmarshal decodes one message from b into v. The body must be exactly one
// msgpack map; any failure, including bytes after the map, returns an
// *Error with CodeMalformed whose message says what was wrong [SP-4.1-4].
func Unmarshal(b []byte, v any) error {
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
