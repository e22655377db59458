package coding

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// A Bomb is a valid body in a content coding that decodes to far more
// bytes than it holds: Prefix followed by Zeros zero bytes. Its encodings
// are built directly, in time and memory proportional to their own size,
// never by compressing Zeros bytes, so a test can hold a body that decodes
// to gigabytes (zstd: about 4 bytes per 128 KiB decoded; gzip: about 1 KiB
// per MiB). Decoders bounded by a limit must refuse it (ErrTooLarge) after
// producing little more than the limit.
type Bomb struct {
	// Prefix is the start of the decoded body, for example the head of a
	// msgpack message whose last value is a bin of Zeros bytes.
	Prefix []byte
	// Zeros is how many zero bytes follow Prefix.
	Zeros uint64
	// DeclareSize writes the decoded size in the zstd frame header
	// (Frame_Content_Size), so a decoder can refuse the frame before
	// decoding any block. gzip always declares it, modulo 2^32 (ISIZE).
	DeclareSize bool
}

// Len returns the decoded length.
func (b Bomb) Len() uint64 { return uint64(len(b.Prefix)) + b.Zeros }

// Encode returns the bomb in coding (zstd or gzip).
func (b Bomb) Encode(coding string) ([]byte, error) {
	switch coding {
	case Zstd:
		return b.zstd(), nil
	case Gzip:
		return b.gzip()
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, coding)
}

// zstdBlock is the largest block a zstd frame with a 128 KiB window holds
// (Block_Maximum_Size, RFC 8878 section 3.1.1.2.3).
const zstdBlock = 128 << 10

// zstd builds one frame (RFC 8878): a 128 KiB window, no checksum, the
// prefix in raw blocks and the zeros in RLE blocks of 128 KiB (4 bytes
// each).
func (b Bomb) zstd() []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd} // magic number
	fhd := byte(0)                        // no content size, not single-segment, no checksum, no dictionary
	if b.DeclareSize {
		fhd = 3 << 6 // Frame_Content_Size in 8 bytes
	}
	out = append(out, fhd, (17-10)<<3) // Window_Descriptor: 2^17 bytes
	if b.DeclareSize {
		out = binary.LittleEndian.AppendUint64(out, b.Len())
	}
	for p := b.Prefix; len(p) > 0; {
		n := min(len(p), zstdBlock)
		out = appendBlockHeader(out, n == len(p) && b.Zeros == 0, 0, n) // raw block
		out = append(out, p[:n]...)
		p = p[n:]
	}
	for left := b.Zeros; left > 0; {
		n := min(left, zstdBlock)
		left -= n
		out = appendBlockHeader(out, left == 0, 1, int(n)) // RLE block of n zeros
		out = append(out, 0)
	}
	if b.Len() == 0 {
		out = appendBlockHeader(out, true, 0, 0)
	}
	return out
}

// appendBlockHeader appends a zstd Block_Header: Last_Block, Block_Type
// and Block_Size in 3 little-endian bytes.
func appendBlockHeader(out []byte, last bool, typ byte, size int) []byte {
	h := uint32(size)<<3 | uint32(typ)<<1
	if last {
		h |= 1
	}
	return append(out, byte(h), byte(h>>8), byte(h>>16))
}

// gzip builds one gzip member (RFC 1952) whose deflate stream (RFC 1951)
// holds the prefix and the first chunk of zeros, then one flushed chunk of
// zeros repeated: a chunk that only copies from the last 32 KiB, all
// zeros, decodes to the same zeros wherever it is repeated. Only the
// prefix and two chunks go through the compressor.
func (b Bomb) gzip() ([]byte, error) {
	const chunk = 256 << 10
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("bomb: %w", err)
	}
	zeros := make([]byte, chunk)
	write := func(p []byte, flush bool) error {
		if _, err := fw.Write(p); err != nil {
			return fmt.Errorf("bomb: %w", err)
		}
		if flush {
			if err := fw.Flush(); err != nil {
				return fmt.Errorf("bomb: %w", err)
			}
		}
		return nil
	}
	var stream []byte
	prefix, left := b.Prefix, b.Zeros
	if left >= 3*chunk {
		// The first chunk fills the window with zeros; the second, alone
		// in its flushed blocks, is then repeated.
		if err := write(prefix, false); err != nil {
			return nil, err
		}
		if err := write(zeros, true); err != nil {
			return nil, err
		}
		stream = append(stream, buf.Bytes()...)
		buf.Reset()
		if err := write(zeros, true); err != nil {
			return nil, err
		}
		rep := bytes.Clone(buf.Bytes())
		buf.Reset()
		left -= chunk
		n := int(left / chunk)
		stream = append(slices.Grow(stream, n*len(rep)+64<<10), bytes.Repeat(rep, n)...)
		left -= uint64(n) * chunk
		prefix = nil
	}
	if err := write(prefix, false); err != nil {
		return nil, err
	}
	for ; left > 0; left -= min(left, chunk) {
		if err := write(zeros[:min(left, chunk)], false); err != nil {
			return nil, err
		}
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("bomb: %w", err)
	}
	stream = append(stream, buf.Bytes()...)

	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff} // deflate, no flags, no mtime, unknown OS
	out = append(out, stream...)
	out = binary.LittleEndian.AppendUint32(out, crc32AppendZeros(crc32.ChecksumIEEE(b.Prefix), b.Zeros))
	return binary.LittleEndian.AppendUint32(out, uint32(b.Len())), nil
}

// crc32AppendZeros returns the CRC-32 (IEEE) of data followed by n zero
// bytes, given crc, the CRC-32 of data, in O(log n): the register's update
// over one zero byte is linear over GF(2), so n bytes are that map to the
// power n, by squaring.
func crc32AppendZeros(crc uint32, n uint64) uint32 {
	var op [32]uint32 // op[i] is the image of the register bit i
	for i := range op {
		r := uint32(1) << i
		op[i] = r>>8 ^ crc32.IEEETable[r&0xff]
	}
	apply := func(m *[32]uint32, v uint32) uint32 {
		var s uint32
		for i := 0; v != 0; i, v = i+1, v>>1 {
			if v&1 != 0 {
				s ^= m[i]
			}
		}
		return s
	}
	reg := ^crc
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			reg = apply(&op, reg)
		}
		var sq [32]uint32
		for i := range sq {
			sq[i] = apply(&op, op[i])
		}
		op = sq
	}
	return ^reg
}
