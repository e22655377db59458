package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd"
)

func TestContentIsDeterministicSizedAndSafeForJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec ContentSpec
	}{
		{"text of 200 bytes", ContentSpec{ContentText, 200}},
		{"text shorter than its header", ContentSpec{ContentText, 20}},
		{"random of 200 bytes", ContentSpec{ContentRandom, 200}},
		{"random of 1 byte", ContentSpec{ContentRandom, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Content(tc.spec, itemID(7), "v1")
			require.Len(t, a, tc.spec.Size)
			require.Equal(t, a, Content(tc.spec, itemID(7), "v1"), "the same id and tag give the same bytes")
			if tc.spec.Size >= 20 {
				require.NotEqual(t, a, Content(tc.spec, itemID(7), "v2"), "another tag gives other bytes")
				require.NotEqual(t, a, Content(tc.spec, itemID(8), "v1"), "another id gives other bytes")
			}
			require.NotContains(t, string(a), `"`)
			require.NotContains(t, string(a), `\`)
			for _, c := range a {
				require.True(t, c >= 0x20 && c < 0x7f, "printable ASCII")
			}
		})
	}
	// Pinned: bench/peers/pouchdb/content.js must produce these bytes too
	// (cmd/syncprint's peer test compares the two).
	require.Equal(t, "id=item-0000042 v=v1 ref=aZ3BZYWrEZolY_ccvIqXky note: north samp",
		string(Content(ContentSpec{ContentText, 200}, itemID(42), "v1")[:64]))
}

func TestRangeEnumeratesItsItems(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Range
		want []int
	}{
		{"a plain range", Range{From: 2, To: 5}, []int{2, 3, 4}},
		{"a stride", Range{From: 1, To: 10, Step: 4}, []int{1, 5, 9}},
		{"an empty range", Range{From: 3, To: 3}, nil},
		{"a reversed range", Range{From: 5, To: 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			tc.r.Each(func(i int) { got = append(got, i) })
			require.Equal(t, tc.want, got)
			require.Equal(t, len(tc.want), tc.r.Len())
			for _, i := range tc.want {
				require.True(t, tc.r.holds(i))
			}
			require.False(t, tc.r.holds(tc.r.To))
		})
	}
}

func TestStatOfTakesTheMedianMinAndMax(t *testing.T) {
	require.Equal(t, Stat{Median: 2, Min: 1, Max: 9}, statOf([]float64{9, 1, 2}))
	require.Equal(t, Stat{Median: 2.5, Min: 1, Max: 9}, statOf([]float64{9, 1, 2, 3}))
	require.Equal(t, Stat{}, statOf(nil))
	require.Equal(t, int64(2), medianInt([]int64{3, 1, 2, 4}))
	require.Equal(t, 2, quantile([]int{1, 2, 3, 4}, 0.5))
	require.Equal(t, 99, quantile(seq(100), 0.99), "nearest rank")
	require.Equal(t, 100, quantile(seq(100), 0.995))
	require.Equal(t, 1, quantile(seq(100), 0))
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestProxyCountsTheBytesOfEachDirection(t *testing.T) {
	// The upstream reads 1,000 bytes, answers 3,000, and closes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
			served <- err
			return
		}
		_, err = c.Write(bytes.Repeat([]byte("d"), 3000))
		served <- err
	}()
	p, err := StartProxy(ln.Addr().String())
	require.NoError(t, err)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	_, err = c.Write(bytes.Repeat([]byte("u"), 1000))
	require.NoError(t, err)
	got, err := io.ReadAll(c) // until the upstream's close reaches us
	require.NoError(t, err)
	require.Len(t, got, 3000)
	require.NoError(t, <-served)
	require.NoError(t, c.Close())
	up, down, conns := p.Counts()
	require.Equal(t, int64(1000), up)
	require.Equal(t, int64(3000), down)
	require.Equal(t, int64(1), conns)
	require.NoError(t, p.Close())
}

// TestProxyLinkDelaysAndPacesEveryByte: through a Link of 20 ms each way
// and 1 MB/s, the first byte of a new connection arrives after the
// handshake's round trip and the one-way delay, 100 KB take at least
// their time at the rate, every byte arrives intact and in order, and
// the counts are those of the sockets. Only lower bounds are checked: a
// slow machine may add time, never remove it.
func TestProxyLinkDelaysAndPacesEveryByte(t *testing.T) {
	const delay = 20 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	down := make([]byte, 100_000)
	for i := range down {
		down[i] = byte(i * 7)
	}
	type got struct {
		at  time.Time
		err error
	}
	served := make(chan got, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- got{err: err}
			return
		}
		defer c.Close()
		up := make([]byte, 1000)
		if _, err := io.ReadFull(c, up); err != nil {
			served <- got{err: err}
			return
		}
		at := time.Now()
		if !bytes.Equal(up, bytes.Repeat([]byte("u"), 1000)) {
			served <- got{err: fmt.Errorf("the request changed on its way")}
			return
		}
		_, err = c.Write(down)
		served <- got{at: at, err: err}
	}()
	p, err := StartProxy(ln.Addr().String())
	require.NoError(t, err)
	defer p.Close()
	p.Linkable()
	p.SetLink(Link{Delay: delay, Rate: 1_000_000})
	start := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	_, err = c.Write(bytes.Repeat([]byte("u"), 1000))
	require.NoError(t, err)
	back, err := io.ReadAll(c)
	end := time.Now()
	require.NoError(t, err)
	require.Equal(t, down, back, "every byte, in order")
	s := <-served
	require.NoError(t, s.err)
	require.GreaterOrEqual(t, s.at.Sub(start), 3*delay, "the handshake's round trip, then the way there")
	require.GreaterOrEqual(t, end.Sub(s.at), delay+100*time.Millisecond, "100 KB at 1 MB/s, then the way back")
	require.NoError(t, c.Close())
	up, dn, conns := p.Counts()
	require.Equal(t, int64(1000), up)
	require.Equal(t, int64(len(down)), dn)
	require.Equal(t, int64(1), conns)

	// Without a link the same proxy forwards at once again.
	p.SetLink(Link{})
	require.True(t, Link{}.IsZero())
	require.Equal(t, "20ms each way, 8.0 Mbit/s each way", Link{Delay: delay, Rate: 1_000_000}.String())
}

// TestProxyConnectionsShareOneLinkUnlessPerConnection: two connections
// that download 100 KB each at once over a shared path of 1 MB/s take at
// least 200 ms for both; on paths of their own the link alone does not
// hold them back that long (only the shared case's lower bound is
// checked, and that each byte arrives).
func TestProxyConnectionsShareOneLinkUnlessPerConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	down := bytes.Repeat([]byte("0123456789"), 10_000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, 10)); err == nil {
					_, _ = c.Write(down)
				}
			}()
		}
	}()
	p, err := StartProxy(ln.Addr().String())
	require.NoError(t, err)
	defer p.Close()
	p.Linkable()
	both := func(l Link) time.Duration {
		p.SetLink(l)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				if _, err := c.Write([]byte("0123456789")); err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(c)
				if err == nil && !bytes.Equal(got, down) {
					err = fmt.Errorf("got %d bytes, not the %d sent", len(got), len(down))
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		return time.Since(start)
	}
	require.GreaterOrEqual(t, both(Link{Delay: time.Millisecond, Rate: 1_000_000}), 200*time.Millisecond, "200 KB through one path of 1 MB/s")
	require.GreaterOrEqual(t, both(Link{Delay: time.Millisecond, Rate: 1_000_000, PerConnection: true}), 100*time.Millisecond, "100 KB through each path")
}

// runJob drives RunClient in-process through the contract of job.go and
// returns its timed and verified messages.
func runJob(t *testing.T, job Job) (timed, verified Message) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := RunClient(context.Background(), inR, outW)
		outW.Close()
		done <- err
	}()
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	read := func(phase string) Message {
		require.True(t, sc.Scan(), "runner ended before %s", phase)
		var m Message
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		require.Equal(t, phase, m.Phase, "runner said %s", sc.Text())
		return m
	}
	b, err := json.Marshal(job)
	require.NoError(t, err)
	_, err = fmt.Fprintf(inW, "%s\n", b)
	require.NoError(t, err)
	read("ready")
	_, err = io.WriteString(inW, "go\n")
	require.NoError(t, err)
	timed = read("timed")
	_, err = io.WriteString(inW, "verify\n")
	require.NoError(t, err)
	verified = read("verified")
	require.NoError(t, inW.Close())
	require.NoError(t, <-done)
	return timed, verified
}

// testServer is a serverd on a loopback port with a real bbolt file.
func testServer(t *testing.T) (url string, srv *serverd.Server) {
	t.Helper()
	srv, err := serverd.Open(serverd.Config{DataDir: filepath.Join(t.TempDir(), "server")})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.NoError(t, <-served)
	})
	return "http://" + ln.Addr().String(), srv
}

func syncedClient(t *testing.T, url, token, store string) *clientd.Client {
	t.Helper()
	c, err := clientd.Open(store, clientd.Config{ServerURL: url, Token: token})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRunnerVerificationCatchesMissingWrongAndLostItems(t *testing.T) {
	url, srv := testServer(t)
	dir := t.TempDir()
	spec := ContentSpec{ContentText, 100}
	tok := func(dev string) string {
		tk, err := srv.CreateToken(benchUser, dev)
		require.NoError(t, err)
		return tk
	}
	// a and b both hold 20 items; b changes items 0-5 and syncs; a changes
	// items 3-8 without syncing: 3, 4 and 5 are conflicts.
	a := syncedClient(t, url, tok("a"), filepath.Join(dir, "a.db"))
	_, err := putRanges(a, benchCollection, spec, []Range{{From: 0, To: 20, Tag: tagBase}})
	require.NoError(t, err)
	_, err = a.Sync(context.Background())
	require.NoError(t, err)
	b := syncedClient(t, url, tok("b"), filepath.Join(dir, "b.db"))
	_, err = b.Sync(context.Background())
	require.NoError(t, err)
	_, err = putRanges(b, benchCollection, spec, []Range{{From: 0, To: 6, Tag: tagB}})
	require.NoError(t, err)
	_, err = b.Sync(context.Background())
	require.NoError(t, err)
	_, err = putRanges(a, benchCollection, spec, []Range{{From: 3, To: 9, Tag: tagA}})
	require.NoError(t, err)
	aStore := filepath.Join(dir, "a.db")
	require.NoError(t, a.Close())

	right := &Expect{Items: 20, BaseTag: tagBase,
		Tags:      []Range{{From: 0, To: 3, Tag: tagB}, {From: 6, To: 9, Tag: tagA}},
		Conflicts: []ConflictCheck{{Range: Range{From: 3, To: 6}, TagA: tagA, TagB: tagB}}}
	// The runner takes a's store over with another token of the same
	// device (the store's replica).
	job := Job{Op: OpSync, Store: aStore, Server: url, Token: tok("a"), Collection: benchCollection, Content: spec, Expect: right}
	timed, verified := runJob(t, job)
	require.Equal(t, 3, timed.Uploaded, "6 local edits, 3 of them lost to the server's")
	require.Equal(t, 6, timed.Downloaded, "b's 6 edits")
	require.Equal(t, 3, timed.Conflicts)
	require.True(t, verified.Verified, verified.VerifyError)

	for _, tc := range []struct {
		name   string
		expect Expect
		want   string
	}{
		{"an item too many is missing", Expect{Items: 21, BaseTag: tagBase}, "holds 20 items, want 21"},
		{"a wrong version is caught", Expect{Items: 20, BaseTag: tagBase}, "is not version"},
		{"a lost version is caught", Expect{Items: 20, BaseTag: tagBase, Tags: right.Tags,
			Conflicts: []ConflictCheck{{Range: Range{From: 3, To: 6}, TagA: "never-written", TagB: tagB}}}, "not in the local conflict log"},
		{"a conflict that did not happen is caught", Expect{Items: 20, BaseTag: tagBase, Tags: []Range{{From: 0, To: 3, Tag: tagB}},
			Conflicts: []ConflictCheck{{Range: Range{From: 3, To: 9}, TagA: tagA, TagB: tagB}}}, "is not version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job
			j.Expect = &tc.expect
			_, v := runJob(t, j)
			require.False(t, v.Verified)
			require.Contains(t, v.VerifyError, tc.want)
		})
	}
}

func TestFloorRunnerCommitsEveryItemAndVerifiesIt(t *testing.T) {
	dir := t.TempDir()
	spec := ContentSpec{ContentText, 120}
	job := Job{Op: OpFloor, Store: filepath.Join(dir, "floor.db"), Collection: benchCollection, Content: spec,
		Floor: &FloorSpec{Items: 30, Batch: 7}}
	timed, verified := runJob(t, job)
	require.Equal(t, 30, timed.Uploaded)
	require.Positive(t, timed.Millis)
	require.True(t, verified.Verified, verified.VerifyError)

	// The same job on the store it left: 30 more versions, and the
	// verification says the store is not what one run leaves.
	_, verified = runJob(t, job)
	require.False(t, verified.Verified)
	require.Contains(t, verified.VerifyError, "head is 60, want 30")
}

func TestReportJudgesTheTargetsAndRendersTableAndSVG(t *testing.T) {
	rep := &Report{Machine: Machine{CPU: "test cpu", Cores: 2, Go: "go"}, Settings: Settings{Size: 200, Content: ContentText, ManyClients: 200}}
	rep.Floors = []*Floor{{Workload: WorkPull, Items: 10_000, Millis: Stat{Median: 80, Min: 70, Max: 90}},
		{Workload: WorkPush, Items: 10_000, Millis: Stat{Median: 60, Min: 50, Max: 70},
			NewProcess: &Stat{Median: 160, Min: 150, Max: 170}}}
	add := func(w, variant, sys string, ms float64, up, down, minUp, minDown int64, size int) *Result {
		r := &Result{Workload: w, Variant: variant, System: sys, Size: size, Moved: size, Runs: 3, Millis: Stat{Median: ms, Min: ms, Max: ms},
			BytesUp: up, BytesDown: down, MinBytesUp: minUp, MinBytesDown: minDown, Verified: true, ServerPeak: 50e6, ClientPeak: 40e6}
		r.compute()
		rep.Results = append(rep.Results, r)
		return r
	}
	add(WorkPull, "", Syncprint, 100, 1000, 2_500_000, 0, 2_440_000, 10_000)
	add(WorkPull, "", PouchDB, 4000, 40_000, 2_000_000, 0, 2_440_000, 10_000)
	add(WorkPush, "", Syncprint, 200, 2_500_000, 1000, 2_440_000, 0, 10_000)
	add(WorkPush, "", PouchDB, 4000, 4_000_000, 10_000, 2_440_000, 0, 10_000)
	add(WorkIncremental, " n=10000", Syncprint, 10, 5000, 5000, 4880, 4880, 10_000)
	add(WorkIncremental, " n=1000000", Syncprint, 11, 5000, 5000, 4880, 4880, 1_000_000)
	rep.Results[0].ClientFaults, rep.Results[0].ServerFaults = 3880, 2192
	rep.Machine.FreshMemoryMsPerMB = 4 // 15.6 us a page
	rep.finish()
	status := map[string]string{}
	for _, tg := range rep.Targets {
		status[tg.Name] = tg.Status
	}
	require.Equal(t, "met", status["pull: speed against the peer"], "40x")
	require.Equal(t, "missed", status["push: speed against the peer"], "20x")
	require.Equal(t, "met", status["pull: against the floor"], "100 ms <= 1.3 x 80 ms")
	require.Equal(t, "missed", status["push: against the floor"], "judged against the warm floor, not the one in a new process")
	for _, tg := range rep.Targets {
		if tg.Name == "push: against the floor" {
			require.Contains(t, tg.Got, "1.25x the floor in a new process (160.0 ms)")
		}
	}
	require.Equal(t, "met", status["incremental 1,000,000: time"])
	require.Equal(t, "met", status["incremental 1,000,000: wire"])
	require.Equal(t, "met", status["incremental 1,000,000: against 10,000"], "1.1x")
	require.Equal(t, "missed", status["wire: against the peer"], "pull moves more than the peer")
	require.Equal(t, "not measured", status["memory: pull of 1,000,000 items"])
	require.Equal(t, "not measured", status["many: applied items per second"])

	var tbl strings.Builder
	rep.WriteTable(&tbl)
	for _, want := range []string{"pull", "pouchdb", "40.0x", "[missed]", "floor", "in a new process, as the steps are timed: 160.0 ms [150.0-170.0]", "page faults in the timed step", " 3880 ", " 61 ", " 2192 ", " 34\n"} {
		require.Contains(t, tbl.String(), want)
	}
	svg := rep.SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG is well-formed XML")
	}
	require.Contains(t, string(svg), "40.0x")
	require.NotContains(t, tbl.String(), "the machine's speed", "no probes, no table (a report made before the probe)")

	// With probes: each result against the fastest probe of the run.
	rep.Results[0].Probe = &Stat{Median: 2.5, Min: 2.0, Max: 4.0}
	rep.Results[1].Probe = &Stat{Median: 3.0, Min: 2.5, Max: 3.5}
	tbl.Reset()
	rep.WriteTable(&tbl)
	require.Contains(t, tbl.String(), "the fastest of this run took 2.00 ms")
	require.Regexp(t, `pull +syncprint +2\.50 +\[2\.00-4\.00\] +1\.25x`, tbl.String())
	require.Regexp(t, `pull +pouchdb +3\.00 +\[2\.50-3\.50\] +1\.50x`, tbl.String())
	require.NotRegexp(t, `push +syncprint +[0-9.]+ +\[`, tbl.String(), "a result without a probe has no row")
}

// TestCPUProbeTimesItsWork: the probe hashes its buffer every time (the
// work is not optimised away) and takes measurable time.
func TestCPUProbeTimesItsWork(t *testing.T) {
	d := cpuProbe()
	require.Greater(t, d, time.Duration(0))
	fp := fingerprint.Of("cpu-probe", false, probeBuf())
	require.Equal(t, probeRounds*binary.LittleEndian.Uint64(fp[:8]), probeSink, "every round hashed")
}

// TestAReportOverALinkJudgesNoTarget: the targets are for
// loopback. A run whose timed steps crossed an emulated link says so on
// its table, keeps its comparisons, and judges no target, also when its
// saved JSON is read back.
func TestAReportOverALinkJudgesNoTarget(t *testing.T) {
	rep := &Report{Machine: Machine{CPU: "test cpu", Cores: 2, Go: "go"}, Settings: Settings{Size: 200, Content: ContentText,
		LinkDelay: (25 * time.Millisecond).String(), LinkRate: 2_500_000}}
	for _, r := range []*Result{
		{Workload: WorkPull, System: Syncprint, Size: 10_000, Moved: 10_000, Runs: 3, Millis: Stat{Median: 900}, Verified: true},
		{Workload: WorkPull, System: PouchDB, Size: 10_000, Moved: 10_000, Runs: 3, Millis: Stat{Median: 4500}, Verified: true},
	} {
		r.compute()
		rep.Results = append(rep.Results, r)
	}
	rep.finish()
	require.Empty(t, rep.Targets)
	require.Len(t, rep.Comparisons, 1)
	require.InDelta(t, 5.0, rep.Comparisons[0].Speedup, 1e-9)
	require.Contains(t, strings.Join(rep.Notes, "\n"), "emulated link (25ms each way, 20.0 Mbit/s each way)")
	var tbl strings.Builder
	rep.WriteTable(&tbl)
	require.Contains(t, tbl.String(), "link: 25ms each way, 20.0 Mbit/s each way")
	require.NotContains(t, tbl.String(), "[missed]")

	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	back.finish()
	require.Empty(t, back.Targets, "read back, still not judged")
}

// Many runs for a fixed time: a system that applies more items in it also
// moves more bytes and uses more CPU, so the two compare per applied item.
func TestManyComparesBytesAndCPUPerAppliedItem(t *testing.T) {
	rep := &Report{Settings: Settings{Size: 200, Content: ContentText, ManyClients: 200}}
	many := func(sys string, applied int, bytes int64, cpu float64) {
		r := &Result{Workload: WorkMany, System: sys, Runs: 1, Moved: applied, Verified: true,
			Millis: Stat{Median: 10_000, Min: 10_000, Max: 10_000}, CPUMillis: Stat{Median: cpu, Min: cpu, Max: cpu},
			BytesUp: bytes / 2, BytesDown: bytes / 2, Many: &ManyResult{Applied: applied, Seconds: 10}}
		r.compute()
		rep.Results = append(rep.Results, r)
	}
	many(Syncprint, 100_000, 50_000_000, 15_000) // 500 B and 0.15 ms an item
	many(PouchDB, 5_000, 10_000_000, 20_000)     // 2000 B and 4 ms an item
	rep.Recompute()
	c := rep.comparison(rep.Results[0].key())
	require.NotNil(t, c)
	require.InDelta(t, 0.25, c.BytesRatio, 1e-9, "500 B against 2000 B an item, not 50 MB against 10 MB")
	require.InDelta(t, 0.0375, c.CPURatio, 1e-9)
	require.InDelta(t, 20, c.ThroughputRatio, 1e-9)
	for _, tg := range rep.Targets {
		if tg.Name == "wire: against the peer" {
			require.Equal(t, "met", tg.Status)
		}
	}
}

// Offered exactly 20,000 edits a second, a server that keeps up applies
// them all, yet its rate over the phase falls short by the last answers'
// latency: the target counts it sustained. A server that falls behind
// stretches the phase past the window by more than a cycle's interval (or
// fewer edits than offered are made), and the target is missed; so it is
// when a sync fails.
func TestManyTargetCountsAServerThatKeepsUpWithTheOfferedRate(t *testing.T) {
	judge := func(x ManyResult) string {
		rep := &Report{Settings: Settings{Size: 200, Content: ContentText, ManyClients: 200, ManyDuration: "10s", ManyInterval: "100ms"}}
		x.Clients, x.Offered, x.ExchangeP99 = 200, 20_000, 30
		r := &Result{Workload: WorkManyRaw, System: Syncprint, Runs: 1, Moved: x.Applied, Verified: true,
			Millis: Stat{Median: 10_000, Min: 10_000, Max: 10_000}, Many: &x}
		r.compute()
		rep.Results = append(rep.Results, r)
		rep.Recompute()
		for _, tg := range rep.Targets {
			if tg.Name == "many-raw (the server alone): applied items per second" {
				return tg.Status
			}
		}
		t.Fatal("no many-raw target")
		return ""
	}
	require.Equal(t, "met", judge(ManyResult{Edited: 200_000, Applied: 200_000, Syncs: 20_000, Seconds: 10.015}), "19,970/s, all offered applied")
	require.Equal(t, "missed", judge(ManyResult{Edited: 190_000, Applied: 190_000, Syncs: 19_000, Seconds: 10.015}), "fewer edits than offered")
	require.Equal(t, "missed", judge(ManyResult{Edited: 200_000, Applied: 200_000, Syncs: 20_000, Seconds: 10.5}), "fell behind the schedule: 19,048/s")
	require.Equal(t, "met", judge(ManyResult{Edited: 200_000, Applied: 200_000, Syncs: 20_000, Seconds: 10.1}), "the last sync within one interval of the window")
	require.Equal(t, "missed", judge(ManyResult{Edited: 200_000, Applied: 199_990, Syncs: 19_999, Errors: 1, Seconds: 10.015}), "a sync failed")
	require.Equal(t, "met", judge(ManyResult{Edited: 210_000, Applied: 210_000, Syncs: 21_000, Seconds: 10.01}), "over 20,000/s outright")
}

// Paced, every cycle due before the deadline runs, even when a slow sync
// made it start after the deadline: the schedule is the offered load; but
// none starts more than a second window late. Back to back, no cycle starts
// after the deadline.
func TestPaceCyclesRunsEveryCycleDueInTheWindow(t *testing.T) {
	m := &ManySpec{Edits: 2, Items: 10}
	first := 80 * time.Millisecond // the first cycle's sync: past the deadline
	run := func(interval time.Duration) (cycles int, ids map[string]bool) {
		start := time.Now()
		deadline := start.Add(50 * time.Millisecond)
		ids = map[string]bool{}
		paceCycles(context.Background(), m, ContentSpec{Kind: ContentText, Size: 20}, start, deadline, interval, 0, 1, "t", func(batch map[string][]byte) {
			cycles++
			for id := range batch {
				ids[id] = true
			}
			if cycles == 1 {
				time.Sleep(first)
			}
		})
		return cycles, ids
	}
	n, ids := run(10 * time.Millisecond)
	require.Equal(t, 5, n, "due at 0, 10, 20, 30 and 40 ms; the window ends at 50")
	require.Len(t, ids, 10, "2 items a cycle, over 10 items")
	n, _ = run(0)
	require.Equal(t, 1, n, "back to back, the first cycle ended after the deadline")
	first = 120 * time.Millisecond
	n, _ = run(10 * time.Millisecond)
	require.Equal(t, 1, n, "the first sync ended past a second window (100 ms): the phase gives up")
}
