package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/serverd"
)

// bin is the syncprint binary built once for the run.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncprint-crash")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "syncprint")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/syncprint").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build syncprint: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cycles returns SYNCPRINT_CRASH_CYCLES, or def.
func cycles(t *testing.T, def int) int {
	if s := os.Getenv("SYNCPRINT_CRASH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "SYNCPRINT_CRASH_CYCLES")
		return n
	}
	return def
}

// seed returns SYNCPRINT_CRASH_SEED, or one from the clock; it is logged.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("SYNCPRINT_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "SYNCPRINT_CRASH_SEED")
		s = n
	}
	t.Logf("seed %d (replay the kill moments and edits with SYNCPRINT_CRASH_SEED=%d)", s, s)
	return s
}

// rules are the server's precedence rules: every rule has a collection.
var rules = []string{"--default-policy", "server-wins", "--policy", "tasks=client-wins", "--policy", "docs=latest-wins", "--policy", "wiki=manual"}

// collections are the collections the tests write, one per rule.
var collections = []string{"notes", "tasks", "docs", "wiki"}

// server is a `syncprint serve` process on a data dir that outlives it.
type server struct {
	t    *testing.T
	data string
	addr string // of the running process
	cmd  *exec.Cmd
	done chan error
	log  *strings.Builder
}

func newServer(t *testing.T) *server {
	s := &server{t: t, data: filepath.Join(t.TempDir(), "data")}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.kill()
		}
	})
	return s
}

func (s *server) dbPath() string { return filepath.Join(s.data, serverd.DBFile) }

// start starts the server on a free port and waits until it serves.
func (s *server) start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", s.data, "--log-level", "error"}, rules...)...)
	setPdeathsig(cmd)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s.log = &strings.Builder{}
	cmd.Stderr = s.log
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			line := sc.Text()
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				url, _, _ = strings.Cut(rest, " ")
			}
			if strings.HasPrefix(line, "ready") {
				ready <- url
			}
		}
	}()
	select {
	case url := <-ready:
		s.addr = strings.TrimPrefix(url, "http://")
	case err := <-done:
		t.Fatalf("syncprint serve exited: %v\n%s", err, s.log)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("syncprint serve did not get ready\n%s", s.log)
	}
	s.cmd, s.done = cmd, done
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// stop stops the server cleanly (SIGINT) and requires a clean exit.
func (s *server) stop() {
	require.NoError(s.t, s.cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-s.done:
		require.NoError(s.t, err, "%s", s.log)
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Fatal("syncprint serve did not stop on SIGINT")
	}
	s.cmd = nil
}

// token creates a device token through the running server.
func (s *server) token(user, device string) string {
	s.t.Helper()
	out, err := exec.Command(bin, "token", "create", "--data", s.data, "--user", user, "--device", device).Output()
	require.NoError(s.t, err)
	return strings.TrimSpace(string(out))
}

// serverState reads every collection's items through /v1/changes.
func serverState(t *testing.T, url, token string) (map[string]map[string]faulttest.Item, map[string]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	state := map[string]map[string]faulttest.Item{}
	heads := map[string]uint64{}
	for _, coll := range collections {
		items, head, err := faulttest.ServerItems(ctx, hc, url, token, coll)
		require.NoError(t, err)
		state[coll], heads[coll] = items, head
	}
	return state, heads
}
