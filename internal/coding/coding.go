// Package coding owns the HTTP content codings of the Syncprint protocol
// (SP-3-8): zstd (RFC 8878) and gzip (RFC 1952) for request and response
// bodies, and parsing of the Content-Encoding and Accept-Encoding headers.
// It is the only package that imports a compression library, so the server,
// the client and the conformance suite all encode and decode the same way.
//
// Decoding is bounded: a Decoder never produces more than its limit (plus
// one block of zstd output at most), whatever the encoded body claims, so a
// small "zip bomb" cannot make a server allocate gigabytes.
package coding

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The content codings, as written in HTTP headers and Info.features.
const (
	Identity = "identity"
	Zstd     = "zstd"
	Gzip     = "gzip"
)

// Supported lists the codings this package encodes and decodes, in order
// of preference.
var Supported = []string{Zstd, Gzip}

// MinSize is the smallest body worth trying to encode: below it a coding's
// framing and header take about what it saves. A body at or above it is
// sent encoded only when that Pays.
const MinSize = 256

// Pays reports whether a body of raw bytes, encoded in coding to encoded
// bytes, is smaller on the wire encoded: with the Content-Encoding header
// line it then needs.
func Pays(raw, encoded int, coding string) bool {
	return encoded+len("Content-Encoding: \r\n")+len(coding) < raw
}

// Errors returned by Decode and ParseContentEncoding.
var (
	// ErrTooLarge is returned when a decoded body would exceed the limit.
	ErrTooLarge = errors.New("coding: decoded body over the limit")
	// ErrCorrupt is returned when a body is not valid in its coding.
	ErrCorrupt = errors.New("coding: body is not valid in its coding")
	// ErrUnsupported is returned for a coding this package does not know,
	// or for more than one coding applied in a row.
	ErrUnsupported = errors.New("coding: unsupported content coding")
)

// ParseContentEncoding returns the single coding named by the
// Content-Encoding header lines of a request: "" for none (absent, empty,
// or identity only). Codings compare case-insensitively; every line and
// every element of a comma-separated list counts, so "zstd, gzip" (two
// codings) and any coding but zstd and gzip are ErrUnsupported.
func ParseContentEncoding(lines []string) (string, error) {
	found := ""
	for _, line := range lines {
		for _, c := range strings.Split(line, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch {
			case c == "" || c == Identity:
			case c != Zstd && c != Gzip:
				return "", fmt.Errorf("%w: %q", ErrUnsupported, c)
			case found != "":
				return "", fmt.Errorf("%w: more than one coding (%s, %s)", ErrUnsupported, found, c)
			default:
				found = c
			}
		}
	}
	return found, nil
}

// Negotiate picks the coding of a response from the request's
// Accept-Encoding header: the first of offered that the header accepts
// (listed, or matched by "*", with a q-value above 0), or "" when none is
// acceptable or the header is absent.
func Negotiate(acceptEncoding string, offered []string) string {
	if acceptEncoding == "" {
		return ""
	}
	accepted := map[string]bool{}
	star, starSet := false, false
	for _, el := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(el, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		ok := qAbove0(params)
		if name == "*" {
			star, starSet = ok, true
			continue
		}
		if _, seen := accepted[name]; !seen {
			accepted[name] = ok
		}
	}
	for _, c := range offered {
		if ok, listed := accepted[c]; listed {
			if ok {
				return c
			}
			continue
		}
		if starSet && star {
			return c
		}
	}
	return ""
}

// qAbove0 reads the q parameter of an Accept-Encoding element: absent is
// 1; "q=0" (or 0.0, 0.000) refuses the coding.
func qAbove0(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err != nil || q > 0
	}
	return true
}

// Decoder decodes bodies up to a limit. It is safe for concurrent use.
type Decoder struct {
	limit int
	zstd  *zstd.Decoder
}

// MinWindow is the zstd window every decoder accepts whatever its limit:
// the 8 MiB RFC 8878 recommends decoders support. A frame may declare a
// window larger than the body it holds, so a small limit must not refuse
// a small valid body for its window alone.
const MinWindow = 8 << 20

// NewDecoder returns a Decoder whose output is at most limit bytes. Zstd
// output is checked against the limit as it grows, so a body that decodes
// to more is refused after at most max(limit, MinWindow) bytes plus one
// block.
func NewDecoder(limit int) (*Decoder, error) {
	zd, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(max(limit, MinWindow))), zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("new zstd decoder: %w", err)
	}
	return &Decoder{limit: limit, zstd: zd}, nil
}

// Decode returns body decoded from coding ("" or identity: body itself).
// A result over the limit is ErrTooLarge; a body that does not decode is
// ErrCorrupt.
func (d *Decoder) Decode(coding string, body []byte) ([]byte, error) {
	switch coding {
	case "", Identity:
		return body, nil
	case Zstd:
		// Frames that declare more content than the limit are refused
		// before the decoder sizes its output to a declaration: nine bytes
		// could otherwise make it allocate up to max(limit, MinWindow).
		declared, bound := zstdSizes(body)
		if declared > uint64(d.limit) {
			return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, d.limit)
		}
		// A streamed body declares no size, and the decoder would start
		// from twice the body and grow its output, copying it each time.
		// Size it for records that compress up to streamedRatio times
		// instead, within the blocks' bound (a compressed block holds at
		// most 128 KiB, and an encoder's blocks are often smaller) and the
		// limit; more compressible content still grows. Frames that
		// declare their sizes get all their output at once (the decoder
		// would size it frame by frame, copying it for each frame of a
		// body encoded in parts): at most the limit, checked above.
		var out []byte
		switch {
		case declared > 0:
			out = make([]byte, 0, declared)
		case bound > 0:
			out = make([]byte, 0, min(bound, streamedRatio*uint64(len(body)), uint64(d.limit)+1))
		}
		out, err := d.zstd.DecodeAll(body, out)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) > d.limit:
			return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, d.limit)
		case err != nil:
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, nil
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		zr.Multistream(true)
		var buf bytes.Buffer
		n, err := buf.ReadFrom(io.LimitReader(zr, int64(d.limit)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		if n > int64(d.limit) {
			return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, d.limit)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, coding)
}

// Close releases the decoder's resources.
func (d *Decoder) Close() { d.zstd.Close() }

// streamedRatio is how many times its encoded size Decode expects a
// streamed zstd body (one that declares no content size) to decode to:
// record-like text of a few hundred bytes an item compresses about three
// times at the fastest level.
const streamedRatio = 4

// zstdBlockMax is the most content one zstd block holds (RFC 8878,
// section 3.1.1.2.4: Block_Maximum_Size).
const zstdBlockMax = 128 << 10

// zstdSizes walks the frame and block headers of body (RFC 8878, section
// 3.1.1) without decoding anything, and returns the content sizes that its
// frames declare, added up, and a bound of the decoded size: a frame's
// declared size, or for a frame that declares none (a streamed body) the
// sizes of its raw and RLE blocks plus Block_Maximum_Size for each
// compressed block. It stops at what it cannot parse, which the decoder
// then refuses; the bound covers only what it parsed.
func zstdSizes(body []byte) (declared, bound uint64) {
	for len(body) > 0 {
		var h zstd.Header
		if h.Decode(body) != nil {
			return declared, bound
		}
		if h.HasFCS {
			declared += min(h.FrameContentSize, math.MaxUint64-declared)
			bound += min(h.FrameContentSize, math.MaxUint64-bound)
		}
		n := h.HeaderSize
		if h.Skippable {
			n += int(h.SkippableSize)
		} else {
			blockMax := uint64(zstdBlockMax)
			if h.WindowSize > 0 {
				blockMax = min(blockMax, h.WindowSize)
			}
			for last := false; !last; {
				if n+3 > len(body) {
					return declared, bound
				}
				bh := int(body[n]) | int(body[n+1])<<8 | int(body[n+2])<<16
				n += 3
				switch bh >> 1 & 3 {
				case 0: // raw: Block_Size bytes, as they are
					n += bh >> 3
					if !h.HasFCS {
						bound += uint64(bh >> 3)
					}
				case 1: // RLE: one byte, repeated Block_Size times
					n++
					if !h.HasFCS {
						bound += uint64(bh >> 3)
					}
				case 2: // compressed: Block_Size bytes of it
					n += bh >> 3
					if !h.HasFCS {
						bound += blockMax
					}
				case 3: // reserved
					return declared, bound
				}
				last = bh&1 == 1
			}
			if h.HasCheckSum {
				n += 4
			}
		}
		if n >= len(body) {
			return declared, bound
		}
		body = body[n:]
	}
	return declared, bound
}

// Encoder encodes bodies. It is safe for concurrent use.
type Encoder struct {
	za idle[*zstd.Encoder] // for Encode: EncodeAll, synchronous
	zs idle[*zstd.Encoder] // for Streams
	gz idle[*gzip.Writer]
}

// idle keeps encoders between uses, the last one returned on top, so that
// bodies encoded one after another reuse one encoder, its memory touched
// and its tables in the cache, and only bodies encoded at the same time
// need more. A zstd encoder's first use costs about 1 ms and 64 page faults
// in a new process (its 256 KiB match table). Unlike a sync.Pool it
// survives garbage collections, after which every body would pay that
// again; klauspost's concurrent encoder hands its GOMAXPROCS encoders out
// in turn, so that a new process paid it for each of its first bodies.
type idle[T any] struct {
	mu   sync.Mutex
	free []T
}

// maxIdle bounds the encoders an idle keeps: more are made when more
// bodies are encoded at once, and dropped when returned over the bound.
const maxIdle = 16

// get returns the encoder returned last, if any.
func (p *idle[T]) get() (v T, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		v, p.free[n-1] = p.free[n-1], v
		p.free = p.free[:n-1]
		return v, true
	}
	return v, false
}

// take returns the encoder returned last, or a new one from mk.
func (p *idle[T]) take(mk func() (T, error)) (T, error) {
	if v, ok := p.get(); ok {
		return v, nil
	}
	return mk()
}

// put keeps v for the next get.
func (p *idle[T]) put(v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxIdle {
		p.free = append(p.free, v)
	}
}

// zstdOptions are the options of every zstd encoder: see NewEncoder.
func zstdOptions(concurrency int) []zstd.EOption {
	return []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(concurrency),
		zstd.WithWindowSize(512 << 10), zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true)}
}

// NewEncoder returns an Encoder tuned for speed: sync bodies are encoded
// on the request path.
func NewEncoder() (*Encoder, error) {
	// A 512 KiB window compresses sync bodies as well as the default 4 MiB
	// (their repetition is local: keys, replica IDs, ID prefixes) and makes
	// an encoder's first use cost 0.8 ms and 1.5 MB instead of 11 ms and
	// 9.6 MB - paid by every short-lived client, such as each CLI command.
	// The options are checked once here; encoders are made on first use.
	ze, err := newZstd()
	if err != nil {
		return nil, err
	}
	e := &Encoder{}
	e.za.put(ze)
	return e, nil
}

// newZstd and newGzip make the encoders an Encoder keeps (idle); each is
// given its output with Reset, or encodes with EncodeAll.
func newZstd() (*zstd.Encoder, error) {
	ze, err := zstd.NewWriter(nil, zstdOptions(1)...)
	if err != nil {
		return nil, fmt.Errorf("new zstd encoder: %w", err)
	}
	return ze, nil
}

func newGzip() (*gzip.Writer, error) {
	gw, err := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return gw, nil
}

// Encode appends src encoded with coding (zstd or gzip) to dst. A zstd
// body of splitMin bytes or more is encoded in parts, one per core, each a
// frame of its own (see zstdParallel).
func (e *Encoder) Encode(coding string, dst, src []byte) ([]byte, error) {
	// Room for half of src up front: sync bodies compress to about that or
	// less, and the encoder would otherwise grow dst from nothing, a copy
	// and fresh memory at every step (with WithLowerEncoderMem it does not
	// size dst itself). On a 300 KB exchange response: 10 % faster, 63 %
	// fewer bytes allocated.
	dst = slices.Grow(dst, len(src)/2+1024)
	switch coding {
	case Zstd:
		if parts := zstdParts(len(src)); parts > 1 {
			return e.zstdParallel(dst, src, parts)
		}
		ze, err := e.za.take(newZstd)
		if err != nil {
			return nil, err
		}
		defer e.za.put(ze)
		return ze.EncodeAll(src, dst), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		zw, err := e.gz.take(newGzip)
		if err != nil {
			return nil, err
		}
		zw.Reset(buf)
		defer func() { zw.Reset(io.Discard); e.gz.put(zw) }() // holds no body while idle
		if _, err := zw.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, coding)
}

// splitMin is the smallest body Encode encodes in zstd on more than one
// core: each part is at least half of it. Smaller bodies are not worth the
// second encoder, whose first use in a new process costs about 1 ms.
const splitMin = 1 << 20

// zstdParts returns how many parts Encode encodes a zstd body of n bytes
// in, one per core, each at least splitMin/2.
func zstdParts(n int) int {
	if n < splitMin {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), n/(splitMin/2)))
}

// zstdParallel appends src to dst in zstd as parts frames, one after the
// other, encoded at the same time: a zstd body is a sequence of frames
// [RFC 8878, section 3], and a decoder's output is that of each in turn.
//
// Why: a large body is encoded while the other side of the exchange waits
// for it (a client's first batch of a push, a server's answer), so the
// time on one core is the request's latency; a 1.5 MB batch took 6-8 ms on
// the machine of docs/performance.md. A part loses only the matches it
// would have found in the parts before it: sync bodies repeat locally
// (keys, ID prefixes, replica IDs).
func (e *Encoder) zstdParallel(dst, src []byte, parts int) ([]byte, error) {
	outs := make([][]byte, parts)
	errs := make([]error, parts)
	per := (len(src) + parts - 1) / parts
	var wg sync.WaitGroup
	for k := range parts {
		part := src[k*per : min((k+1)*per, len(src))]
		encode := func() {
			ze, err := e.za.take(newZstd)
			if err != nil {
				errs[k] = err
				return
			}
			defer e.za.put(ze)
			if k == 0 {
				outs[k] = ze.EncodeAll(part, dst)
			} else {
				outs[k] = ze.EncodeAll(part, make([]byte, 0, len(part)/2+1024))
			}
		}
		if k == parts-1 {
			encode() // on the caller's goroutine
		} else {
			wg.Go(encode)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := outs[0]
	for _, o := range outs[1:] {
		out = append(out, o...)
	}
	return out, nil
}

// Stream encodes one body that is written in parts: each part is encoded
// as Write returns, and Close adds the last part and ends the frame (zstd)
// or member (gzip). The result is one ordinary encoded body, so a caller
// can encode most of a body before it knows the end of it. A Stream is for
// one goroutine at a time.
type Stream struct {
	coding string
	buf    bytes.Buffer
	w      interface {
		io.Writer
		Flush() error
		Close() error
	}
	release func() // returns the encoder to its pool
}

// NewStream starts a body encoded in coding (zstd or gzip); sizeHint is
// the expected encoded size.
func (e *Encoder) NewStream(coding string, sizeHint int) (*Stream, error) {
	st := &Stream{coding: coding}
	st.buf.Grow(sizeHint)
	switch coding {
	case Zstd:
		zw, err := e.zs.take(newZstd)
		if err != nil {
			return nil, err
		}
		zw.Reset(&st.buf)
		st.w, st.release = zw, func() { zw.Reset(nil); e.zs.put(zw) }
	case Gzip:
		gw, err := e.gz.take(newGzip)
		if err != nil {
			return nil, err
		}
		gw.Reset(&st.buf)
		st.w, st.release = gw, func() { gw.Reset(io.Discard); e.gz.put(gw) }
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, coding)
	}
	return st, nil
}

// Coding returns the coding of the stream.
func (st *Stream) Coding() string { return st.coding }

// Write encodes p, all of it before it returns.
func (st *Stream) Write(p []byte) error { return st.put(p, st.w.Flush) }

// Close encodes last, ends the body and returns it; the Stream must not
// be used again.
func (st *Stream) Close(last []byte) ([]byte, error) {
	err := st.put(last, st.w.Close)
	st.Abort()
	if err != nil {
		return nil, err
	}
	return st.buf.Bytes(), nil
}

// put writes p, then flushes or ends the body (then).
func (st *Stream) put(p []byte, then func() error) error {
	_, err := st.w.Write(p)
	if err == nil {
		err = then()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st.coding, err)
	}
	return nil
}

// Abort gives up the body, and returns the encoder to its pool; nil, or a
// Stream closed already, does nothing.
func (st *Stream) Abort() {
	if st != nil && st.release != nil {
		st.release()
		st.release = nil
	}
}
