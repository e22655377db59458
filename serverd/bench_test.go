package serverd

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// BenchmarkExchange1000x200B times one exchange of 1,000 uploads of 200 B
// each over loopback HTTP into a real bbolt file (one fsync per exchange).
func BenchmarkExchange1000x200B(b *testing.B) {
	ts := startServer(b, Config{})
	tok := ts.token("bench", "dev")
	h := hlcAt(time.Now())
	content := make([]byte, 200)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	body := func(n int) []byte {
		req := protocol.ExchangeRequest{Collection: "bench", BatchID: fmt.Sprintf("bench-batch-%08d", n)}
		for i := 0; i < 1000; i++ {
			req.Uploads = append(req.Uploads, up(fmt.Sprintf("item-%d-%04d", n, i), string(content), 0, 0, h))
		}
		out, err := protocol.Marshal(req)
		require.NoError(b, err)
		return out
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		req := body(n)
		b.StartTimer()
		status, _, _ := ts.raw(http.MethodPost, protocol.PathExchange, req, authHeaders(tok))
		if status != http.StatusOK {
			b.Fatalf("status %d", status)
		}
	}
	b.SetBytes(1000 * 200)
}

// BenchmarkExchangeDownload10 times a small exchange of a busy server: 10
// downloads of 200 B items from a collection of 1,000, read-only (no
// fsync), over loopback HTTP.
func BenchmarkExchangeDownload10(b *testing.B) {
	ts := startServer(b, Config{})
	tok := ts.token("bench", "dev")
	h := hlcAt(time.Now())
	content := string(make([]byte, 200))
	seed := protocol.ExchangeRequest{Collection: "bench", BatchID: "bench-seed-000000000"}
	for i := 0; i < 1000; i++ {
		seed.Uploads = append(seed.Uploads, up(fmt.Sprintf("item-%04d", i), content, 0, 0, h))
	}
	out, err := protocol.Marshal(seed)
	require.NoError(b, err)
	status, _, _ := ts.raw(http.MethodPost, protocol.PathExchange, out, authHeaders(tok))
	require.Equal(b, http.StatusOK, status)
	req := protocol.ExchangeRequest{Collection: "bench", BatchID: "bench-download-00000"}
	for i := 0; i < 10; i++ {
		req.Downloads = append(req.Downloads, fmt.Sprintf("item-%04d", i*97))
	}
	body, err := protocol.Marshal(req)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		status, _, _ := ts.raw(http.MethodPost, protocol.PathExchange, body, authHeaders(tok))
		if status != http.StatusOK {
			b.Fatalf("status %d", status)
		}
	}
}
