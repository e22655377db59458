package e2etest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/serverd"
)

// countingTransport counts the requests a client sends.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

// BenchmarkSyncIncremental10: the benchmark's incremental workload in
// small: two devices of a user with 1,000 synced items; per iteration
// the other device uploads 10 edits, then the timed device syncs its own 10
// edits and downloads the other's. It reports the timed session's requests
// (req/op): a session that meets no new conflict record does not list them.
func BenchmarkSyncIncremental10(b *testing.B) {
	dir := b.TempDir()
	srv, err := serverd.Open(serverd.Config{DataDir: filepath.Join(dir, "server")})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	open := func(dev string, rt http.RoundTripper) *clientd.Client {
		tok, err := srv.CreateToken("bench", dev)
		require.NoError(b, err)
		c, err := clientd.Open(filepath.Join(dir, dev+".db"), clientd.Config{ServerURL: "http://" + ln.Addr().String(), Token: tok,
			HTTPClient: &http.Client{Transport: rt}})
		require.NoError(b, err)
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	counter := &countingTransport{}
	other, timed := open("other", http.DefaultTransport), open("timed", counter)
	edits := func(c *clientd.Client, tag string, n, round int) {
		items := make(map[string][]byte, n)
		for i := range n {
			items[fmt.Sprintf("%s-%06d", tag, i)] = benchContent(i+round, tag)
		}
		require.NoError(b, c.PutMany("bench", items))
	}
	ctx := context.Background()
	edits(other, "o", 1000, 0)
	_, err = other.Sync(ctx)
	require.NoError(b, err)
	_, err = timed.Sync(ctx)
	require.NoError(b, err)

	b.ReportAllocs()
	b.ResetTimer()
	requests := int64(0)
	for i := range b.N {
		b.StopTimer()
		edits(other, "o", 10, i+1)
		_, err := other.Sync(ctx)
		require.NoError(b, err)
		edits(timed, "t", 10, i+1)
		before := counter.n.Load()
		b.StartTimer()
		rep, err := timed.Sync(ctx)
		b.StopTimer()
		require.NoError(b, err)
		require.Equal(b, 10, rep.Uploaded)
		require.Equal(b, 10, rep.Downloaded)
		requests += counter.n.Load() - before
		b.StartTimer()
	}
	b.ReportMetric(float64(requests)/float64(b.N), "req/op")
}
