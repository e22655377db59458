package protocol

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"unsafe"
)

// Hand-written codecs for the messages that carry items in bulk
// (ExchangeRequest, ExchangeResponse, ChangesResponse). The reflective
// msgpack codec costs about 2 µs and several allocations per item; these
// cost a fraction of that. They produce exactly the bytes the reflective
// encoder does (fast_test.go checks this on random messages and on the spec
// vectors), and the decoders take only the plain path: a body in which
// every known key appears once with the type the reflective decoder
// expects. Anything else — an unknown key, a repeated key, nil where a
// string belongs, a target that is not the zero value — goes to the
// reflective decoder, so its answers (including its errors) stay the
// reference.

// appendMsgpack implementations.

func (m *ExchangeRequest) appendMsgpack(b []byte) []byte {
	b = appendMapLen(b, 5)
	b = appendStr(appendStr(b, "collection"), m.Collection)
	b = appendStr(appendStr(b, "batch_id"), m.BatchID)
	b = appendStr(appendStr(b, "cursor"), m.Cursor)
	return m.appendItems(b)
}

// AppendExchangeHead appends the encoding of m without its cursor: the
// map header and every key but "cursor", whose value it ignores.
// AppendExchangeCursor then completes the body with the cursor as its last
// key. A client encodes a request this way to build and compress it while
// the exchange before it, whose response cursor it carries, is in flight
// (SP-6.5-6, SP-4.1-2). The body is canonical but for the place of the
// cursor; a receiver accepts it (SP-4.1-3).
func AppendExchangeHead(b []byte, m *ExchangeRequest) []byte {
	b = slices.Grow(b, m.sizeHint())
	b = appendMapLen(b, 5)
	b = appendStr(appendStr(b, "collection"), m.Collection)
	b = appendStr(appendStr(b, "batch_id"), m.BatchID)
	return m.appendItems(b)
}

// AppendExchangeCursor appends the "cursor" key and its value: the end of
// a body begun by AppendExchangeHead.
func AppendExchangeCursor(b []byte, cursor string) []byte {
	return appendStr(appendStr(b, "cursor"), cursor)
}

// appendItems appends the uploads and downloads keys of m.
func (m *ExchangeRequest) appendItems(b []byte) []byte {
	b = appendStr(b, "uploads")
	if m.Uploads == nil {
		b = append(b, 0xc0)
	} else {
		b = appendArrayLen(b, len(m.Uploads))
		for i := range m.Uploads {
			u := &m.Uploads[i]
			b = appendMapLen(b, 7)
			b = appendStr(appendStr(b, "id"), u.ID)
			b = appendUint(appendStr(b, "base"), u.Base)
			b = appendUint(appendStr(b, "seen"), u.Seen)
			b = appendBin(appendStr(b, "fp"), u.FP)
			b = appendUint(appendStr(b, "hlc"), u.HLC)
			b = appendBool(appendStr(b, "deleted"), u.Deleted)
			b = appendBin(appendStr(b, "content"), u.Content)
		}
	}
	return appendStrings(appendStr(b, "downloads"), m.Downloads)
}

// The sizeHint methods return an upper bound of the encoded size (a test
// checks), so that encoding never grows its buffer.

func (m *ExchangeRequest) sizeHint() int {
	n := 128 + len(m.Collection) + len(m.BatchID) + len(m.Cursor)
	for i := range m.Uploads {
		n += 128 + len(m.Uploads[i].ID) + len(m.Uploads[i].FP) + len(m.Uploads[i].Content)
	}
	for _, id := range m.Downloads {
		n += 5 + len(id)
	}
	return n
}

func appendChangeInfo(b []byte, c *ChangeInfo) []byte {
	b = appendMapLen(b, 7)
	b = appendStr(appendStr(b, "id"), c.ID)
	b = appendUint(appendStr(b, "version"), c.Version)
	b = appendBin(appendStr(b, "fp"), c.FP)
	b = appendUint(appendStr(b, "hlc"), c.HLC)
	b = appendBool(appendStr(b, "deleted"), c.Deleted)
	b = appendStr(appendStr(b, "replica"), c.Replica)
	return appendUint(appendStr(b, "size"), uint64(c.Size))
}

func (m *ExchangeResponse) appendMsgpack(b []byte) []byte {
	b = appendMapLen(b, 7)
	b = appendStr(b, "results")
	if m.Results == nil {
		b = append(b, 0xc0)
	} else {
		b = appendArrayLen(b, len(m.Results))
		for i := range m.Results {
			r := &m.Results[i]
			b = appendMapLen(b, 6)
			b = appendStr(appendStr(b, "id"), r.ID)
			b = appendStr(appendStr(b, "status"), string(r.Status))
			b = appendUint(appendStr(b, "version"), r.Version)
			b = appendUint(appendStr(b, "hlc"), r.HLC)
			b = appendStr(appendStr(b, "conflict"), r.Conflict)
			b = appendStr(b, "current")
			if r.Current == nil {
				b = append(b, 0xc0)
			} else {
				b = appendChangeInfo(b, r.Current)
			}
		}
	}
	b = appendStr(b, "items")
	if m.Items == nil {
		b = append(b, 0xc0)
	} else {
		b = appendArrayLen(b, len(m.Items))
		for i := range m.Items {
			it := &m.Items[i]
			b = appendMapLen(b, 7)
			b = appendStr(appendStr(b, "id"), it.ID)
			b = appendUint(appendStr(b, "version"), it.Version)
			b = appendBin(appendStr(b, "fp"), it.FP)
			b = appendUint(appendStr(b, "hlc"), it.HLC)
			b = appendBool(appendStr(b, "deleted"), it.Deleted)
			b = appendStr(appendStr(b, "replica"), it.Replica)
			b = appendBin(appendStr(b, "content"), it.Content)
		}
	}
	b = appendStrings(appendStr(b, "missing"), m.Missing)
	b = appendStrings(appendStr(b, "deferred"), m.Deferred)
	b = appendStr(appendStr(b, "cursor"), m.Cursor)
	b = appendUint(appendStr(b, "head"), m.Head)
	return appendUint(appendStr(b, "conflicts_seq"), m.ConflictsSeq)
}

func (m *ExchangeResponse) sizeHint() int {
	n := 128 + len(m.Cursor)
	for i := range m.Results {
		n += 112 + len(m.Results[i].ID) + len(m.Results[i].Status) + len(m.Results[i].Conflict)
		if c := m.Results[i].Current; c != nil {
			n += changeInfoHint(c)
		}
	}
	for i := range m.Items {
		n += 128 + len(m.Items[i].ID) + len(m.Items[i].FP) + len(m.Items[i].Replica) + len(m.Items[i].Content)
	}
	for _, id := range m.Missing {
		n += 5 + len(id)
	}
	for _, id := range m.Deferred {
		n += 5 + len(id)
	}
	return n
}

func (m *ChangesResponse) appendMsgpack(b []byte) []byte {
	if len(m.Contents) > 0 { // omitempty
		b = appendMapLen(b, 5)
	} else {
		b = appendMapLen(b, 4)
	}
	b = appendStr(b, "changes")
	if m.Changes == nil {
		b = append(b, 0xc0)
	} else {
		b = appendArrayLen(b, len(m.Changes))
		for i := range m.Changes {
			b = appendChangeInfo(b, &m.Changes[i])
		}
	}
	b = appendStr(appendStr(b, "cursor"), m.Cursor)
	b = appendBool(appendStr(b, "more"), m.More)
	b = appendUint(appendStr(b, "head"), m.Head)
	if len(m.Contents) > 0 {
		b = appendArrayLen(appendStr(b, "contents"), len(m.Contents))
		for _, c := range m.Contents {
			b = appendBin(b, c)
		}
	}
	return b
}

func (m *ChangesResponse) sizeHint() int {
	n := 80 + len(m.Cursor)
	for i := range m.Changes {
		n += changeInfoHint(&m.Changes[i])
	}
	for _, c := range m.Contents {
		n += 5 + len(c)
	}
	return n
}

func changeInfoHint(c *ChangeInfo) int { return 112 + len(c.ID) + len(c.FP) + len(c.Replica) }

// fastMarshal encodes the messages that have a hand-written encoder; ok is
// false for every other value.
func fastMarshal(dst []byte, v any) ([]byte, bool) {
	switch m := v.(type) {
	case *ExchangeResponse:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	case *ChangesResponse:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	case *ExchangeRequest:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	case ExchangeResponse:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	case ChangesResponse:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	case ExchangeRequest:
		return m.appendMsgpack(grow(dst, m.sizeHint())), true
	}
	return dst, false
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// The append helpers write the smallest encoding of each value, as the
// reflective encoder does with compact integers [SP-4.1-2].

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendStr(b []byte, s string) []byte {
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

func appendBin(b []byte, p []byte) []byte {
	if p == nil {
		return append(b, 0xc0)
	}
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

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, 0xc0)
	}
	b = appendArrayLen(b, len(ss))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// reader decodes the plain path. Strings and byte slices are cut from b,
// which the reader owns: nothing writes to it, so str, the same bytes seen
// as a string, stays immutable as strings must be (a byte slice handed out
// covers other bytes than any string). Any surprise sets bad, and the
// caller falls back to the reflective decoder.
type reader struct {
	b   []byte // the body, owned by the reader
	str string // b as a string, cut into strings
	off int
	bad bool
}

func newReader(b []byte) *reader {
	return &reader{b: b, str: unsafe.String(unsafe.SliceData(b), len(b))}
}

func (r *reader) fail() { r.bad = true; r.off = len(r.b) }

func (r *reader) byte1() byte {
	if r.off >= len(r.b) {
		r.fail()
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// n reads a big-endian unsigned number of size bytes.
func (r *reader) n(size int) uint64 {
	if r.off+size > len(r.b) {
		r.fail()
		return 0
	}
	p := r.b[r.off : r.off+size]
	r.off += size
	switch size {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	}
	return binary.BigEndian.Uint64(p)
}

// mapLen reads a map header.
func (r *reader) mapLen() int {
	c := r.byte1()
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f)
	case c == 0xde:
		return int(r.n(2))
	case c == 0xdf:
		return int(r.n(4))
	}
	r.fail()
	return 0
}

// arrayLen reads an array header; -1 stands for nil.
func (r *reader) arrayLen() int {
	c := r.byte1()
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(r.n(2))
	case c == 0xdd:
		return int(r.n(4))
	case c == 0xc0:
		return -1
	}
	r.fail()
	return 0
}

// span reads a length of size bytes and returns the range it covers.
func (r *reader) span(n int) (int, int) {
	if n < 0 || r.off+n > len(r.b) {
		r.fail()
		return 0, 0
	}
	start := r.off
	r.off += n
	return start, r.off
}

// strSpan reads a str header and returns the range of its bytes.
func (r *reader) strSpan() (int, int) {
	c := r.byte1()
	switch {
	case c&0xe0 == 0xa0:
		return r.span(int(c & 0x1f))
	case c == 0xd9:
		return r.span(int(r.n(1)))
	case c == 0xda:
		return r.span(int(r.n(2)))
	case c == 0xdb:
		return r.span(int(r.n(4)))
	}
	r.fail()
	return 0, 0
}

func (r *reader) str1() string {
	i, j := r.strSpan()
	if r.bad || i == j {
		return ""
	}
	return r.str[i:j]
}

// key reads a map key without allocating; it is valid until the next read.
func (r *reader) key() string { return r.str1() }

func (r *reader) bytes() []byte {
	c := r.byte1()
	var n int
	switch c {
	case 0xc0:
		return nil
	case 0xc4:
		n = int(r.n(1))
	case 0xc5:
		n = int(r.n(2))
	case 0xc6:
		n = int(r.n(4))
	default:
		r.fail()
		return nil
	}
	i, j := r.span(n)
	if r.bad {
		return nil
	}
	return r.b[i:j:j]
}

func (r *reader) uint() uint64 {
	c := r.byte1()
	switch {
	case c <= 0x7f:
		return uint64(c)
	case c >= 0xcc && c <= 0xcf:
		return r.n(1 << (c - 0xcc))
	case c >= 0xd0 && c <= 0xd3: // non-negative: scan rejects the others
		return r.n(1 << (c - 0xd0))
	}
	r.fail()
	return 0
}

func (r *reader) bool1() bool {
	switch r.byte1() {
	case 0xc2:
		return false
	case 0xc3:
		return true
	}
	r.fail()
	return false
}

func (r *reader) strings() []string {
	n := r.arrayLen()
	if n < 0 || r.bad {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str1()
	}
	return out
}

// once records that field bit was read and fails on a repeat.
func (r *reader) once(seen *uint32, bit uint32) {
	if *seen&bit != 0 {
		r.fail()
	}
	*seen |= bit
}

func (r *reader) upload(u *Upload) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "id":
			r.once(&seen, 1)
			u.ID = r.str1()
		case "base":
			r.once(&seen, 2)
			u.Base = r.uint()
		case "seen":
			r.once(&seen, 4)
			u.Seen = r.uint()
		case "fp":
			r.once(&seen, 8)
			u.FP = r.bytes()
		case "hlc":
			r.once(&seen, 16)
			u.HLC = r.uint()
		case "deleted":
			r.once(&seen, 32)
			u.Deleted = r.bool1()
		case "content":
			r.once(&seen, 64)
			u.Content = r.bytes()
		default:
			r.fail()
		}
	}
}

func (r *reader) exchangeRequest(m *ExchangeRequest) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "collection":
			r.once(&seen, 1)
			m.Collection = r.str1()
		case "batch_id":
			r.once(&seen, 2)
			m.BatchID = r.str1()
		case "cursor":
			r.once(&seen, 4)
			m.Cursor = r.str1()
		case "uploads":
			r.once(&seen, 8)
			if k := r.arrayLen(); k >= 0 && !r.bad {
				m.Uploads = make([]Upload, k)
				for i := range m.Uploads {
					r.upload(&m.Uploads[i])
				}
			}
		case "downloads":
			r.once(&seen, 16)
			m.Downloads = r.strings()
		default:
			r.fail()
		}
	}
}

func (r *reader) changeInfo(c *ChangeInfo) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "id":
			r.once(&seen, 1)
			c.ID = r.str1()
		case "version":
			r.once(&seen, 2)
			c.Version = r.uint()
		case "fp":
			r.once(&seen, 4)
			c.FP = r.bytes()
		case "hlc":
			r.once(&seen, 8)
			c.HLC = r.uint()
		case "deleted":
			r.once(&seen, 16)
			c.Deleted = r.bool1()
		case "replica":
			r.once(&seen, 32)
			c.Replica = r.str1()
		case "size":
			r.once(&seen, 64)
			v := r.uint()
			if v > math.MaxUint32 {
				r.fail()
			}
			c.Size = uint32(v)
		default:
			r.fail()
		}
	}
}

func (r *reader) uploadResult(u *UploadResult) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "id":
			r.once(&seen, 1)
			u.ID = r.str1()
		case "status":
			r.once(&seen, 2)
			u.Status = UploadStatus(r.str1())
		case "version":
			r.once(&seen, 4)
			u.Version = r.uint()
		case "hlc":
			r.once(&seen, 8)
			u.HLC = r.uint()
		case "conflict":
			r.once(&seen, 16)
			u.Conflict = r.str1()
		case "current":
			r.once(&seen, 32)
			if r.off < len(r.b) && r.b[r.off] == 0xc0 {
				r.off++
				continue
			}
			u.Current = new(ChangeInfo)
			r.changeInfo(u.Current)
		default:
			r.fail()
		}
	}
}

func (r *reader) item(it *Item) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "id":
			r.once(&seen, 1)
			it.ID = r.str1()
		case "version":
			r.once(&seen, 2)
			it.Version = r.uint()
		case "fp":
			r.once(&seen, 4)
			it.FP = r.bytes()
		case "hlc":
			r.once(&seen, 8)
			it.HLC = r.uint()
		case "deleted":
			r.once(&seen, 16)
			it.Deleted = r.bool1()
		case "replica":
			r.once(&seen, 32)
			it.Replica = r.str1()
		case "content":
			r.once(&seen, 64)
			it.Content = r.bytes()
		default:
			r.fail()
		}
	}
}

func (r *reader) exchangeResponse(m *ExchangeResponse) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "results":
			r.once(&seen, 1)
			if k := r.arrayLen(); k >= 0 && !r.bad {
				m.Results = make([]UploadResult, k)
				for i := range m.Results {
					r.uploadResult(&m.Results[i])
				}
			}
		case "items":
			r.once(&seen, 2)
			if k := r.arrayLen(); k >= 0 && !r.bad {
				m.Items = make([]Item, k)
				for i := range m.Items {
					r.item(&m.Items[i])
				}
			}
		case "missing":
			r.once(&seen, 4)
			m.Missing = r.strings()
		case "deferred":
			r.once(&seen, 8)
			m.Deferred = r.strings()
		case "cursor":
			r.once(&seen, 16)
			m.Cursor = r.str1()
		case "head":
			r.once(&seen, 32)
			m.Head = r.uint()
		case "conflicts_seq":
			r.once(&seen, 64)
			m.ConflictsSeq = r.uint()
		default:
			r.fail()
		}
	}
}

func (r *reader) changesResponse(m *ChangesResponse) {
	var seen uint32
	for n := r.mapLen(); n > 0 && !r.bad; n-- {
		switch r.key() {
		case "changes":
			r.once(&seen, 1)
			if k := r.arrayLen(); k >= 0 && !r.bad {
				m.Changes = make([]ChangeInfo, k)
				for i := range m.Changes {
					r.changeInfo(&m.Changes[i])
				}
			}
		case "cursor":
			r.once(&seen, 2)
			m.Cursor = r.str1()
		case "more":
			r.once(&seen, 4)
			m.More = r.bool1()
		case "head":
			r.once(&seen, 8)
			m.Head = r.uint()
		case "contents":
			r.once(&seen, 16)
			if k := r.arrayLen(); k >= 0 && !r.bad {
				m.Contents = make([][]byte, k)
				for i := range m.Contents {
					m.Contents[i] = r.bytes()
				}
			}
		default:
			r.fail()
		}
	}
}

// fastUnmarshal decodes b, which scan has accepted, into v when v is one
// of the bulk messages, is the zero value, and b takes the plain path. It
// reports whether it did; when it did not, v is unchanged. With owned set
// the decoded message may alias b (the caller will never write to it);
// otherwise it decodes from a copy.
func fastUnmarshal(b []byte, v any, owned bool) bool {
	switch m := v.(type) {
	case *ExchangeRequest:
		return decodeInto(b, owned, m, (*reader).exchangeRequest)
	case *ExchangeResponse:
		return decodeInto(b, owned, m, (*reader).exchangeResponse)
	case *ChangesResponse:
		return decodeInto(b, owned, m, (*reader).changesResponse)
	}
	return false
}

func decodeInto[T any](b []byte, owned bool, m *T, dec func(*reader, *T)) bool {
	if m == nil || !reflect.ValueOf(m).Elem().IsZero() {
		return false
	}
	if !owned {
		b = bytes.Clone(b)
	}
	r := newReader(b)
	var out T
	dec(r, &out)
	if r.bad || r.off != len(b) {
		return false
	}
	*m = out
	return true
}
