package crashtest

import (
	"bytes"
	"context"
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

// TestAnExchangeSentBeforeAKillIsNotAppliedAgain kills a `syncprint client
// sync` process after the server applied its upload and before the answer
// arrived. Another device then edits the item on top of that version. The
// killed device's next sync must learn that its upload was applied: under
// client-wins, planning it anew would apply the old write again over the
// newer edit (kept only as an overwritten record). It does so in the
// device's second session, and in its first, whose Info the store did
// not hold before it (the sent log's record names the store's replica).
func TestAnExchangeSentBeforeAKillIsNotAppliedAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		first bool
	}{{"in the device's second session", false}, {"in the device's first session", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			killAfterTheExchange(t, tc.first)
		})
	}
}

func killAfterTheExchange(t *testing.T, first bool) {
	srv := newServer(t)
	srv.start()
	defer srv.stop()
	proxy, err := faultproxy.New(srv.addr)
	require.NoError(t, err)
	defer proxy.Close()
	token := srv.token("ks", "laptop")
	checker := srv.token("ks", "checker")
	store := filepath.Join(t.TempDir(), "laptop.db")
	const coll, id = "tasks", "task-1" // client-wins
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	put := func(content string) {
		c, err := clientd.Open(store, clientd.Config{})
		require.NoError(t, err)
		require.NoError(t, c.Put(coll, id, []byte(content)))
		require.NoError(t, c.Close())
	}
	sync := func() *exec.Cmd {
		cmd := exec.Command(bin, "client", "--store", store, "--server", proxy.URL(), "--token", token, "sync")
		setPdeathsig(cmd)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd
	}
	onServer := func() (fingerprint.Fingerprint, uint64) {
		state, _ := serverState(t, "http://"+srv.addr, checker)
		it := state[coll][id]
		return it.FP, it.Version
	}

	sent := "laptop 1"
	if !first {
		put("laptop 1")
		require.NoError(t, sync().Wait())
		_, v1 := onServer()
		require.NotZero(t, v1)
		sent = "laptop 2"
	}

	// The laptop's edit reaches the server; its answer never comes back,
	// and the process is killed.
	put(sent)
	proxy.Set(faultproxy.Fault{Kind: faultproxy.Hang, Dir: faultproxy.Down, Path: protocol.PathExchange})
	cmd := sync()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fp, _ := onServer()
		if fp == fingerprint.Of(id, false, []byte(sent)) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the upload never reached the server")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, cmd.Wait())
	proxy.Heal()

	// The phone builds on the laptop's edit.
	phone, err := clientd.Open(filepath.Join(t.TempDir(), "phone.db"), clientd.Config{ServerURL: "http://" + srv.addr, Token: srv.token("ks", "phone")})
	require.NoError(t, err)
	defer phone.Close()
	_, err = phone.Sync(ctx)
	require.NoError(t, err)
	got, err := phone.Get(coll, id)
	require.NoError(t, err)
	require.Equal(t, sent, string(got))
	require.NoError(t, phone.Put(coll, id, []byte("phone 3")))
	_, err = phone.Sync(ctx)
	require.NoError(t, err)
	_, v3 := onServer()

	// The laptop syncs again: its write was applied already, so the
	// phone's newer edit stands, on both devices, with no version added.
	require.NoError(t, sync().Wait())
	fp, v := onServer()
	require.Equal(t, fingerprint.Of(id, false, []byte("phone 3")), fp, "the laptop's old write was applied again over the phone's newer edit")
	require.Equal(t, v3, v, "the server made a version after the phone's")
	laptop, err := clientd.Open(store, clientd.Config{})
	require.NoError(t, err)
	defer laptop.Close()
	got, err = laptop.Get(coll, id)
	require.NoError(t, err)
	require.Equal(t, "phone 3", string(got))
	st, err := laptop.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)
}
