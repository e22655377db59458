package e2etest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// codeLog records the wire codes clientd logs with its "cursor not
// accepted" message.
type codeLog struct {
	mu    sync.Mutex // guards codes
	codes []string
}

func (l *codeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *codeLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *codeLog) WithGroup(string) slog.Handler            { return l }
func (l *codeLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "code" {
			l.mu.Lock()
			l.codes = append(l.codes, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *codeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.codes
	l.codes = nil
	return out
}

// Back up a running server, write more, restore the backup and start the
// server again: it takes a new epoch [SP-3-14], so the devices that saw the
// lost versions get cursor_expired, pull again, and upload what only they
// still hold [SP-6.6-4]; every replica converges with nothing lost.
func TestARestoredServerConvergesWithItsClients(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverd.Config{DataDir: filepath.Join(dir, "data"), DefaultRule: protocol.LatestWins})
	logs := map[string]*codeLog{}
	clients := map[string]*clientd.Client{}
	for _, name := range []string{"laptop", "phone", "tablet"} {
		logs[name] = &codeLog{}
		c, err := clientd.Open(filepath.Join(dir, name+".db"), clientd.Config{
			ServerURL: s.url(), Token: s.token("alice", name), Logger: slog.New(logs[name]),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		clients[name] = c
	}
	syncNow := func(name string) {
		t.Helper()
		_, err := clients[name].Sync(context.Background())
		require.NoError(t, err, name)
	}
	put := func(name, id, v string) {
		t.Helper()
		require.NoError(t, clients[name].Put("notes", id, []byte(v)))
	}

	put("laptop", "a", "A")
	syncNow("laptop")
	syncNow("tablet")
	backup := filepath.Join(dir, "backup.db")
	f, err := os.Create(backup)
	require.NoError(t, err)
	_, err = s.srv.Backup(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// Lost by the restore: b and c, and the laptop's edit of a.
	put("laptop", "b", "B")
	put("laptop", "c", "C")
	put("laptop", "a", "A2")
	syncNow("laptop")
	syncNow("phone")

	s.stop()
	_, err = serverd.Restore(s.cfg.DataDir, backup)
	require.NoError(t, err)
	s.start(s.addr)
	for _, l := range logs {
		l.take()
	}

	put("tablet", "x", "X")
	syncNow("tablet")
	require.Equal(t, []string{string(protocol.CodeCursorExpired)}, logs["tablet"].take(), "the tablet's cursor is of the old epoch")
	for _, name := range []string{"phone", "laptop", "phone", "tablet"} {
		syncNow(name)
	}
	require.Equal(t, []string{string(protocol.CodeCursorExpired)}, logs["laptop"].take())
	require.Equal(t, []string{string(protocol.CodeCursorExpired)}, logs["phone"].take())

	want := map[string]string{"a": "A2", "b": "B", "c": "C", "x": "X"}
	for name, c := range clients {
		got := dump(t, c, []string{"notes"})["notes"]
		require.Equal(t, want, got, name)
		st, err := c.Status()
		require.NoError(t, err)
		require.Zero(t, st.Pending, name)
	}
}
