package coding_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/coding"
)

func TestBodiesRoundTripInEveryCoding(t *testing.T) {
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	dec, err := coding.NewDecoder(1 << 20)
	require.NoError(t, err)
	defer dec.Close()
	for _, c := range coding.Supported {
		for _, body := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("syncprint "), 50_000)} {
			z, err := enc.Encode(c, nil, body)
			require.NoError(t, err)
			got, err := dec.Decode(c, z)
			require.NoError(t, err, c)
			require.Equal(t, len(body), len(got), c)
			require.True(t, bytes.Equal(body, got), c)
		}
	}
	got, err := dec.Decode("", []byte("plain"))
	require.NoError(t, err)
	require.Equal(t, "plain", string(got))
}

func TestAStreamEncodesItsPartsAsOneBody(t *testing.T) {
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	dec, err := coding.NewDecoder(4 << 20)
	require.NoError(t, err)
	defer dec.Close()
	big := bytes.Repeat([]byte("syncprint exchange "), 20_000) // over two zstd blocks
	for _, c := range coding.Supported {
		for _, parts := range [][][]byte{
			{big, []byte("cursor")},
			{[]byte("a"), []byte("b"), big, {}},
			{{}, {}},
			{big, big, big},
		} {
			// A stream given up leaves a clean encoder in the pool.
			st, err := enc.NewStream(c, 0)
			require.NoError(t, err)
			require.NoError(t, st.Write([]byte("given up")))
			st.Abort()

			st, err = enc.NewStream(c, len(big)/2)
			require.NoError(t, err)
			var want []byte
			for _, p := range parts[:len(parts)-1] {
				require.NoError(t, st.Write(p))
				want = append(want, p...)
			}
			want = append(want, parts[len(parts)-1]...)
			z, err := st.Close(parts[len(parts)-1])
			require.NoError(t, err)
			got, err := dec.Decode(c, z)
			require.NoError(t, err, c)
			require.True(t, bytes.Equal(want, got), "%s: %d bytes back, want %d", c, len(got), len(want))
			if len(want) > 1000 {
				require.Less(t, len(z), len(want)/10, "%s: compressed", c)
			}
			if c == coding.Zstd {
				require.Equal(t, len(z), zstdFrameLen(t, z), "one frame, nothing after it")
			}
		}
	}
	// The frame check sees a second frame.
	one, err := enc.Encode(coding.Zstd, nil, big)
	require.NoError(t, err)
	two, err := enc.Encode(coding.Zstd, one, []byte("cursor"))
	require.NoError(t, err)
	require.Equal(t, len(one), zstdFrameLen(t, two))
	_, err = enc.NewStream("br", 0)
	require.ErrorIs(t, err, coding.ErrUnsupported)
}

// zstdFrameLen returns the length of the zstd frame at the start of z, from
// its header and block headers (RFC 8878 3.1.1).
func zstdFrameLen(t *testing.T, z []byte) int {
	var h zstd.Header
	require.NoError(t, h.Decode(z))
	n := h.HeaderSize
	for {
		require.LessOrEqual(t, n+3, len(z), "truncated block header")
		bh := int(z[n]) | int(z[n+1])<<8 | int(z[n+2])<<16
		last, typ, size := bh&1 == 1, bh>>1&3, bh>>3
		n += 3
		if typ == 1 { // RLE: one byte
			size = 1
		}
		n += size
		if last {
			break
		}
	}
	if h.HasCheckSum {
		n += 4
	}
	return n
}

func TestADecodedBodyOverTheLimitIsRefusedWithoutInflatingIt(t *testing.T) {
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	dec, err := coding.NewDecoder(64 << 10)
	require.NoError(t, err)
	defer dec.Close()
	// A few KB that decode to 64 MB: a "zip bomb".
	bomb := make([]byte, 64<<20)
	for _, c := range coding.Supported {
		z, err := enc.Encode(c, nil, bomb)
		require.NoError(t, err)
		require.Less(t, len(z), 1<<20, c)
		_, err = dec.Decode(c, z)
		require.ErrorIs(t, err, coding.ErrTooLarge, c)
		// Exactly at the limit is fine, one byte over is not.
		z, _ = enc.Encode(c, nil, bomb[:64<<10])
		got, err := dec.Decode(c, z)
		require.NoError(t, err, c)
		require.Len(t, got, 64<<10)
		z, _ = enc.Encode(c, nil, bomb[:64<<10+1])
		_, err = dec.Decode(c, z)
		require.ErrorIs(t, err, coding.ErrTooLarge, c)
	}
}

func TestGarbageIsCorruptInEveryCoding(t *testing.T) {
	dec, err := coding.NewDecoder(1 << 20)
	require.NoError(t, err)
	defer dec.Close()
	enc, _ := coding.NewEncoder()
	for _, c := range coding.Supported {
		_, err := dec.Decode(c, []byte("not compressed at all"))
		require.ErrorIs(t, err, coding.ErrCorrupt, c)
		z, _ := enc.Encode(c, nil, bytes.Repeat([]byte("abc"), 1000))
		_, err = dec.Decode(c, z[:len(z)/2])
		require.ErrorIs(t, err, coding.ErrCorrupt, c, "a truncated body")
	}
	_, err = dec.Decode("br", []byte("x"))
	require.ErrorIs(t, err, coding.ErrUnsupported)
}

func TestContentEncodingNamesAtMostOneKnownCoding(t *testing.T) {
	cases := []struct {
		lines []string
		want  string
		ok    bool
	}{
		{nil, "", true},
		{[]string{""}, "", true},
		{[]string{"identity"}, "", true},
		{[]string{"IDENTITY, identity"}, "", true},
		{[]string{"zstd"}, "zstd", true},
		{[]string{" ZSTD "}, "zstd", true},
		{[]string{"gzip"}, "gzip", true},
		{[]string{"identity", "gzip"}, "gzip", true},
		{[]string{"br"}, "", false},
		{[]string{"x-gzip"}, "", false},
		{[]string{"zstd, gzip"}, "", false},
		{[]string{"zstd", "zstd"}, "", false},
	}
	for _, tc := range cases {
		got, err := coding.ParseContentEncoding(tc.lines)
		if !tc.ok {
			require.ErrorIs(t, err, coding.ErrUnsupported, "%q", tc.lines)
			continue
		}
		require.NoError(t, err, "%q", tc.lines)
		require.Equal(t, tc.want, got, "%q", tc.lines)
	}
}

func TestNegotiationPicksTheFirstOfferedCodingTheClientAccepts(t *testing.T) {
	offered := []string{coding.Zstd, coding.Gzip}
	cases := map[string]string{
		"":                     "",
		"identity":             "",
		"gzip":                 "gzip",
		"gzip, zstd":           "zstd",
		"ZSTD;q=0.5":           "zstd",
		"zstd;q=0, gzip":       "gzip",
		"zstd; q=0.000":        "",
		"*":                    "zstd",
		"*;q=0":                "",
		"zstd;q=0, *":          "gzip",
		"br, deflate":          "",
		"gzip;q=1.0, br;q=0.8": "gzip",
	}
	for header, want := range cases {
		require.Equal(t, want, coding.Negotiate(header, offered), "Accept-Encoding: %q", header)
	}
}

func TestASmallLimitStillDecodesAFrameThatDeclaresALargeWindow(t *testing.T) {
	// A valid 1 KB body in a frame declaring a 4 MiB window (as an encoder
	// streaming a body of unknown length may write it), built by hand: magic,
	// a descriptor without content size or single segment, the window
	// descriptor (exponent 12: 1 << 22), and one last raw block.
	body := bytes.Repeat([]byte("k"), 1000)
	z := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 12 << 3}
	blk := 1 | len(body)<<3 // last, raw, size
	z = append(z, byte(blk), byte(blk>>8), byte(blk>>16))
	z = append(z, body...)
	hdr, err := zstdFrameWindow(z)
	require.NoError(t, err)
	require.Greater(t, hdr, uint64(64<<10), "the frame must declare a window over the limit")
	dec, err := coding.NewDecoder(64 << 10)
	require.NoError(t, err)
	defer dec.Close()
	got, err := dec.Decode(coding.Zstd, z)
	require.NoError(t, err)
	require.Equal(t, body, got)
}

// zstdFrameWindow reads the window size a zstd frame declares.
func zstdFrameWindow(z []byte) (uint64, error) {
	var h zstd.Header
	if err := h.Decode(z); err != nil {
		return 0, err
	}
	return h.WindowSize, nil
}

func TestALargeZstdBodyIsEncodedInFramesOnSeveralCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	dec, err := coding.NewDecoder(8 << 20)
	require.NoError(t, err)
	defer dec.Close()
	var body []byte
	for i := 0; len(body) < 3<<20; i++ {
		body = fmt.Appendf(body, "item-%07d visit %d reading %x; ", i, i%97, i*7919)
	}
	z, err := enc.Encode(coding.Zstd, []byte("kept"), body)
	require.NoError(t, err)
	require.Equal(t, "kept", string(z[:4]), "Encode appends to dst")
	z = z[4:]
	// Two frames, each declaring its part: the first holds half.
	var h zstd.Header
	require.NoError(t, h.Decode(z))
	require.True(t, h.HasFCS)
	require.Equal(t, uint64((len(body)+1)/2), h.FrameContentSize)
	got, err := dec.Decode(coding.Zstd, z)
	require.NoError(t, err)
	require.True(t, bytes.Equal(body, got))
	// Any zstd decoder reads it: a body is a sequence of frames.
	plain, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer plain.Close()
	got, err = plain.DecodeAll(z, nil)
	require.NoError(t, err)
	require.True(t, bytes.Equal(body, got))
	// The limit counts every frame.
	small, err := coding.NewDecoder(2 << 20)
	require.NoError(t, err)
	defer small.Close()
	_, err = small.Decode(coding.Zstd, z)
	require.ErrorIs(t, err, coding.ErrTooLarge)
	// One core: one frame.
	runtime.GOMAXPROCS(1)
	z, err = enc.Encode(coding.Zstd, nil, body)
	require.NoError(t, err)
	require.NoError(t, h.Decode(z))
	require.Equal(t, uint64(len(body)), h.FrameContentSize)
}
