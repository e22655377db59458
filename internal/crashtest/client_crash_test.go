package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/faultproxy"
	"github.com/syncprint/syncprint/protocol"
)

// clientIDs is the pool of items the crashing client edits.
const clientIDs = 200

// TestClientCrash kills `syncprint client sync` processes with SIGKILL at
// random moments. Between syncs the test puts into the same store (in this
// process, while no sync process holds it), editing only items that no
// killed sync may have left half-sent, so that every put must end on the
// server exactly once.
func TestClientCrash(t *testing.T) {
	t.Parallel()
	n := cycles(t, 8)
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, 2))
	srv := newServer(t)
	srv.start()
	defer srv.stop()
	proxy, err := faultproxy.New(srv.addr)
	require.NoError(t, err)
	defer proxy.Close()
	// Latency stretches each sync so that kills land inside its exchanges.
	proxy.Set(faultproxy.Fault{Kind: faultproxy.Latency, Delay: 2 * time.Millisecond})
	token := srv.token("kc", "victim")
	checker := srv.token("kc", "checker")
	store := filepath.Join(t.TempDir(), "victim.db")

	last := map[string]version{} // every item's last put
	dirty := map[string]bool{}   // edited since the last sync that completed
	edits := 0                   // puts and deletes, each a new version
	edit := func(c *clientd.Client) {
		for range 1 + rng.IntN(30) {
			k := rng.IntN(clientIDs)
			coll, id := itemOf(0, k)
			key := coll + "/" + id
			if dirty[key] {
				continue // a killed sync may have sent it: editing it again could legitimately supersede it
			}
			dirty[key] = true
			edits++
			if v, ok := last[key]; ok && !v.deleted && rng.IntN(10) < 3 {
				require.NoError(t, c.Delete(coll, id))
				last[key] = version{deleted: true}
				continue
			}
			content := fmt.Sprintf("%s edit %d", id, edits)
			require.NoError(t, c.Put(coll, id, []byte(content)))
			last[key] = version{content: content}
		}
	}
	// check opens the store after a kill: every put is still there locally
	// and either pending or on the server.
	check := func(cycle int) {
		require.NoError(t, clientd.CheckStore(store), "cycle %d (seed %d)", cycle, sd)
		c, err := clientd.Open(store, clientd.Config{})
		require.NoError(t, err)
		defer c.Close()
		state, _ := serverState(t, "http://"+srv.addr, checker)
		st, err := c.Status()
		require.NoError(t, err)
		pendingLive, deletedOff := 0, 0
		for key, v := range last {
			coll, id, _ := cut(key)
			onServer := state[coll][id].FP == fingerprint.Of(id, v.deleted, []byte(v.content)) && state[coll][id].Version > 0
			if v.deleted {
				_, err := c.Get(coll, id)
				require.True(t, errors.Is(err, clientd.ErrNotFound), "cycle %d: %s was deleted and is back", cycle, key)
				if !onServer {
					deletedOff++
				}
				continue
			}
			got, err := c.Get(coll, id)
			require.NoError(t, err, "cycle %d: put %s is lost locally", cycle, key)
			require.Equal(t, v.content, string(got), "cycle %d: %s", cycle, key)
			info, err := c.Stat(coll, id)
			require.NoError(t, err)
			if info.Pending {
				pendingLive++
			}
			require.True(t, onServer || info.Pending, "cycle %d (seed %d): put %s is neither on the server nor pending", cycle, sd, key)
		}
		require.GreaterOrEqual(t, st.Pending-pendingLive, deletedOff, "cycle %d (seed %d): deletes neither on the server nor pending", cycle, sd)
	}
	// sync runs `syncprint client sync`; with kill set it kills the process
	// once the proxy has seen afterMsgs more messages (requests and
	// responses) and a further jitter has passed: kill moments spread over
	// every phase of the session however slow the machine is.
	sync := func(kill bool, afterMsgs int, jitter time.Duration) (completed bool) {
		cmd := exec.Command(bin, "client", "--store", store, "--server", proxy.URL(), "--token", token, "sync")
		setPdeathsig(cmd)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		base := proxy.Messages()
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		exited := func(err error) bool {
			require.NoError(t, err, "sync failed:\n%s", out.String())
			return true
		}
		if !kill {
			return exited(<-done)
		}
		tick := time.NewTicker(time.Millisecond) // watches the proxy's count
		defer tick.Stop()
		for proxy.Messages() < base+afterMsgs {
			select {
			case err := <-done:
				return exited(err)
			case <-tick.C:
			}
		}
		timer := time.NewTimer(jitter) // the kill moment
		defer timer.Stop()
		select {
		case err := <-done:
			return exited(err)
		case <-timer.C:
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			return false
		}
		return exited(err) // it ended just before the kill
	}

	killed, midExchange := 0, 0
	for cycle := 1; cycle <= n; cycle++ {
		c, err := clientd.Open(store, clientd.Config{})
		require.NoError(t, err)
		edit(c)
		require.NoError(t, c.Close())
		before := proxy.Seen(protocol.PathExchange)
		// Every fifth sync runs to its end, so that edits go on; the others
		// are killed after 0 to 24 messages (a session of four collections
		// makes about 20 before its exchanges) and 0 to 5 ms.
		if sync(cycle%5 != 0, rng.IntN(25), time.Duration(rng.IntN(5000))*time.Microsecond) {
			clear(dirty)
		} else {
			killed++
			if proxy.Seen(protocol.PathExchange) > before {
				midExchange++
			}
		}
		check(cycle)
		if cycle%100 == 0 || cycle == n {
			t.Logf("cycle %d: %d syncs killed (%d after an exchange began), %d completed, %d edits", cycle, killed, midExchange, cycle-killed, edits)
		}
	}

	proxy.Heal()
	start := time.Now()
	require.True(t, sync(false, 0, 0))
	t.Logf("final sync took %v", time.Since(start))
	check(n + 1)
	c, err := clientd.Open(store, clientd.Config{})
	require.NoError(t, err)
	st, err := c.Status()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Zero(t, st.Pending, "pending changes after a complete sync")
	state, heads := serverState(t, "http://"+srv.addr, checker)
	total := uint64(0)
	for _, h := range heads {
		total += h
	}
	for key, v := range last {
		coll, id, _ := cut(key)
		require.Equal(t, fingerprint.Of(id, v.deleted, []byte(v.content)), state[coll][id].FP, "%s on the server is not the last put (seed %d)", key, sd)
	}
	require.Equal(t, uint64(edits), total, "the server applied %d uploads for %d edits: an edit was lost or applied twice (seed %d)", total, edits, sd)

	// Another device of the user converges on the same items.
	obs, err := clientd.Open(filepath.Join(t.TempDir(), "observer.db"), clientd.Config{ServerURL: "http://" + srv.addr, Token: srv.token("kc", "observer")})
	require.NoError(t, err)
	defer obs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = obs.Sync(ctx)
	require.NoError(t, err)
	for key, v := range last {
		coll, id, _ := cut(key)
		got, err := obs.Get(coll, id)
		if v.deleted {
			require.ErrorIs(t, err, clientd.ErrNotFound, key)
			continue
		}
		require.NoError(t, err, key)
		require.Equal(t, v.content, string(got), key)
	}
}
