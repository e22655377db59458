package coding

import "fmt"

// Warm encodes a sample of record-like text with enc, both ways (Encode's
// encoder and a Stream's), and decodes both with dec: a zstd encoder's and
// decoder's first body costs 2-6 ms more than the next in a new process
// (their tables and buffers are allocated and touched), which a process
// that warms its codec before its first body, in the background, does not
// pay then. Call it once; it takes about 10 ms of CPU. The encoders it
// makes stay in enc's pools for the bodies that follow. Without an encoder
// there is nothing to decode.
func Warm(enc *Encoder, dec *Decoder) {
	if enc == nil {
		return
	}
	sample := warmSample()
	var bodies [][]byte
	if z, err := enc.Encode(Zstd, nil, sample); err == nil {
		bodies = append(bodies, z)
	}
	if st, err := enc.NewStream(Zstd, len(sample)/2); err == nil {
		if err := st.Write(sample[:len(sample)/2]); err != nil {
			st.Abort()
		} else if z, err := st.Close(sample[len(sample)/2:]); err == nil {
			bodies = append(bodies, z)
		}
	}
	if dec != nil {
		for _, b := range bodies {
			_, _ = dec.Decode(Zstd, b)
		}
	}
}

// warmSample is 64 KiB of record-like text: what a body of a few hundred
// items holds.
func warmSample() []byte {
	words := [...]string{"the", "of", "visit", "patient", "clinic", "report", "site", "check", "pump", "valve",
		"north", "south", "field", "sample", "water", "pressure", "reading", "normal", "high", "low", "note"}
	b := make([]byte, 0, 64<<10+64)
	x := uint32(2463534242)
	for i := 0; len(b) < 64<<10; i++ {
		b = fmt.Appendf(b, "item-%07d v1 ref:%08x ", i, x)
		for range 24 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b = append(append(b, words[x%uint32(len(words))]...), ' ')
		}
	}
	return b[:64<<10]
}
