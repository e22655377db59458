package coding

import (
	"bytes"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/syncprint/syncprint/internal/fuzzseed"
)

// fuzzLimit is the decoders' output limit in the fuzz targets.
const fuzzLimit = 64 << 10

// FuzzDecode feeds arbitrary bodies to both decoders: a body decodes to at
// most the limit or fails with ErrCorrupt or ErrTooLarge, never a panic,
// allocating a bounded multiple of the limit whatever the body claims;
// and whatever the encoders produce decodes back.
func FuzzDecode(f *testing.F) {
	d, err := NewDecoder(fuzzLimit)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	e, err := NewEncoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, zstd bool, body []byte) {
		c := Gzip
		if zstd {
			c = Zstd
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := d.Decode(c, body)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*fuzzLimit+uint64(8*len(body))+(1<<20) {
			t.Fatalf("%s: decoding %d bytes allocated %d", c, len(body), alloc)
		}
		switch {
		case err == nil && len(out) > fuzzLimit:
			t.Fatalf("%s: %d bytes out, limit %d", c, len(out), fuzzLimit)
		case err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge):
			t.Fatalf("%s: %v", c, err)
		}
		if len(body) > fuzzLimit {
			return
		}
		enc, err := e.Encode(c, nil, body)
		if err != nil {
			t.Fatalf("%s: encode: %v", c, err)
		}
		back, err := d.Decode(c, enc)
		if err != nil || !bytes.Equal(back, body) {
			t.Fatalf("%s: decode(encode(b)) = %x, %v", c, back, err)
		}
	})
}

// FuzzHeaders checks ParseContentEncoding and Negotiate on arbitrary
// header values: one coding or none, never a panic; a negotiated coding
// is one of those offered.
func FuzzHeaders(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentEncoding, acceptEncoding string) {
		c, err := ParseContentEncoding(strings.Split(contentEncoding, "\n"))
		if err == nil && c != "" && !slices.Contains(Supported, c) {
			t.Fatalf("ParseContentEncoding(%q) = %q", contentEncoding, c)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("ParseContentEncoding(%q): %v", contentEncoding, err)
		}
		for _, offered := range [][]string{Supported, {Gzip}, nil} {
			if n := Negotiate(acceptEncoding, offered); n != "" && !slices.Contains(offered, n) {
				t.Fatalf("Negotiate(%q, %q) = %q", acceptEncoding, offered, n)
			}
		}
	})
}

func TestFuzzSeedsAreUpToDate(t *testing.T) {
	e, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte{0x81, 0xa1, 'x', 0xa0}, 300)
	gz, _ := e.Encode(Gzip, nil, msg)
	zs, _ := e.Encode(Zstd, nil, msg)
	big := make([]byte, 2*fuzzLimit)
	gzBig, _ := e.Encode(Gzip, nil, big)
	zsBig, _ := e.Encode(Zstd, nil, big)
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{
		"FuzzDecode": {
			{Name: "gzip", Args: []any{false, gz}},
			{Name: "zstd", Args: []any{true, zs}},
			{Name: "gzip bomb", Args: []any{false, gzBig}},
			{Name: "zstd bomb", Args: []any{true, zsBig}},
			{Name: "gzip truncated", Args: []any{false, gz[:len(gz)/2]}},
			{Name: "zstd truncated", Args: []any{true, zs[:len(zs)/2]}},
			{Name: "gzip twice", Args: []any{false, append(append([]byte{}, gz...), gz...)}},
			{Name: "garbage", Args: []any{true, []byte("hello")}},
			// Found by the fuzzer: nine bytes whose header declares 3 MB of
			// content, which the decoder allocated up front.
			{Name: "zstd declared size", Args: []any{true, []byte("(\xb5/\xfd\xa4000\x00")}},
			{Name: "zstd declared size after a frame", Args: []any{true, append(append([]byte{}, zs...), "(\xb5/\xfd\xa4000\x00"...)}},
		},
		"FuzzHeaders": {
			{Name: "none", Args: []any{"", ""}},
			{Name: "gzip", Args: []any{"gzip", "gzip, zstd;q=0.5"}},
			{Name: "two codings", Args: []any{"zstd, gzip", "*;q=0"}},
			{Name: "two lines", Args: []any{"identity\nGZIP", "*"}},
			{Name: "unknown", Args: []any{"br", "br;q=1, gzip;q=0"}},
			{Name: "q values", Args: []any{"", "zstd;q=0.000, gzip;q=abc, *;q=1"}},
		},
	})
}
