package faulttest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/faultproxy"
	"github.com/syncprint/syncprint/internal/faulttest"
)

// netEnv is a server behind a fault proxy and two replicas of one user
// talking to it through the proxy.
type netEnv struct {
	t       *testing.T
	s       *server
	p       *faultproxy.Proxy
	a, b    *replica
	checker string
}

func newNetEnv(t *testing.T, cfg clientd.Config) *netEnv {
	t.Helper()
	s := startServer(t, nil)
	p, err := faultproxy.New(s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	e := &netEnv{t: t, s: s, p: p, checker: s.token("u", "checker")}
	e.a = openReplica(t, 0, p.URL(), s.token("u", "a"), &http.Transport{}, cfg)
	e.b = openReplica(t, 1, p.URL(), s.token("u", "b"), &http.Transport{}, cfg)
	return e
}

// check requires that every acknowledged upload is on the server, that the
// replicas converge on the last edit of every item, and that every edit
// became exactly one server version.
func (e *netEnv) check() {
	e.t.Helper()
	state, _ := e.s.state(e.checker)
	require.Empty(e.t, faulttest.CheckAcks(append(e.a.rec.Acks(), e.b.rec.Acks()...), state))
	converge(e.t, e.s, e.checker, e.a, e.b)
	_, applied := e.s.state(e.checker)
	require.Equal(e.t, uint64(e.a.n+e.b.n), applied, "%d edits, %d versions applied: an edit was lost or applied twice", e.a.n+e.b.n, applied)
}

func syncCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A session whose every exchange response is lost ends with an error, but
// the server applied the upload. When the item is edited again before the
// next session, that edit derives from the one whose acknowledgement was
// lost: under every rule it must go up as a fast-forward, not conflict with
// the device's own earlier version (which server-wins would keep, putting
// the newest edit in the conflict log; client-wins and latest-wins would
// keep as an "overwritten" record; manual as a conflict record).
func TestAnEditAfterALostAcknowledgementIsNotAConflict(t *testing.T) {
	for _, coll := range collections {
		t.Run(rules[coll], func(t *testing.T) {
			e := newNetEnv(t, clientd.Config{})
			ctx := syncCtx(t)
			id := "x"
			put := func(v string) {
				require.NoError(t, e.a.c.Put(coll, id, []byte(v)))
				e.a.last[coll+"/"+id] = version{content: v}
				e.a.n++
			}
			put("v1")
			_, err := e.a.c.Sync(ctx)
			require.NoError(t, err)
			put("v2") // uploaded and applied; every response is lost
			e.p.Set(faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/v1/exchange", InBody: true})
			_, err = e.a.c.Sync(ctx)
			require.Error(t, err)
			require.True(t, clientd.Retryable(err), "%v", err)
			require.NotZero(t, e.p.Struck())
			e.p.Heal()
			put("v3") // made on top of v2
			_, err = e.a.c.Sync(ctx)
			require.NoError(t, err)
			got, err := e.a.c.Get(coll, id)
			require.NoError(t, err)
			require.Equal(t, "v3", string(got), "the newest edit lost to the device's own older one")
			conflicts, err := e.a.c.Conflicts()
			require.NoError(t, err)
			require.Empty(t, conflicts, "the device conflicted with itself")
			e.check()
		})
	}
}
