package coding_test

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// exchangeBody is an encoded exchange response of n items of about 200
// bytes of record-like text, with random fingerprints: what a server
// compresses for a pull.
func exchangeBody(n int) []byte {
	words := strings.Fields("the of and to in is for on with visit patient clinic report site check pump valve north south east west field sample water soil pressure reading normal high low follow up next week today done open closed pending note")
	r := rand.New(rand.NewPCG(1, 2))
	var resp protocol.ExchangeResponse
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "item-%07d v1 ref:%x ", i, r.Uint64())
		for b.Len() < 200 {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		fp := make([]byte, 32)
		_, _ = cryptoRead(fp)
		resp.Items = append(resp.Items, protocol.Item{ID: fmt.Sprintf("item-%07d", i), Version: uint64(i + 1), FP: fp,
			HLC: 1_800_000_000_000 << 16, Replica: "bench/seeder", Content: []byte(b.String()[:200])})
	}
	body, err := protocol.Marshal(&resp)
	if err != nil {
		panic(err)
	}
	return body
}

var cryptoRead = crand.Read

// BenchmarkEncodeExchange1000 encodes the body of an exchange response of
// 1,000 items (about 300 KB), as a server does for every download batch.
func BenchmarkEncodeExchange1000(b *testing.B) {
	src := exchangeBody(1000)
	for _, cc := range []string{coding.Zstd, coding.Gzip} {
		b.Run(cc, func(b *testing.B) {
			enc, err := coding.NewEncoder()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var out []byte
			for range b.N {
				if out, err = enc.Encode(cc, nil, src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(src)), "ratio")
		})
	}
}

// BenchmarkDecodeStreamed1000 decodes the body of an exchange of 1,000
// items encoded as a stream (a zstd frame that declares no content size),
// as a server decodes an upload request and a client a page of content.
func BenchmarkDecodeStreamed1000(b *testing.B) {
	src := exchangeBody(1000)
	enc, err := coding.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	st, err := enc.NewStream(coding.Zstd, len(src)/2)
	if err != nil {
		b.Fatal(err)
	}
	half := len(src) / 2
	if err := st.Write(src[:half]); err != nil {
		b.Fatal(err)
	}
	body, err := st.Close(src[half:])
	if err != nil {
		b.Fatal(err)
	}
	dec, err := coding.NewDecoder(protocol.DefaultMaxBodyBytes)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for range b.N {
		out, err := dec.Decode(coding.Zstd, body)
		if err != nil || len(out) != len(src) {
			b.Fatalf("decoded %d bytes of %d: %v", len(out), len(src), err)
		}
	}
}
