package clientd_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// killCopy copies a store and its sent log, once armed, when the answer
// of the next exchange arrives and before the client commits it: the
// files a process killed at that moment leaves.
type killCopy struct {
	store, copied string
	armed         bool
	hook          *hookTransport
}

func newKillCopy(t *testing.T) *killCopy {
	t.Helper()
	dir := t.TempDir()
	k := &killCopy{store: filepath.Join(dir, "laptop.db"), copied: filepath.Join(dir, "copy", "laptop.db")}
	require.NoError(t, os.Mkdir(filepath.Dir(k.copied), 0o700))
	k.hook = &hookTransport{base: http.DefaultTransport, after: func(req *http.Request, body []byte) []byte {
		if k.armed && req.URL.Path == protocol.PathExchange {
			k.armed = false
			for _, suffix := range []string{"", clientd.SentLogSuffix + "0", clientd.SentLogSuffix + "1"} {
				data, err := os.ReadFile(k.store + suffix)
				if err == nil || suffix == "" {
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(k.copied+suffix, data, 0o600))
				}
			}
		}
		return body
	}}
	return k
}

// TestAStoreLeftAsAKillLeavesItSendsItsExchangeAgain copies the laptop's
// store and sent log at the moment the server has answered its exchange
// and before the answer is committed: the files a process killed then
// leaves. Reopened from that copy, the laptop must not plan its applied
// upload anew (client-wins would apply it again over the phone's newer
// edit): its next session sends the logged exchange again, the server
// answers from its idempotency record, and the phone's edit stands.
func TestAStoreLeftAsAKillLeavesItSendsItsExchangeAgain(t *testing.T) {
	srv := startServer(t, serverd.Config{Rules: map[string]protocol.Rule{"tasks": protocol.ClientWins}})
	kill := newKillCopy(t)
	token := srv.token("alice", "laptop")
	laptop := openStore(t, kill.store, clientd.Config{ServerURL: srv.url, Token: token, HTTPClient: &http.Client{Transport: kill.hook}})
	require.NoError(t, laptop.Put("tasks", "t1", []byte("laptop 1")))
	mustSync(t, laptop)
	require.NoError(t, laptop.Put("tasks", "t1", []byte("laptop 2")))
	kill.armed = true
	mustSync(t, laptop)
	require.False(t, kill.armed, "no exchange was answered")
	require.NoError(t, laptop.Close())
	copied := kill.copied

	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	require.Equal(t, "laptop 2", mustGet(t, phone, "tasks", "t1"))
	require.NoError(t, phone.Put("tasks", "t1", []byte("phone 3")))
	mustSync(t, phone)

	again := &hookTransport{base: http.DefaultTransport}
	killed := openStore(t, copied, clientd.Config{ServerURL: srv.url, Token: token, HTTPClient: &http.Client{Transport: again}})
	st, err := killed.Status()
	require.NoError(t, err)
	require.Equal(t, 1, st.Pending, "the copy is the store before the answer was committed")
	rep := mustSync(t, killed)
	require.Equal(t, "phone 3", mustGet(t, killed, "tasks", "t1"), "the laptop's old write was applied again over the phone's")
	require.Equal(t, 1, rep.Uploaded, "the logged upload, acknowledged")
	require.Equal(t, 1, again.count(protocol.PathExchange), "the logged exchange, sent again, and nothing more")
	st, err = killed.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)

	mustSync(t, phone)
	require.Equal(t, "phone 3", mustGet(t, phone, "tasks", "t1"))
	conflicts, err := phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, conflicts, "no version was overwritten")

	// Settled: the next session sends nothing again.
	mustSync(t, killed)
	require.Equal(t, 1, again.count(protocol.PathExchange))
}

// The same kill in a new device's first session: the store learnt its
// replica from that session's Info, and it must hold it when the exchange
// leaves (the sent log's records are kept only for the store's own
// replica), although a first session stores its Info with its first write.
func TestAFirstSessionKilledAfterItsExchangeSendsItAgain(t *testing.T) {
	srv := startServer(t, serverd.Config{Rules: map[string]protocol.Rule{"tasks": protocol.ClientWins}})
	kill := newKillCopy(t)
	kill.armed = true
	token := srv.token("alice", "laptop")
	laptop := openStore(t, kill.store, clientd.Config{ServerURL: srv.url, Token: token, HTTPClient: &http.Client{Transport: kill.hook}})
	require.NoError(t, laptop.Put("tasks", "t1", []byte("laptop 1")))
	mustSync(t, laptop)
	require.False(t, kill.armed, "no exchange was answered")
	require.NoError(t, laptop.Close())
	copied := kill.copied

	phone := srv.client(t, "alice", "phone")
	mustSync(t, phone)
	require.Equal(t, "laptop 1", mustGet(t, phone, "tasks", "t1"))
	require.NoError(t, phone.Put("tasks", "t1", []byte("phone 2")))
	mustSync(t, phone)

	again := &hookTransport{base: http.DefaultTransport}
	killed := openStore(t, copied, clientd.Config{ServerURL: srv.url, Token: token, HTTPClient: &http.Client{Transport: again}})
	rep := mustSync(t, killed)
	require.Equal(t, "phone 2", mustGet(t, killed, "tasks", "t1"), "the laptop's first write was applied again over the phone's")
	require.Equal(t, 1, rep.Uploaded, "the logged upload, acknowledged")
	require.Equal(t, 1, again.count(protocol.PathExchange), "the logged exchange, sent again, and nothing more")
	mustSync(t, phone)
	require.Equal(t, "phone 2", mustGet(t, phone, "tasks", "t1"))
	conflicts, err := phone.Conflicts()
	require.NoError(t, err)
	require.Empty(t, conflicts, "no version was overwritten")
}
