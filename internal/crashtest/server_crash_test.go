package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/faultproxy"
	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/serverd/boltdb"
)

// idsPerWriter bounds the items each writer edits, so that a long soak
// edits the same items over and over instead of growing without end.
const idsPerWriter = 60

// version is the last local write of an item.
type version struct {
	content string
	deleted bool
}

// writer makes seeded random edits to its own items (IDs w<i>-<k>, item k
// in collections[k%4]) and remembers the last one of each.
type writer struct {
	i   int
	c   *clientd.Client
	rec *faulttest.Recorder
	rng *rand.Rand

	mu   sync.Mutex // guards last
	last map[string]version
	n    int // edits made
}

func itemOf(i, k int) (coll, id string) {
	return collections[k%len(collections)], fmt.Sprintf("w%d-%d", i, k)
}

// edit makes one random local edit: a put of a missing or deleted item,
// else an edit (70%) or a delete. An error means a write the writer made
// earlier is gone from its own store.
func (w *writer) edit() error {
	k := w.rng.IntN(idsPerWriter)
	coll, id := itemOf(w.i, k)
	key := coll + "/" + id
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	prev, ok := w.last[key]
	if ok && !prev.deleted && w.rng.IntN(10) < 3 {
		if err := w.c.Delete(coll, id); err != nil {
			return fmt.Errorf("writer %d: delete %s, put last as %q: %w", w.i, key, prev.content, err)
		}
		w.last[key] = version{deleted: true}
		return nil
	}
	content := fmt.Sprintf("%s edit %d of writer %d", id, w.n, w.i)
	if err := w.c.Put(coll, id, []byte(content)); err != nil {
		return fmt.Errorf("writer %d: put %s: %w", w.i, key, err)
	}
	w.last[key] = version{content: content}
	return nil
}

// TestServerCrash kills `syncprint serve` with SIGKILL at random moments
// while three replicas edit and push, and restarts it on the same data.
func TestServerCrash(t *testing.T) {
	t.Parallel()
	n := cycles(t, 5)
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, 1))
	srv := newServer(t)
	srv.start()
	proxy, err := faultproxy.New(srv.addr)
	require.NoError(t, err)
	defer proxy.Close()
	checker := srv.token("crash", "checker")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var writers []*writer
	var wg sync.WaitGroup
	for i := range 3 {
		rec := &faulttest.Recorder{Base: &http.Transport{MaxIdleConnsPerHost: 4}}
		c, err := clientd.Open(filepath.Join(t.TempDir(), fmt.Sprintf("w%d.db", i)), clientd.Config{
			ServerURL: proxy.URL(), Token: srv.token("crash", fmt.Sprintf("dev%d", i)),
			HTTPClient: &http.Client{Transport: rec}, RequestTimeout: 5 * time.Second,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Debounce: 5 * time.Millisecond,
		})
		require.NoError(t, err)
		defer c.Close()
		w := &writer{i: i, c: c, rec: rec, rng: rand.New(rand.NewPCG(sd, uint64(10+i))), last: map[string]version{}}
		writers = append(writers, w)
		if i == 0 {
			require.NoError(t, c.Start()) // the background loop syncs writer 0
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond) // the edit rate
			defer tick.Stop()
			for ops := 1; ; ops++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if err := w.edit(); err != nil {
					t.Errorf("seed %d: %v", sd, err)
					return
				}
				if w.i != 0 && ops%3 == 0 {
					sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, _ = c.Sync(sctx) // fails while the server is down
					cancel()
				}
			}
		}()
	}

	acked := func() []faulttest.Ack {
		var all []faulttest.Ack
		for _, w := range writers {
			require.Zero(t, w.rec.Undecoded(), "writer %d: exchange responses the recorder could not read", w.i)
			all = append(all, w.rec.Acks()...)
		}
		return all
	}
	for cycle := 1; cycle <= n; cycle++ {
		wait := time.Duration(20+rng.IntN(400)) * time.Millisecond
		timer := time.NewTimer(wait) // the kill moment
		<-timer.C
		srv.kill()
		require.NoError(t, boltdb.Check(srv.dbPath()), "cycle %d (seed %d): the store is inconsistent after SIGKILL", cycle, sd)
		srv.start()
		proxy.SetUpstream(srv.addr)
		acks := acked() // before reading: every ack here was committed before the read
		state, _ := serverState(t, "http://"+srv.addr, checker)
		bad := faulttest.CheckAcks(acks, state)
		require.Empty(t, bad, "cycle %d (seed %d): acknowledged uploads lost after SIGKILL", cycle, sd)
		if cycle%50 == 0 || cycle == n {
			t.Logf("cycle %d: %d acknowledged uploads checked", cycle, len(acks))
		}
	}
	stop()
	wg.Wait()

	// The faults are over: every replica syncs until nothing is pending,
	// then all hold the same items, each the last version its writer put.
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := 0; round < 2; round++ {
		for _, w := range writers {
			_, err := w.c.Sync(fctx)
			require.NoError(t, err, "final sync of writer %d", w.i)
		}
	}
	want := map[string]version{}
	for _, w := range writers {
		st, err := w.c.Status()
		require.NoError(t, err)
		require.Zero(t, st.Pending, "writer %d has pending changes after the final syncs", w.i)
		for k, v := range w.last {
			want[k] = v
		}
	}
	for _, w := range writers {
		for key, v := range want {
			coll, id, _ := cut(key)
			got, err := w.c.Get(coll, id)
			if v.deleted {
				require.True(t, errors.Is(err, clientd.ErrNotFound), "writer %d holds %s, deleted last (seed %d)", w.i, key, sd)
				continue
			}
			require.NoError(t, err, "writer %d lacks %s (seed %d)", w.i, key, sd)
			require.Equal(t, v.content, string(got), "writer %d: %s is not the last version put (seed %d)", w.i, key, sd)
		}
	}
	state, _ := serverState(t, "http://"+srv.addr, checker)
	require.Empty(t, faulttest.CheckAcks(acked(), state))
	srv.stop()
	require.NoError(t, boltdb.Check(srv.dbPath()))
}

func cut(key string) (coll, id string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}
