package e2etest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// server is a serverd on a fixed loopback address that can be restarted on
// the same data directory and address.
type server struct {
	t    *testing.T
	dir  string
	addr string
	cfg  serverd.Config
	srv  *serverd.Server
	done chan error
}

func startServer(t *testing.T, cfg serverd.Config) *server {
	t.Helper()
	s := &server{t: t, dir: cfg.DataDir, cfg: cfg}
	s.start("127.0.0.1:0")
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) start(addr string) {
	s.t.Helper()
	srv, err := serverd.Open(s.cfg)
	require.NoError(s.t, err)
	var ln net.Listener
	// The port of a server that just stopped can take a moment to be free.
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(s.t, err)
	s.addr = ln.Addr().String()
	s.srv = srv
	s.done = make(chan error, 1)
	go func() { s.done <- srv.Serve(ln) }()
}

func (s *server) stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(s.t, s.srv.Shutdown(ctx))
	<-s.done
	s.srv = nil
}

func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start(s.addr)
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) token(user, device string) string {
	s.t.Helper()
	tok, err := s.srv.CreateToken(user, device)
	require.NoError(s.t, err)
	return tok
}

func openClient(t *testing.T, path, url, token string) *clientd.Client {
	t.Helper()
	c, err := clientd.Open(path, clientd.Config{ServerURL: url, Token: token, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// snapshot is every live item of a replica: collection -> id -> content.
type snapshot map[string]map[string]string

func dump(t *testing.T, c *clientd.Client, colls []string) snapshot {
	t.Helper()
	out := snapshot{}
	for _, coll := range colls {
		items, err := c.List(coll)
		require.NoError(t, err)
		m := map[string]string{}
		for _, it := range items {
			v, err := c.Get(coll, it.ID)
			require.NoError(t, err)
			m[it.ID] = string(v)
		}
		out[coll] = m
	}
	return out
}

// seeds returns the seeds to run: SYNCPRINT_SEED pins one, else a fixed set.
func seeds(t *testing.T) []uint64 {
	if s := os.Getenv("SYNCPRINT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SYNCPRINT_SEED")
		return []uint64{n}
	}
	if testing.Short() {
		return []uint64{1}
	}
	return []uint64{1, 2, 3, 4}
}

// TestRandomEditsConvergeUnderEveryRule is the main end-to-end property: one
// server, three clients making seeded random concurrent edits and deletes on
// overlapping items and syncing in random order, a server restart midway and
// a client that stays offline through many edits. Afterwards every replica
// holds identical items, the conflicts seen are the ones the rule allows,
// and every written version is current, superseded by a later edit made on
// top of it, or recoverable from a conflict log or server conflict record.
func TestRandomEditsConvergeUnderEveryRule(t *testing.T) {
	for _, rule := range protocol.Rules {
		for _, seed := range seeds(t) {
			t.Run(fmt.Sprintf("%s/seed=%d", rule, seed), func(t *testing.T) {
				runRandomEdits(t, rule, seed)
			})
		}
	}
}

type write struct {
	client  int
	coll    string
	id      string
	content string
}

func runRandomEdits(t *testing.T, rule protocol.Rule, seed uint64) {
	t.Logf("replay with SYNCPRINT_SEED=%d go test ./internal/e2etest -run 'TestRandomEditsConvergeUnderEveryRule/%s'", seed, rule)
	rng := rand.New(rand.NewPCG(seed, uint64(len(rule))))
	dir := t.TempDir()
	srv := startServer(t, serverd.Config{DataDir: filepath.Join(dir, "server"), DefaultRule: rule})

	const nClients = 3
	colls := []string{"notes", "tasks"}
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "ünï/東京", "🚀"}
	clients := make([]*clientd.Client, nClients)
	for i := range clients {
		clients[i] = openClient(t, filepath.Join(dir, fmt.Sprintf("client%d.db", i)), srv.url(), srv.token("alice", fmt.Sprintf("dev%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var writes []write
	superseded := map[string]bool{} // coll/id/content that a later local edit replaced
	key := func(coll, id, content string) string { return coll + "\x00" + id + "\x00" + content }
	syncOne := func(i int) {
		_, err := clients[i].Sync(ctx)
		require.NoError(t, err, "client %d sync", i)
	}

	const steps = 300
	offline := 2 // client 2 goes offline for the middle of the run
	for step := 0; step < steps; step++ {
		if step == steps/2 {
			srv.restart()
		}
		if step%60 == 59 {
			// Everyone syncs at once: real concurrency on the server.
			var wg sync.WaitGroup
			errs := make([]error, nClients)
			for i := range clients {
				if i == offline && step > 40 && step < steps-40 {
					continue
				}
				wg.Add(1)
				go func(i int) { defer wg.Done(); _, errs[i] = clients[i].Sync(ctx) }(i)
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "client %d concurrent sync", i)
			}
			continue
		}
		i := rng.IntN(nClients)
		coll := colls[rng.IntN(len(colls))]
		id := ids[rng.IntN(len(ids))]
		c := clients[i]
		switch r := rng.IntN(100); {
		case r < 50:
			content := fmt.Sprintf("c%d-s%d-%s", i, step, strings.Repeat("x", rng.IntN(64)))
			if prev, err := c.Get(coll, id); err == nil {
				superseded[key(coll, id, string(prev))] = true
			}
			require.NoError(t, c.Put(coll, id, []byte(content)))
			writes = append(writes, write{i, coll, id, content})
		case r < 65:
			prev, err := c.Get(coll, id)
			if err != nil {
				require.ErrorIs(t, err, clientd.ErrNotFound)
				continue
			}
			superseded[key(coll, id, string(prev))] = true
			require.NoError(t, c.Delete(coll, id))
		default:
			if i == offline && step > 40 && step < steps-40 {
				continue
			}
			syncOne(i)
		}
	}

	// Heal: sync everyone until nothing moves (bounded).
	for round := 0; round < 4; round++ {
		for i := range clients {
			syncOne(i)
		}
	}
	want := dump(t, clients[0], colls)
	for i := 1; i < nClients; i++ {
		require.Equal(t, want, dump(t, clients[i], colls), "client %d differs from client 0", i)
	}
	// A new device pulls the same data from scratch.
	fresh := openClient(t, filepath.Join(dir, "fresh.db"), srv.url(), srv.token("alice", "fresh"))
	syncOneFresh, err := fresh.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, want, dump(t, fresh, colls), "fresh replica after %+v", syncOneFresh)
	// Another user sees none of it.
	other := openClient(t, filepath.Join(dir, "bob.db"), srv.url(), srv.token("bob", "phone"))
	_, err = other.Sync(ctx)
	require.NoError(t, err)
	bobColls, err := other.Collections()
	require.NoError(t, err)
	require.Empty(t, bobColls, "bob must not see alice's collections")

	// Conflicts: which kinds the rule allows, and what they hold.
	recoverable := map[string]bool{}
	kinds := map[string]int{}
	seenServer := map[string]bool{}
	for i, c := range append(clients, fresh) {
		cs, err := c.Conflicts()
		require.NoError(t, err)
		for _, cf := range cs {
			if cf.Kind == "server" {
				if seenServer[cf.ConflictID] {
					continue
				}
				seenServer[cf.ConflictID] = true
			}
			kinds[cf.Kind+"/"+cf.Reason]++
			if !cf.Deleted {
				recoverable[key(cf.Collection, cf.ID, string(cf.Content))] = true
			}
			_ = i
		}
	}
	t.Logf("rule %s: %d writes, conflicts by kind/reason: %v", rule, len(writes), kinds)
	for k := range kinds {
		kind := strings.SplitN(k, "/", 2)[0]
		switch rule {
		case protocol.ServerWins:
			require.Equal(t, "local", kind, "server-wins keeps losers in the client's conflict log only: %v", kinds)
		case protocol.ClientWins:
			require.Equal(t, "server", kind, "client-wins keeps overwritten server versions on the server only: %v", kinds)
		case protocol.Manual:
			require.Equal(t, "server", kind, "manual keeps client versions on the server only: %v", kinds)
		}
	}

	// No loss: every written content is current, superseded by an edit made
	// on top of it, or recoverable from a conflict record.
	lost := 0
	for _, w := range writes {
		k := key(w.coll, w.id, w.content)
		if want[w.coll][w.id] == w.content || superseded[k] || recoverable[k] {
			continue
		}
		lost++
		t.Errorf("write by client %d to %s/%s (%q) is neither current, superseded nor recoverable", w.client, w.coll, w.id, w.content)
	}
	require.Zero(t, lost, "seed %d lost writes", seed)
	// The run must have exercised conflicts at all, or it proves little.
	total := 0
	for _, n := range kinds {
		total += n
	}
	require.Positive(t, total, "seed %d produced no conflicts; the test is too weak", seed)
	sortedKinds := make([]string, 0, len(kinds))
	for k := range kinds {
		sortedKinds = append(sortedKinds, k)
	}
	sort.Strings(sortedKinds)
	t.Logf("kinds: %v", sortedKinds)
}
