package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/bench"
)

// benchTimeout bounds one `syncprint bench` run of these tests.
const benchTimeout = 3 * time.Minute

// runBench runs the real binary's `bench` with args and returns the
// report it wrote with --json, and its standard output.
func runBench(t *testing.T, args ...string) (*bench.Report, string) {
	t.Helper()
	rep, stdout, _ := runBenchLog(t, args...)
	return rep, stdout
}

// runBenchLog is runBench that returns the harness's log (standard
// error) too.
func runBenchLog(t *testing.T, args ...string) (*bench.Report, string, string) {
	t.Helper()
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	args = append([]string{"bench", "--workdir", filepath.Join(dir, "work"), "--json", jsonPath,
		"--svg", filepath.Join(dir, "bench.svg")}, args...)
	cmd := exec.CommandContext(ctx, binPath, args...)
	// binPath is built with -race, whose runtime sleeps a second at every
	// exit; the harness starts dozens of processes. A race still fails
	// the process (exit status 66) and so the run.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "syncprint %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	rep := new(bench.Report)
	require.NoError(t, json.Unmarshal(b, rep))
	svg, err := os.ReadFile(filepath.Join(dir, "bench.svg"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(svg), "<svg") && strings.HasSuffix(strings.TrimSpace(string(svg)), "</svg>"), "an SVG document")
	_, err = os.Stat(filepath.Join(dir, "work"))
	require.True(t, os.IsNotExist(err), "the work dir is removed without --keep")
	return rep, stdout.String(), stderr.String()
}

// find returns the result of a workload (with variant) of a system.
func find(t *testing.T, rep *bench.Report, system, key string) *bench.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.System == system && r.Workload+r.Variant == key {
			return r
		}
	}
	t.Fatalf("no %s result for %q", system, key)
	return nil
}

// TestBenchWarmsUpEveryTimedRun checks that each timed run of a workload
// follows an untimed run of the same step (--warmup-runs, 1 by default),
// which is not counted among the runs, and that --warmup-runs 0 runs none.
func TestBenchWarmsUpEveryTimedRun(t *testing.T) {
	for _, tc := range []struct {
		flag  []string
		warms int
	}{{nil, 2}, {[]string{"--warmup-runs", "0"}, 0}} {
		args := append([]string{"--systems", "syncprint", "--workloads", "pull", "--runs", "2", "--items", "50", "--no-floor"}, tc.flag...)
		rep, stdout, log := runBenchLog(t, args...)
		require.Equal(t, tc.warms, strings.Count(log, "syncprint pull warm-up before run"), "warm-ups in the log:\n%s", log)
		require.Equal(t, 2, strings.Count(log, "syncprint pull run "), "timed runs in the log")
		if tc.warms > 0 {
			require.Less(t, strings.Index(log, "warm-up before run 1/2"), strings.Index(log, "pull run 1/2"), "the warm-up comes first")
			require.Contains(t, stdout, "each after 1 untimed run(s) of the same step")
		}
		require.Equal(t, tc.warms/2, rep.Settings.WarmupRuns)
		require.Len(t, find(t, rep, bench.Syncprint, bench.WorkPull).PerRun, 2, "warm-ups are not runs")
	}
}

// TestBenchMeasuresSyncprintOnLoopback runs every workload at tiny sizes
// with real `syncprint serve` and `syncprint bench-client` processes, and
// checks that the figures are sane: every outcome verified, the wire
// bytes at least the content that had to cross and the same in every run,
// peaks of memory plausible.
func TestBenchMeasuresSyncprintOnLoopback(t *testing.T) {
	const items, size = 300, 200
	// Random content (6 bits of entropy a byte): compression cannot take
	// the bytes on the wire below three quarters of the content's.
	rep, out := runBench(t, "--systems", "syncprint", "--runs", "2", "--items", "300", "--size", "200", "--content", "random",
		"--bidi-edits", "40", "--bidi-common", "10", "--incremental-sizes", "500", "--incremental-changes", "5",
		"--many-clients", "4", "--many-duration", "1s", "--many-interval", "50ms", "--many-warmup", "300ms", "--many-edits", "3", "--many-items", "6", "--quiet")
	require.Contains(t, out, "targets")
	require.Contains(t, out, "the machine's speed when each timed step started")
	require.Len(t, rep.Results, 7, "pull, push, bidirectional, incremental, incremental-warm, many, many-raw")
	require.Positive(t, rep.Machine.Cores, "machine described")
	require.NotEmpty(t, rep.Machine.Go)
	require.Len(t, rep.Floors, 2, "pull and push")
	for _, f := range rep.Floors {
		require.Greater(t, f.Millis.Median, 0.0, f.Workload)
		require.Equal(t, items, f.Items, f.Workload)
		require.NotNil(t, f.NewProcess, "%s: the floor measured in new processes too", f.Workload)
		require.Greater(t, f.NewProcess.Median, 0.0, f.Workload)
	}
	require.Contains(t, out, "in a new process, as the steps are timed:")
	perItem := int64(size + len("item-0000000") + 32)
	atLeast := func(minBytes int64) int64 { return minBytes / perItem * size * 7 / 10 }
	for _, r := range rep.Results {
		name := r.Workload + r.Variant
		require.True(t, r.Verified, "%s: %s", name, r.VerifyError)
		require.False(t, r.PeakIncludesSetup, "%s: the kernel resets VmHWM here", name)
		require.Greater(t, r.Millis.Median, 0.0, name)
		require.Greater(t, r.CPUMillis.Median, 0.0, "%s: CPU time measured", name)
		require.True(t, r.Millis.Min <= r.Millis.Median && r.Millis.Median <= r.Millis.Max, name)
		require.NotNil(t, r.Probe, "%s: the machine's speed probed before the steps", name)
		require.Greater(t, r.Probe.Min, 0.0, name)
		for _, run := range r.PerRun {
			require.Greater(t, run.ProbeMs, 0.0, "%s: probed before every run", name)
		}
		require.Greater(t, r.BytesUp, int64(0), name)
		require.Greater(t, r.BytesDown, int64(0), name)
		require.GreaterOrEqual(t, r.BytesUp, atLeast(r.MinBytesUp), "%s: the content went up", name)
		require.GreaterOrEqual(t, r.BytesDown, atLeast(r.MinBytesDown), "%s: the content came down", name)
		for _, p := range [2]int64{r.ServerPeak, r.ClientPeak} {
			require.True(t, p > 4<<20 && p < 2<<30, "%s: peak RSS %d", name, p)
		}
		if r.Workload != bench.WorkMany && r.Workload != bench.WorkManyRaw && !strings.HasPrefix(r.Variant, "-warm") {
			// A new client process touches memory for the first time
			// during its step; the counts are read from /proc.
			require.Greater(t, r.ClientFaults, int64(0), "%s: client page faults counted", name)
		}
		if r.Workload != bench.WorkMany && r.Workload != bench.WorkManyRaw {
			require.Len(t, r.PerRun, 2, name)
			// The same work moves the same bytes (give or take a varint).
			a, b := r.PerRun[0], r.PerRun[1]
			require.InDelta(t, a.Up, b.Up, float64(a.Up)/100+16, "%s: bytes up per run", name)
			require.InDelta(t, a.Down, b.Down, float64(a.Down)/100+16, "%s: bytes down per run", name)
		}
	}
	pull := find(t, rep, bench.Syncprint, bench.WorkPull)
	require.Equal(t, items, pull.Downloaded)
	require.Equal(t, int64(items)*perItem, pull.MinBytesDown)
	require.Equal(t, items, find(t, rep, bench.Syncprint, bench.WorkPush).Uploaded)
	bidi := find(t, rep, bench.Syncprint, bench.WorkBidi)
	require.Equal(t, 30, bidi.Uploaded, "40 edits, 10 of them lost to the other side's under server-wins")
	require.Equal(t, 40, bidi.Downloaded)
	require.Equal(t, 10, bidi.Conflicts)
	for _, key := range []string{"incremental n=500", "incremental-warm n=500"} {
		inc := find(t, rep, bench.Syncprint, key)
		require.Equal(t, 5, inc.Uploaded, key)
		require.Equal(t, 5, inc.Downloaded, key)
		require.Less(t, inc.BytesUp+inc.BytesDown, pull.BytesDown, "%s moves the changes, not the collection", key)
	}
	many := find(t, rep, bench.Syncprint, bench.WorkMany)
	require.NotNil(t, many.Many)
	require.Equal(t, 4, many.Many.Clients)
	require.Zero(t, many.Many.Errors, many.Many.FirstError)
	require.Positive(t, many.Many.Syncs)
	require.Equal(t, many.Many.Edited, many.Many.Applied, "every edit applied")
	require.Positive(t, many.Many.Exchanges)
	require.True(t, many.Many.SyncP50 > 0 && many.Many.SyncP50 <= many.Many.SyncP99)
	require.Greater(t, many.BytesUp, atLeast(many.MinBytesUp))
	raw := find(t, rep, bench.Syncprint, bench.WorkManyRaw)
	require.NotNil(t, raw.Many)
	require.Zero(t, raw.Many.Errors, raw.Many.FirstError)
	require.Positive(t, raw.Many.Applied)
	require.Equal(t, raw.Many.Edited, raw.Many.Applied, "every edit applied")
	require.Equal(t, raw.Many.Syncs, raw.Many.Exchanges, "one exchange per cycle")
	// 4 clients, 3 edits every 50 ms, for 1 s: the schedule offers 240
	// edits; the 300 ms of warm-up before them are not counted.
	for _, m := range []*bench.ManyResult{many.Many, raw.Many} {
		require.LessOrEqual(t, m.Edited, 4*3*20, "the warm-up's edits are not counted")
	}
	require.Equal(t, 4*3*20, raw.Many.Edited, "the server keeps up with 240 edits a second: every cycle of the schedule ran")
	require.Empty(t, rep.Comparisons, "no peer ran")
}

// peerDir is the peer harness of this repository.
func peerDir(t *testing.T) string {
	d, err := filepath.Abs(filepath.Join("..", "..", peerDirRel))
	require.NoError(t, err)
	return d
}

// requirePeer skips unless node and the peer's node_modules are there;
// with SYNCPRINT_BENCH_PEER=1 their absence fails instead.
func requirePeer(t *testing.T, modules bool) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(peerDir(t), "node_modules", "pouchdb-node")); modules && err != nil {
		missing = "the peer is not installed (npm ci --prefix " + peerDirRel + ")"
	}
	if missing == "" {
		return
	}
	if os.Getenv("SYNCPRINT_BENCH_PEER") == "1" {
		t.Fatalf("SYNCPRINT_BENCH_PEER=1 but %s", missing)
	}
	t.Skipf("%s; set SYNCPRINT_BENCH_PEER=1 to make this a failure", missing)
}

// TestPeerContentMatchesSyncprints checks that the peer's runner stores
// byte for byte the content Syncprint stores.
func TestPeerContentMatchesSyncprints(t *testing.T) {
	requirePeer(t, false)
	script := `const {content, itemID} = require(process.argv[1] + '/content.js');
for (const kind of ['text', 'random']) for (const i of [0, 42, 999999]) for (const tag of ['v1', 'a', 'm17'])
  console.log(content({kind, size: 200}, itemID(i), tag));`
	out, err := exec.Command("node", "-e", script, peerDir(t)).Output()
	require.NoError(t, err)
	var want []string
	for _, kind := range []string{bench.ContentText, bench.ContentRandom} {
		for _, i := range []int{0, 42, 999999} {
			for _, tag := range []string{"v1", "a", "m17"} {
				want = append(want, string(bench.Content(bench.ContentSpec{Kind: kind, Size: 200}, idOf(i), tag)))
			}
		}
	}
	require.Equal(t, want, strings.Split(strings.TrimSpace(string(out)), "\n"))
}

func idOf(i int) string { return fmt.Sprintf("item-%07d", i) }

// TestBenchMeasuresThePeer runs pull and bidirectional against the real
// peer (PouchDB under node) and Syncprint, at tiny sizes, and checks the
// comparison: both verified (the peer's conflicts kept both revisions and
// picked the winner by CouchDB's rule), bytes counted, ratios computed.
func TestBenchMeasuresThePeer(t *testing.T) {
	requirePeer(t, true)
	rep, out := runBench(t, "--workloads", "pull,bidirectional,many", "--runs", "1", "--peer-runs", "1",
		"--items", "200", "--bidi-edits", "20", "--bidi-common", "5", "--no-floor", "--quiet", "--peer-dir", peerDir(t),
		"--many-clients", "3", "--many-duration", "1s", "--many-interval", "100ms", "--many-warmup", "300ms", "--many-edits", "2", "--many-items", "4")
	require.Contains(t, out, "Syncprint / peer")
	require.Len(t, rep.Results, 6)
	for _, r := range rep.Results {
		require.True(t, r.Verified, "%s %s: %s", r.System, r.Workload, r.VerifyError)
		require.Positive(t, r.BytesUp+r.BytesDown)
	}
	require.Equal(t, 200, find(t, rep, bench.PouchDB, bench.WorkPull).Downloaded)
	many := find(t, rep, bench.PouchDB, bench.WorkMany)
	require.Zero(t, many.Many.Errors, many.Many.FirstError)
	require.Positive(t, many.Many.Applied)
	// 3 clients, 2 edits every 100 ms, for 1 s: at most the 60 edits of the
	// schedule; the 300 ms of warm-up before them are not counted.
	require.LessOrEqual(t, many.Many.Edited, 60, "the warm-up's edits are not counted")
	require.Len(t, rep.Comparisons, 3)
	for _, c := range rep.Comparisons {
		if c.Workload == bench.WorkMany {
			require.Positive(t, c.ThroughputRatio, "many runs for a fixed time: compared by rate")
		} else {
			require.Positive(t, c.Speedup, c.Workload)
		}
		require.Positive(t, c.BytesRatio, c.Workload)
	}
	require.NotEmpty(t, rep.Machine.Node)
}
