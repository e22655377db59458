package coding

import (
	"bytes"
	stdgzip "compress/gzip"
	"hash/crc32"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCRC32AppendZerosMatchesTheDirectChecksum(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 7, 255, 256, 4096, 1<<20 + 3} {
		for _, prefix := range []string{"", "a", "syncprint"} {
			want := crc32.ChecksumIEEE(append([]byte(prefix), make([]byte, n)...))
			require.Equal(t, want, crc32AppendZeros(crc32.ChecksumIEEE([]byte(prefix)), n), "%q + %d zeros", prefix, n)
		}
	}
}

func TestBombsDecodeToTheirPrefixAndZeros(t *testing.T) {
	dec, err := NewDecoder(8 << 20)
	require.NoError(t, err)
	defer dec.Close()
	for _, b := range []Bomb{
		{}, {Prefix: []byte("head")}, {Zeros: 1}, {Prefix: []byte("head"), Zeros: zstdBlock},
		{Prefix: bytes.Repeat([]byte("p"), zstdBlock+5), Zeros: zstdBlock + 1, DeclareSize: true},
		// From 3 chunks of 256 KiB on, gzip repeats a chunk.
		{Prefix: []byte("head"), Zeros: 1<<20 + 17}, {Zeros: 768 << 10, DeclareSize: true}, {Zeros: 768<<10 - 1},
	} {
		want := append(bytes.Clone(b.Prefix), make([]byte, b.Zeros)...)
		for _, c := range Supported {
			z, err := b.Encode(c)
			require.NoError(t, err)
			got, err := dec.Decode(c, z)
			require.NoError(t, err, "%s of %d+%d bytes", c, len(b.Prefix), b.Zeros)
			require.True(t, bytes.Equal(want, got), "%s of %d+%d bytes decodes to %d bytes", c, len(b.Prefix), b.Zeros, len(got))
		}
		// An independent decoder agrees on the gzip member, trailer included.
		z, _ := b.Encode(Gzip)
		zr, err := stdgzip.NewReader(bytes.NewReader(z))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got))
	}
}

func TestAGigabyteBombIsSmallAndRefusedByABoundedDecoder(t *testing.T) {
	dec, err := NewDecoder(1 << 20)
	require.NoError(t, err)
	defer dec.Close()
	for _, tc := range []struct {
		coding  string
		declare bool
	}{{Zstd, false}, {Zstd, true}, {Gzip, true}} {
		z, err := Bomb{Prefix: []byte("head"), Zeros: 4<<30 - 1<<20, DeclareSize: tc.declare}.Encode(tc.coding)
		require.NoError(t, err)
		require.Less(t, len(z), 5<<20, tc.coding)
		_, err = dec.Decode(tc.coding, z)
		require.ErrorIs(t, err, ErrTooLarge, tc.coding)
	}
	// The stdlib decoder checks the whole gzip member of a 16 MiB bomb.
	z, err := Bomb{Prefix: []byte("x"), Zeros: 16 << 20}.Encode(Gzip)
	require.NoError(t, err)
	zr, err := stdgzip.NewReader(bytes.NewReader(z))
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, zr)
	require.NoError(t, err)
	require.Equal(t, int64(16<<20+1), n)
}
