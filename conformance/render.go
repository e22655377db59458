package conformance

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Rendering of msgpack bodies for transcripts. The renderer is its own
// small decoder, so that it keeps the order of keys as sent and shows as
// much as it can of a malformed body.

const (
	maxRenderBin   = 48   // bin bytes shown in full; longer ones are cut
	maxRenderStr   = 200  // str bytes shown
	maxRenderItems = 40   // array or map entries shown
	maxRenderBody  = 4096 // rendered characters per body
)

// renderMsgpack returns a one-line JSON-like rendering of a msgpack body:
// bin values as hex, str values quoted. A body that does not decode is
// shown as far as it decodes, then as hex with the reason.
func renderMsgpack(b []byte) string {
	if len(b) == 0 {
		return "(empty body)"
	}
	var sb strings.Builder
	r := &renderer{b: b, out: &sb}
	err := r.value(0)
	switch {
	case err != nil:
		fmt.Fprintf(&sb, " <undecodable at byte %d: %v; body %d bytes: %s>", r.off, err, len(b), clipHex(b, 64))
	case r.off < len(b):
		fmt.Fprintf(&sb, " <%d bytes after the message: %s>", len(b)-r.off, clipHex(b[r.off:], 32))
	}
	s := sb.String()
	if len(s) > maxRenderBody {
		s = s[:maxRenderBody] + fmt.Sprintf("… (%d characters)", len(s))
	}
	return s
}

func clipHex(b []byte, n int) string {
	if len(b) <= n {
		return hex.EncodeToString(b)
	}
	return hex.EncodeToString(b[:n]) + "…"
}

type renderer struct {
	b   []byte
	off int
	out *strings.Builder
}

var errRenderTruncated = fmt.Errorf("truncated")

func (r *renderer) take(n int) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) || r.off+n < r.off {
		return nil, errRenderTruncated
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *renderer) uint(n int) (uint64, error) {
	p, err := r.take(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

func (r *renderer) value(depth int) error {
	if depth > 40 {
		return fmt.Errorf("nested too deep to show")
	}
	p, err := r.take(1)
	if err != nil {
		return err
	}
	c := p[0]
	w := r.out
	switch {
	case c <= 0x7f:
		w.WriteString(strconv.Itoa(int(c)))
		return nil
	case c >= 0xe0:
		w.WriteString(strconv.Itoa(int(int8(c))))
		return nil
	case c&0xf0 == 0x80:
		return r.mapBody(int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return r.arrayBody(int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return r.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		w.WriteString("nil")
	case 0xc2:
		w.WriteString("false")
	case 0xc3:
		w.WriteString("true")
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := r.uint(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		w.WriteString(strconv.FormatUint(v, 10))
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uint(n)
		if err != nil {
			return err
		}
		shift := 64 - 8*n
		w.WriteString(strconv.FormatInt(int64(v<<shift)>>shift, 10))
	case 0xca:
		v, err := r.uint(4)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "float32(%g)", math.Float32frombits(uint32(v)))
	case 0xcb:
		v, err := r.uint(8)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "float64(%g)", math.Float64frombits(v))
	case 0xc4, 0xc5, 0xc6:
		n, err := r.uint(1 << (c - 0xc4))
		if err != nil {
			return err
		}
		b, err := r.take(int(min(n, math.MaxInt32)))
		if err != nil {
			return err
		}
		if len(b) <= maxRenderBin {
			fmt.Fprintf(w, "bin(%s)", hex.EncodeToString(b))
		} else {
			fmt.Fprintf(w, "bin(%d bytes: %s…)", len(b), hex.EncodeToString(b[:16]))
		}
	case 0xd9, 0xda, 0xdb:
		n, err := r.uint(1 << (c - 0xd9))
		if err != nil {
			return err
		}
		return r.str(int(min(n, math.MaxInt32)))
	case 0xdc, 0xdd:
		n, err := r.uint(2 << (c - 0xdc))
		if err != nil {
			return err
		}
		if n > uint64(len(r.b)-r.off) {
			return errRenderTruncated
		}
		return r.arrayBody(int(n), depth)
	case 0xde, 0xdf:
		n, err := r.uint(2 << (c - 0xde))
		if err != nil {
			return err
		}
		if 2*n > uint64(len(r.b)-r.off) {
			return errRenderTruncated
		}
		return r.mapBody(int(n), depth)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n := 1 << (c - 0xd4)
		b, err := r.take(1 + n)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "ext(%d, %s)", int8(b[0]), hex.EncodeToString(b[1:]))
	case 0xc7, 0xc8, 0xc9:
		n, err := r.uint(1 << (c - 0xc7))
		if err != nil {
			return err
		}
		b, err := r.take(int(min(n, math.MaxInt32)) + 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "ext(%d, %d bytes)", int8(b[0]), len(b)-1)
	default:
		return fmt.Errorf("byte 0x%02x is not msgpack", c)
	}
	return nil
}

func (r *renderer) str(n int) error {
	b, err := r.take(n)
	if err != nil {
		return err
	}
	s := string(b)
	cut := ""
	if len(s) > maxRenderStr {
		s, cut = s[:maxRenderStr], fmt.Sprintf("…(%d bytes)", len(b))
	}
	if !utf8.ValidString(s) && cut == "" {
		r.out.WriteString("str(invalid UTF-8: " + hex.EncodeToString(b) + ")")
		return nil
	}
	r.out.WriteString(strconv.Quote(s) + cut)
	return nil
}

func (r *renderer) arrayBody(n, depth int) error {
	r.out.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			r.out.WriteString(", ")
		}
		if i == maxRenderItems {
			// Keep decoding to find the end, but stop writing.
			saved := r.out
			r.out = &strings.Builder{}
			for ; i < n; i++ {
				if err := r.value(depth + 1); err != nil {
					r.out = saved
					return err
				}
			}
			r.out = saved
			fmt.Fprintf(r.out, "… %d entries", n)
			break
		}
		if err := r.value(depth + 1); err != nil {
			return err
		}
	}
	r.out.WriteByte(']')
	return nil
}

func (r *renderer) mapBody(n, depth int) error {
	r.out.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			r.out.WriteString(", ")
		}
		if err := r.value(depth + 1); err != nil {
			return err
		}
		r.out.WriteString(": ")
		if err := r.value(depth + 1); err != nil {
			return err
		}
	}
	r.out.WriteByte('}')
	return nil
}
