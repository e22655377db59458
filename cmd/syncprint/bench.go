package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/syncprint/syncprint/internal/bench"
)

const benchUsage = `syncprint bench [--systems syncprint,pouchdb] [--workloads pull,push,bidirectional,incremental,many]
                [--runs N] [--peer-runs N] [--items N] [--size BYTES] [--incremental-sizes N,N,...] [...]
                [--json FILE] [--svg FILE] [--profile DIR] [--install]`

// peerDirRel is where the peer harness lives in the repository.
const peerDirRel = "bench/peers/pouchdb"

// cmdBench runs the benchmark of Syncprint against the peer (PouchDB): real
// server processes on loopback behind byte-counting proxies, real stores
// on disk, one client process per step (see internal/bench).
func cmdBench(e env, args []string) error {
	fs := newFlags("bench", benchUsage, e.stderr)
	systems := fs.String("systems", "syncprint,pouchdb", "systems to run: syncprint, pouchdb (the peer)")
	workloads := fs.String("workloads", strings.Join(bench.AllWorkloads, ","), "workloads to run")
	runs := fs.Int("runs", bench.DefaultRuns, "timed runs of each Syncprint workload (the median is reported)")
	peerRuns := fs.Int("peer-runs", bench.DefaultPeerRuns, "timed runs of each peer workload")
	warmupRuns := fs.Int("warmup-runs", bench.DefaultWarmupRuns, "untimed runs of the same step, by the same system, before each timed run of pull, push, bidirectional and incremental (0: none)")
	items := fs.Int("items", bench.DefaultItems, "items of pull, push and bidirectional")
	size := fs.Int("size", bench.DefaultSize, "content bytes of an item")
	content := fs.String("content", bench.DefaultContent, "content kind: text (record-like, compressible) or random")
	bidiEdits := fs.Int("bidi-edits", bench.DefaultBidiEdits, "bidirectional: items each side edits")
	bidiCommon := fs.Int("bidi-common", bench.DefaultBidiCommon, "bidirectional: items both sides edit")
	incSizes := fs.String("incremental-sizes", joinInts(bench.DefaultIncSizes), "incremental: collection sizes")
	incChanges := fs.Int("incremental-changes", bench.DefaultIncChanges, "incremental: items changed on each side")
	peerIncMax := fs.Int("peer-incremental-max", bench.DefaultPeerIncMax, "incremental: largest collection the peer builds (-1: no limit)")
	manyClients := fs.Int("many-clients", bench.DefaultManyClients, "many: concurrent clients")
	manyDuration := fs.Duration("many-duration", bench.DefaultManyDuration, "many: how long the clients run")
	manyInterval := fs.Duration("many-interval", bench.DefaultManyInterval, "many: period of each client's edit-and-sync cycle (-1ns: back to back)")
	manyWarmup := fs.Duration("many-warmup", bench.DefaultManyWarmup, "many: how long the clients run the same load, not measured, before the measured --many-duration (-1ns: none)")
	manyEdits := fs.Int("many-edits", bench.DefaultManyEdits, "many: items a client edits before each sync")
	manyItems := fs.Int("many-items", bench.DefaultManyItems, "many: items each client holds")
	manyClientDir := fs.String("many-client-dir", bench.DefaultManyClientDir(), "many: directory of the client stores (a tmpfs by default: 200 devices do not share the server's disk); - for the work dir")
	peerDir := fs.String("peer-dir", "", "the peer harness (default: "+peerDirRel+" of this repository)")
	node := fs.String("node", bench.DefaultNode, "node binary for the peer")
	peerBatch := fs.Int("peer-batch-size", bench.DefaultPeerBatchSize, "PouchDB replication batch_size (PouchDB's default: 100)")
	linkDelay := fs.Duration("link-delay", 0, "emulate a network path in the timed steps: its one-way latency (e.g. 25ms; one path per device; both systems alike; the targets are not judged)")
	linkMbit := fs.Float64("link-mbit", 0, "emulate a network path in the timed steps: its bandwidth each way, in Mbit/s (0: no limit)")
	install := fs.Bool("install", false, "run `npm ci` in the peer harness if its node_modules is missing")
	workDir := fs.String("workdir", "", "directory for data and stores (default: a temporary one, removed afterwards)")
	keep := fs.Bool("keep", false, "keep --workdir's contents, with every run's copy of the data and the servers' logs")
	jsonOut := fs.String("json", "", "write every figure and the machine to FILE")
	svgOut := fs.String("svg", "", "write a chart of the ratios and of time against collection size to FILE")
	profile := fs.String("profile", "", "write CPU profiles of the Syncprint server and client (last run of each workload) to DIR")
	noFloor := fs.Bool("no-floor", false, "skip measuring the floor of pull and push")
	quiet := fs.Bool("quiet", false, "no progress lines")
	from := fs.String("report", "", "run nothing: print the tables of a report saved with --json, its comparisons and targets derived again (and write --json, --svg from it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("bench takes no arguments, got %q", fs.Args())
	}
	if *from != "" {
		return benchReport(e, *from, *jsonOut, *svgOut)
	}
	cfg := bench.Config{
		Systems: splitList(*systems), Workloads: splitList(*workloads), Runs: *runs, PeerRuns: *peerRuns,
		WarmupRuns: warmups(*warmupRuns), Items: *items, Size: *size, Content: *content, BidiEdits: *bidiEdits, BidiCommon: *bidiCommon,
		IncChanges: *incChanges, PeerIncMax: *peerIncMax, ManyClients: *manyClients, ManyDuration: *manyDuration,
		ManyInterval: *manyInterval, ManyWarmup: *manyWarmup, ManyEdits: *manyEdits, ManyItems: *manyItems, ManyClientDir: *manyClientDir, Node: *node,
		PeerBatchSize: *peerBatch, ProfileDir: *profile, SkipFloor: *noFloor, Log: e.stderr, Version: version,
		KeepRuns: *keep,
		Link:     bench.Link{Delay: *linkDelay, Rate: int64(*linkMbit * 1e6 / 8)},
	}
	if *warmupRuns < 0 {
		return usagef("--warmup-runs must not be negative")
	}
	if *linkDelay < 0 || *linkMbit < 0 {
		return usagef("--link-delay and --link-mbit must not be negative")
	}
	if *quiet {
		cfg.Log = nil
	}
	var err error
	if cfg.IncSizes, err = parseInts(*incSizes); err != nil {
		return usagef("--incremental-sizes: %v", err)
	}
	if cfg.Exe, err = os.Executable(); err != nil {
		return fmt.Errorf("find the syncprint binary: %w", err)
	}
	for _, s := range cfg.Systems {
		if s == bench.PouchDB {
			if cfg.PeerDir, err = preparePeer(e, *peerDir, *node, *install); err != nil {
				return err
			}
		}
	}
	if *workDir == "" {
		if *workDir, err = os.MkdirTemp("", "syncprint-bench-"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(*workDir)
		}
	} else if !*keep {
		defer os.RemoveAll(*workDir)
	}
	cfg.WorkDir = *workDir
	ctx, stop := signalContext(e)
	defer stop()
	rep, runErr := bench.Run(ctx, cfg)
	if rep != nil {
		fmt.Fprintln(e.stdout)
		rep.WriteTable(e.stdout)
		if *jsonOut != "" {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
				return fmt.Errorf("write --json: %w", err)
			}
		}
		if *svgOut != "" {
			if err := os.WriteFile(*svgOut, rep.SVG(), 0o644); err != nil {
				return fmt.Errorf("write --svg: %w", err)
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	for _, res := range rep.Results {
		if !res.Verified {
			return exitError{code: exitFailure, err: fmt.Errorf("%s %s: results not verified: %s", res.System, res.Workload, res.VerifyError)}
		}
	}
	return nil
}

// benchReport renders a saved report again.
func benchReport(e env, path, jsonOut, svgOut string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.Recompute()
	rep.WriteTable(e.stdout)
	if jsonOut != "" {
		b, err := json.MarshalIndent(&rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write --json: %w", err)
		}
	}
	if svgOut != "" {
		if err := os.WriteFile(svgOut, rep.SVG(), 0o644); err != nil {
			return fmt.Errorf("write --svg: %w", err)
		}
	}
	return nil
}

// preparePeer finds the peer harness and checks that node and its
// node_modules are there (installing them with --install).
func preparePeer(e env, dir, node string, install bool) (string, error) {
	if dir == "" {
		var err error
		if dir, err = findPeerDir(); err != nil {
			return "", err
		}
	}
	if _, err := exec.LookPath(node); err != nil {
		return "", fmt.Errorf("the peer needs Node.js (18 or later) and npm: %q not found; or run only Syncprint with --systems syncprint", node)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "pouchdb-node")); err == nil {
		return dir, nil
	}
	if !install {
		return "", fmt.Errorf("the peer is not installed: run `npm ci --prefix %s` (or pass --install); or run only Syncprint with --systems syncprint", dir)
	}
	fmt.Fprintf(e.stderr, "bench: npm ci --prefix %s\n", dir)
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %w", dir, err)
	}
	return dir, nil
}

// findPeerDir looks for bench/peers/pouchdb in the working directory and
// its parents.
func findPeerDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, peerDirRel)
		if _, err := os.Stat(filepath.Join(p, "client.js")); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("cannot find " + peerDirRel + " here or above: run from the repository or pass --peer-dir")
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(strings.ReplaceAll(p, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for k, n := range ns {
		s[k] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// cmdBenchClient is the Syncprint client runner of `syncprint bench`
// (hidden: the harness starts it): one job, JSON lines on stdin and
// stdout, see internal/bench/job.go.
func cmdBenchClient(e env, args []string) error {
	fs := newFlags("bench-client", "syncprint bench-client < JOB", e.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signalContext(e)
	defer stop()
	return bench.RunClient(ctx, e.stdin, e.stdout)
}

// warmups maps the --warmup-runs flag to bench.Config.WarmupRuns, whose 0
// means the default: none is negative there.
func warmups(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
