package clientd_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/faultproxy"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// proxied starts a server behind a fault proxy and a client of it with
// the given idle timeout and a request timeout far longer than any test.
func proxied(t *testing.T, idle time.Duration) (*testServer, *faultproxy.Proxy, *clientd.Client) {
	t.Helper()
	srv := startServer(t, serverd.Config{})
	p, err := faultproxy.New(srv.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	c := srv.client(t, "alice", "laptop", func(cfg *clientd.Config) {
		cfg.ServerURL = p.URL()
		cfg.IdleTimeout = idle
		cfg.RequestTimeout = 10 * time.Minute
		cfg.DisableCompression = true   // the bandwidth test counts plain bytes
		cfg.DownloadsInExchanges = true // the faults strike exchanges
	})
	return srv, p, c
}

// TestAHungAnswerIsGivenUpAfterTheIdleTimeout: the exchange's answer stops
// in the middle of its body and never comes. The client does not wait for
// its request timeout (10 minutes here, beyond the caller's 30 s): each
// attempt is given up after IdleTimeout without a byte, as a network error
// that says so, and once the path heals the next sync goes through.
func TestAHungAnswerIsGivenUpAfterTheIdleTimeout(t *testing.T) {
	_, p, c := proxied(t, 300*time.Millisecond)
	require.NoError(t, c.Put("notes", "n", []byte("kept through the hang")))
	p.Set(faultproxy.Fault{Kind: faultproxy.Hang, Dir: faultproxy.Down, Path: protocol.PathExchange, InBody: true, After: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Sync(ctx)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "given up by the client, not by the caller's deadline: %v", err)
	require.True(t, errors.Is(err, clientd.ErrNetwork), "a network error: %v", err)
	require.ErrorContains(t, err, "no progress for 300ms")
	require.Positive(t, p.Struck())

	p.Heal()
	mustSync(t, c)
	st, err := c.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending, "the edit went up once the path healed")
}

// TestASlowAnswerThatKeepsMovingIsNotGivenUp: at 20 KB/s an answer of
// about 60 KB takes three seconds, ten times the idle timeout, but bytes
// arrive every 50 ms: the client waits for it.
func TestASlowAnswerThatKeepsMovingIsNotGivenUp(t *testing.T) {
	srv, p, c := proxied(t, 300*time.Millisecond)
	seed := srv.client(t, "alice", "phone")
	items := map[string][]byte{}
	for i := range 300 {
		items[fmt.Sprintf("item-%03d", i)] = []byte(fmt.Sprintf("%0200d", i))
	}
	require.NoError(t, seed.PutMany("notes", items))
	mustSync(t, seed)

	p.Set(faultproxy.Fault{Kind: faultproxy.Bandwidth, Dir: faultproxy.Down, Path: protocol.PathExchange, BytesPerSec: 20_000})
	rep := mustSync(t, c)
	require.Equal(t, 300, rep.Downloaded)
	require.Positive(t, p.Struck())
}
