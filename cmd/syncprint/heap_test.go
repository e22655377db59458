package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/hugeheap"
)

func TestOnlyCommandsThatMoveDataAdviseTheHeap(t *testing.T) {
	for _, args := range [][]string{
		{"serve"}, {"serve", "--data", "d"}, {"bench-client"}, {"client", "sync"},
		{"client", "--store", "a.db", "--server", "http://x", "sync"},
	} {
		require.True(t, movesData(args), "%q", args)
	}
	for _, args := range [][]string{
		nil, {"version"}, {"help"}, {"client", "status"}, {"client", "get", "notes", "a"},
		{"token", "create"}, {"conform", "list"}, {"bench"},
	} {
		require.False(t, movesData(args), "%q", args)
		require.Equal(t, "a command with a small heap", adviseHeap(func(string) string { return "" }, args).res.Skipped)
	}
	for _, v := range []string{"off", "0", "false"} {
		h := adviseHeap(func(k string) string {
			if k == "SYNCPRINT_HUGE_HEAP" {
				return v
			}
			return ""
		}, []string{"serve"})
		require.Zero(t, h.res.Advised)
		require.Equal(t, "SYNCPRINT_HUGE_HEAP="+v, h.res.Skipped)
	}
}

func TestOnlyCommandsThatMoveDataFloorTheirHeapTarget(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	require.True(t, floorGC(env(), []string{"serve"}))
	require.True(t, floorGC(env(), []string{"client", "sync"}))
	require.True(t, floorGC(env(), []string{"bench-client"}))
	require.False(t, floorGC(env(), []string{"client", "status"}))
	require.False(t, floorGC(env(), []string{"bench"}))
	require.False(t, floorGC(env("GOGC", "100"), []string{"serve"}), "a GOGC the user set")
	for _, v := range []string{"off", "0", "false"} {
		require.False(t, floorGC(env("SYNCPRINT_GC_FLOOR", v), []string{"client", "sync"}), v)
	}
}

// TestServeSaysWhatItDidWithItsHeap: a real `syncprint serve` at debug
// level logs whether its heap was advised huge pages, and why not; with
// SYNCPRINT_HUGE_HEAP=off it keeps ordinary pages and says so.
func TestServeSaysWhatItDidWithItsHeap(t *testing.T) {
	mode := hugeheap.Mode()
	heapLine := func(env ...string) string {
		cmd := exec.Command(binPath, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--log-level", "debug")
		cmd.Env = append(os.Environ(), env...)
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "heap:") {
					lines <- sc.Text()
					return
				}
			}
			close(lines)
		}()
		select {
		case l, ok := <-lines:
			require.True(t, ok, "serve ended without a heap line")
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("no heap line in 30 s")
			return ""
		}
	}
	line := heapLine("GODEBUG=", "SYNCPRINT_HUGE_HEAP=")
	t.Logf("kernel mode %q: %s", mode, line)
	if runtime.GOOS == "linux" && mode == "madvise" {
		require.Contains(t, line, `msg="heap: huge pages advised" bytes=`)
		require.Contains(t, line, "thp=madvise")
	} else {
		require.Contains(t, line, `msg="heap: ordinary pages" why=`)
	}
	require.Contains(t, heapLine("SYNCPRINT_HUGE_HEAP=off"), `msg="heap: ordinary pages" why="SYNCPRINT_HUGE_HEAP=off"`)
}
