package clientd_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

func TestTheLoopSyncsSoonAfterALocalWrite(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop", func(cfg *clientd.Config) {
		cfg.SyncInterval = time.Hour
		cfg.Debounce = 20 * time.Millisecond
	})
	require.NoError(t, a.Start())
	require.ErrorIs(t, a.Start(), clientd.ErrStarted)
	eventually(t, 10*time.Second, "the first sync", func() bool {
		st, err := a.Status()
		return err == nil && !st.LastSync.IsZero()
	})
	require.NoError(t, a.Put("notes", "n", []byte("hello")))
	eventually(t, 10*time.Second, "the write to be uploaded", func() bool {
		st, err := a.Status()
		return err == nil && st.Pending == 0 && st.LastError == ""
	})
	b := srv.client(t, "alice", "phone")
	mustSync(t, b)
	require.Equal(t, "hello", mustGet(t, b, "notes", "n"))
	st, err := a.Status()
	require.NoError(t, err)
	require.False(t, st.NextAttempt.IsZero(), "the periodic sync is scheduled")
}

func TestTheLoopPullsWhenTheServerReportsAChange(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone", func(cfg *clientd.Config) { cfg.SyncInterval = time.Hour })
	events, cancel := b.Subscribe()
	defer cancel()
	require.NoError(t, b.Start())
	eventually(t, 10*time.Second, "the first sync", func() bool {
		st, err := b.Status()
		return err == nil && !st.LastSync.IsZero()
	})

	require.NoError(t, a.Put("notes", "n", []byte("from the laptop")))
	mustSync(t, a)
	eventually(t, 10*time.Second, "the phone to pull the change", func() bool {
		v, err := b.Get("notes", "n")
		return err == nil && string(v) == "from the laptop"
	})
	select {
	case ev := <-events:
		require.Equal(t, []string{"notes"}, ev.Collections)
		require.Equal(t, 1, ev.Downloaded)
	case <-time.After(5 * time.Second):
		t.Fatal("no change event")
	}

	// A second change: the watch resumed with the new cursor.
	require.NoError(t, a.Put("notes", "n2", []byte("again")))
	mustSync(t, a)
	eventually(t, 10*time.Second, "the phone to pull the second change", func() bool {
		_, err := b.Get("notes", "n2")
		return err == nil
	})
}

// fakeServer answers every request with 503 and Retry-After, recording
// when each request came.
type fakeServer struct {
	mu    sync.Mutex // guards times
	times []time.Time
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	f.mu.Unlock()
	body, _ := protocol.Marshal(protocol.Errorf(protocol.CodeUnavailable, "maintenance"))
	w.Header().Set(protocol.HeaderRetryAfter, "1")
	w.Header().Set("Content-Type", protocol.ContentType)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}

func (f *fakeServer) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func TestTheLoopHonoursRetryAfter(t *testing.T) {
	fake := &fakeServer{}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	c := openStore(t, t.TempDir()+"/s.db", clientd.Config{
		ServerURL: hs.URL, Token: "sp_test", MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	require.NoError(t, c.Start())
	eventually(t, 20*time.Second, "one loop retry after the inline ones", func() bool { return len(fake.requests()) >= 5 })
	times := fake.requests()
	// Each Sync tries /v1/info up to 4 times inline; waits there are
	// already at least Retry-After, and so is the loop's between syncs.
	for i := 1; i < len(times); i++ {
		require.GreaterOrEqual(t, times[i].Sub(times[i-1]), 900*time.Millisecond, "request %d came too early", i)
	}
	st, err := c.Status()
	require.NoError(t, err)
	require.Contains(t, st.LastError, "unavailable")
}

func TestAFinalErrorStopsTheLoopUntilTrigger(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	hook := &hookTransport{base: http.DefaultTransport}
	c := openStore(t, t.TempDir()+"/s.db", clientd.Config{
		ServerURL: srv.url, Token: "sp_unknown", HTTPClient: &http.Client{Transport: hook},
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, SyncInterval: time.Millisecond,
	})
	require.NoError(t, c.Start())
	eventually(t, 10*time.Second, "the first attempt to fail", func() bool {
		st, err := c.Status()
		return err == nil && st.LastError != "" && st.NextAttempt.IsZero() && !st.Syncing
	})
	n := hook.count(protocol.PathInfo)
	require.Equal(t, 1, n, "unauthorized is not retried")
	c.Trigger()
	eventually(t, 10*time.Second, "Trigger to start another attempt", func() bool { return hook.count(protocol.PathInfo) == 2 })
}

func TestCloseCancelsASyncInFlightAndWaitsForTheLoop(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	inFlight := make(chan struct{})
	var once sync.Once
	hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
		if req.URL.Path == protocol.PathExchange {
			once.Do(func() { close(inFlight) })
			<-req.Context().Done() // the server never answers
		}
	}}
	c := srv.client(t, "alice", "laptop", withTransport(hook))
	events, _ := c.Subscribe()
	require.NoError(t, c.Put("notes", "n", []byte("x")))
	require.NoError(t, c.Start())
	select {
	case <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop never sent the exchange")
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	_, open := <-events
	require.False(t, open, "Close ends subscriptions")
	_, err := c.Status()
	require.ErrorIs(t, err, clientd.ErrClosed)
	_, err = c.Sync(t.Context())
	require.ErrorIs(t, err, clientd.ErrClosed)
	require.ErrorIs(t, c.Start(), clientd.ErrClosed)
}

func TestTheLoopRecoversWhenTheServerComesBack(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	a := srv.client(t, "alice", "laptop")
	b := srv.client(t, "alice", "phone", func(cfg *clientd.Config) { cfg.SyncInterval = time.Hour })
	require.NoError(t, b.Start())
	eventually(t, 10*time.Second, "the first sync", func() bool {
		st, err := b.Status()
		return err == nil && !st.LastSync.IsZero()
	})

	srv.stop()
	require.NoError(t, b.Put("notes", "offline", []byte("written while the server was down")))
	eventually(t, 10*time.Second, "a failed attempt", func() bool {
		st, err := b.Status()
		return err == nil && st.LastError != "" && !st.NextAttempt.IsZero()
	})
	st, err := b.Status()
	require.NoError(t, err)
	require.Contains(t, st.LastError, "network")
	require.Equal(t, 1, st.Pending)

	srv.start(srv.addr)
	eventually(t, 20*time.Second, "the loop to upload after the restart", func() bool {
		st, err := b.Status()
		return err == nil && st.Pending == 0 && st.LastError == ""
	})
	// The watch is back too: a change on the laptop reaches the phone.
	require.NoError(t, a.Put("notes", "after", []byte("restart")))
	mustSync(t, a)
	eventually(t, 20*time.Second, "the phone to pull the laptop's change", func() bool {
		_, err := b.Get("notes", "after")
		return err == nil
	})
	require.Equal(t, "written while the server was down", mustGet(t, a, "notes", "offline"))
}
