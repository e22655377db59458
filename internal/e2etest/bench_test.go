package e2etest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/serverd"
)

// benchItems and benchSize are the workload: 10,000 items of 200 B.
const (
	benchItems = 10_000
	benchSize  = 200
)

func benchContent(i int, tag string) []byte {
	b := make([]byte, benchSize)
	copy(b, fmt.Sprintf("%s-%06d-", tag, i))
	for j := 16; j < benchSize; j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

// fixture is a prepared server data dir and client stores, built once and
// copied for every benchmark iteration so that only the sync is timed.
type fixture struct {
	serverDir string
	tokens    map[string]string // device -> token
	stores    map[string]string // device -> store file
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	require.NoError(tb, err)
	defer in.Close()
	require.NoError(tb, os.MkdirAll(filepath.Dir(dst), 0o755))
	out, err := os.Create(dst)
	require.NoError(tb, err)
	_, err = io.Copy(out, in)
	require.NoError(tb, err)
	require.NoError(tb, out.Close())
}

// buildFixture creates a server with tokens for devices "pusher" (whose
// store holds benchItems unsynced items "p-*") and "puller" (empty store),
// and, when serverItems is set, benchItems items "s-*" already on the server.
func buildFixture(b *testing.B, serverItems bool) fixture {
	b.Helper()
	dir := b.TempDir()
	f := fixture{serverDir: filepath.Join(dir, "server"), tokens: map[string]string{}, stores: map[string]string{}}
	srv, err := serverd.Open(serverd.Config{DataDir: f.serverDir})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	for _, dev := range []string{"seeder", "pusher", "puller"} {
		f.tokens[dev], err = srv.CreateToken("bench", dev)
		require.NoError(b, err)
		f.stores[dev] = filepath.Join(dir, dev+".db")
	}
	fill := func(dev, tag string) *clientd.Client {
		c, err := clientd.Open(f.stores[dev], clientd.Config{ServerURL: url, Token: f.tokens[dev]})
		require.NoError(b, err)
		items := make(map[string][]byte, benchItems)
		for i := 0; i < benchItems; i++ {
			items[fmt.Sprintf("%s-%06d", tag, i)] = benchContent(i, tag)
		}
		require.NoError(b, c.PutMany("bench", items))
		return c
	}
	if serverItems {
		seeder := fill("seeder", "s")
		_, err := seeder.Sync(context.Background())
		require.NoError(b, err)
		require.NoError(b, seeder.Close())
	}
	require.NoError(b, fill("pusher", "p").Close())
	puller, err := clientd.Open(f.stores["puller"], clientd.Config{ServerURL: url, Token: f.tokens["puller"]})
	require.NoError(b, err)
	require.NoError(b, puller.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(b, srv.Shutdown(ctx))
	return f
}

// run copies the fixture, starts the server, opens device's store and
// times one Sync per iteration.
func (f fixture) run(b *testing.B, device string, check func(clientd.Report)) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		copyFile(b, filepath.Join(f.serverDir, "syncprint.db"), filepath.Join(dir, "server", "syncprint.db"))
		store := filepath.Join(dir, device+".db")
		copyFile(b, f.stores[device], store)
		srv, err := serverd.Open(serverd.Config{DataDir: filepath.Join(dir, "server")})
		require.NoError(b, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		go func() { _ = srv.Serve(ln) }()
		c, err := clientd.Open(store, clientd.Config{ServerURL: "http://" + ln.Addr().String(), Token: f.tokens[device]})
		require.NoError(b, err)
		b.StartTimer()
		rep, err := c.Sync(context.Background())
		b.StopTimer()
		require.NoError(b, err)
		check(rep)
		require.NoError(b, c.Close())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(b, srv.Shutdown(ctx))
		cancel()
		b.StartTimer()
	}
}

// BenchmarkSyncPull10k: an empty client pulls 10,000 × 200 B.
func BenchmarkSyncPull10k(b *testing.B) {
	f := buildFixture(b, true)
	b.ResetTimer()
	f.run(b, "puller", func(r clientd.Report) { require.Equal(b, benchItems, r.Downloaded) })
}

// BenchmarkSyncPush10k: a client pushes 10,000 × 200 B into an empty server.
func BenchmarkSyncPush10k(b *testing.B) {
	f := buildFixture(b, false)
	b.ResetTimer()
	f.run(b, "pusher", func(r clientd.Report) { require.Equal(b, benchItems, r.Uploaded) })
}

// BenchmarkSyncBothWays10k: one sync moves 10,000 items up and 10,000 down.
func BenchmarkSyncBothWays10k(b *testing.B) {
	f := buildFixture(b, true)
	b.ResetTimer()
	f.run(b, "pusher", func(r clientd.Report) {
		require.Equal(b, benchItems, r.Uploaded)
		require.Equal(b, benchItems, r.Downloaded)
	})
}
