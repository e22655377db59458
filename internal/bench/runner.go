package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
)

// putChunk is how many items one local transaction of OpPut writes.
const putChunk = 20_000

// RunClient is `syncprint bench-client`: it reads a Job from in and
// performs it with clientd over a bbolt store on disk, speaking the
// harness's JSON-lines contract (see job.go) on in and out.
func RunClient(ctx context.Context, in io.Reader, out io.Writer) error {
	r := &lineIO{sc: bufio.NewScanner(in), enc: json.NewEncoder(out)}
	r.sc.Buffer(make([]byte, 64<<10), 64<<20)
	err := runClient(ctx, r)
	if err != nil {
		_ = r.send(Message{Phase: "error", Error: err.Error()})
	}
	return err
}

// lineIO reads the harness's lines and writes the runner's messages.
type lineIO struct {
	sc  *bufio.Scanner
	enc *json.Encoder
}

func (r *lineIO) send(m Message) error { return r.enc.Encode(m) }

// await reads the next line and reports whether it is want; a closed
// input reads as "".
func (r *lineIO) await(want string) (bool, error) {
	if !r.sc.Scan() {
		return false, r.sc.Err()
	}
	got := strings.TrimSpace(r.sc.Text())
	if got != want {
		return false, fmt.Errorf("harness said %q, want %q", got, want)
	}
	return true, nil
}

func runClient(ctx context.Context, r *lineIO) error {
	if !r.sc.Scan() {
		return fmt.Errorf("read job: %v", orEOF(r.sc.Err()))
	}
	var job Job
	if err := json.Unmarshal(r.sc.Bytes(), &job); err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	var st step
	var err error
	switch job.Op {
	case OpPut:
		st, err = preparePut(job)
	case OpSync:
		st, err = prepareSync(job)
	case OpFloor:
		st, err = prepareFloor(job)
	case OpMany:
		if job.Many != nil && job.Many.Raw {
			st, err = prepareManyRaw(ctx, job)
		} else {
			st, err = prepareMany(ctx, job)
		}
	default:
		return fmt.Errorf("unknown op %q", job.Op)
	}
	if err != nil {
		return fmt.Errorf("%s: prepare: %w", job.Op, err)
	}
	defer st.close()
	if err := r.send(Message{Phase: "ready"}); err != nil {
		return err
	}
	if _, err := r.await("go"); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(job.CPUProfile)
	if err != nil {
		return err
	}
	start := time.Now()
	msg, err := st.timed(ctx)
	elapsed := time.Since(start)
	stopProfile()
	if err != nil {
		return fmt.Errorf("%s: %w", job.Op, err)
	}
	msg.Phase = "timed"
	msg.Millis = float64(elapsed.Microseconds()) / 1000
	if err := r.send(msg); err != nil {
		return err
	}
	if ok, _ := r.await("verify"); !ok {
		return nil
	}
	vm := Message{Phase: "verified", Verified: true}
	if err := st.verify(ctx); err != nil {
		vm.Verified, vm.VerifyError = false, err.Error()
	}
	return r.send(vm)
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// step is a prepared job.
type step struct {
	timed  func(ctx context.Context) (Message, error)
	verify func(ctx context.Context) error
	close  func()
}

func openClient(job Job, hc *http.Client) (*clientd.Client, error) {
	return clientd.Open(job.Store, clientd.Config{
		ServerURL: job.Server, Token: job.Token, HTTPClient: hc,
		// No background loop runs; keep the defaults from reaching out.
		WatchTimeout: -1,
	})
}

func preparePut(job Job) (step, error) {
	c, err := clientd.Open(job.Store, clientd.Config{})
	if err != nil {
		return step{}, err
	}
	return step{
		timed: func(context.Context) (Message, error) {
			n, err := putRanges(c, job.Collection, job.Content, job.Edits)
			return Message{Uploaded: 0, Downloaded: 0, Conflicts: 0, Verified: n > 0}, err
		},
		verify: func(context.Context) error { return nil },
		close:  func() { _ = c.Close() },
	}, nil
}

// putRanges writes the items of ranges in transactions of putChunk items.
func putRanges(c *clientd.Client, coll string, spec ContentSpec, ranges []Range) (int, error) {
	n := 0
	batch := make(map[string][]byte, putChunk)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.PutMany(coll, batch)
		clear(batch)
		return err
	}
	for _, rg := range ranges {
		var err error
		rg.Each(func(i int) {
			if err != nil {
				return
			}
			id := itemID(i)
			batch[id] = Content(spec, id, rg.Tag)
			n++
			if len(batch) == putChunk {
				err = flush()
			}
		})
		if err != nil {
			return n, err
		}
	}
	return n, flush()
}

func prepareSync(job Job) (step, error) {
	var tr *tracer
	var hc *http.Client
	if job.Trace {
		tr = &tracer{base: http.DefaultTransport.(*http.Transport).Clone()}
		hc = &http.Client{Transport: tr}
	}
	c, err := openClient(job, hc)
	if err != nil {
		return step{}, err
	}
	if job.Warm != nil {
		if err := warmUp(c, job); err != nil {
			_ = c.Close()
			return step{}, fmt.Errorf("warm up: %w", err)
		}
	}
	return step{
		timed: func(ctx context.Context) (Message, error) {
			if tr != nil {
				tr.begin()
			}
			rep, err := c.Sync(ctx)
			if err != nil {
				return Message{}, err
			}
			m := Message{Uploaded: rep.Uploaded, Downloaded: rep.Downloaded, Conflicts: rep.Conflicts}
			if tr != nil {
				m.Requests = tr.list()
			}
			return m, nil
		},
		verify: func(context.Context) error {
			if job.Expect == nil {
				return nil
			}
			return verifyStore(c, job.Collection, job.Content, job.Expect)
		},
		close: func() { _ = c.Close() },
	}, nil
}

// warmUp carries out job.Warm's steps before the timed sync.
func warmUp(c *clientd.Client, job Job) error {
	w := job.Warm
	other, err := clientd.Open(w.Store, clientd.Config{ServerURL: job.Server, Token: w.Token, WatchTimeout: -1})
	if err != nil {
		return err
	}
	defer other.Close()
	ctx := context.Background()
	syncMoving := func(who string, cl *clientd.Client, up, down int) error {
		rep, err := cl.Sync(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if rep.Uploaded != up || rep.Downloaded != down {
			return fmt.Errorf("%s: %d up, %d down; want %d, %d", who, rep.Uploaded, rep.Downloaded, up, down)
		}
		return nil
	}
	nOwn, err := putRanges(c, job.Collection, job.Content, []Range{w.PrimeOwn})
	if err != nil {
		return err
	}
	nOther, err := putRanges(other, job.Collection, job.Content, []Range{w.PrimeOther})
	if err != nil {
		return err
	}
	if err := syncMoving("the other device", other, nOther, 0); err != nil {
		return err
	}
	if err := syncMoving("this device", c, nOwn, nOther); err != nil {
		return err
	}
	n, err := putRanges(other, job.Collection, job.Content, []Range{w.Other})
	if err != nil {
		return err
	}
	if err := syncMoving("the other device", other, n, nOwn); err != nil {
		return err
	}
	_, err = putRanges(c, job.Collection, job.Content, []Range{w.Own})
	return err
}

// tagOf returns the tag the expectation gives item i.
func (e *Expect) tagOf(i int) string {
	for k := len(e.Tags) - 1; k >= 0; k-- {
		if e.Tags[k].holds(i) {
			return e.Tags[k].Tag
		}
	}
	return e.BaseTag
}

func (r Range) holds(i int) bool {
	return i >= r.From && i < r.To && (i-r.From)%max(r.Step, 1) == 0
}

func (e *Expect) inConflict(i int) bool {
	for _, c := range e.Conflicts {
		if c.holds(i) {
			return true
		}
	}
	return false
}

// verifyStore checks a Syncprint store against e (server-wins conflicts).
func verifyStore(c *clientd.Client, coll string, spec ContentSpec, e *Expect) error {
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st.Pending != 0 {
		return fmt.Errorf("%d items still pending after the sync", st.Pending)
	}
	check := func(i int, tag string) error {
		id := itemID(i)
		got, err := c.Get(coll, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, Content(spec, id, tag)) {
			return fmt.Errorf("item %s: content is not version %q: %.40q", id, tag, got)
		}
		return nil
	}
	if e.OnlyListed {
		for _, rg := range e.Tags {
			var err error
			rg.Each(func(i int) {
				if err == nil && !e.inConflict(i) {
					err = check(i, e.tagOf(i))
				}
			})
			if err != nil {
				return err
			}
		}
	} else {
		list, err := c.List(coll)
		if err != nil {
			return err
		}
		if len(list) != e.Items {
			return fmt.Errorf("store holds %d items, want %d", len(list), e.Items)
		}
		for i := range e.Items {
			if e.inConflict(i) {
				continue
			}
			if err := check(i, e.tagOf(i)); err != nil {
				return err
			}
		}
	}
	if len(e.Conflicts) == 0 {
		return nil
	}
	all, err := c.Conflicts()
	if err != nil {
		return err
	}
	losers := map[string][][]byte{}
	for _, cf := range all {
		if cf.Kind == clientd.KindLocal && cf.Collection == coll {
			losers[cf.ID] = append(losers[cf.ID], cf.Content)
		}
	}
	n := 0
	for _, cc := range e.Conflicts {
		var err error
		cc.Each(func(i int) {
			if err != nil {
				return
			}
			n++
			// server-wins: the other side's version stays ...
			if err = check(i, cc.TagB); err != nil {
				return
			}
			// ... and this client's is kept in its conflict log.
			id := itemID(i)
			want := Content(spec, id, cc.TagA)
			for _, l := range losers[id] {
				if bytes.Equal(l, want) {
					return
				}
			}
			err = fmt.Errorf("item %s: the losing version %q is not in the local conflict log", id, cc.TagA)
		})
		if err != nil {
			return err
		}
	}
	if len(losers) != n {
		return fmt.Errorf("local conflict log holds %d items, want %d", len(losers), n)
	}
	return nil
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex // guards d
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.d = nil
	l.mu.Unlock()
}

// percentiles returns the p50, p99 and max in milliseconds.
func (l *latencies) percentiles() (p50, p99, top float64, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0, 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(quantile(s, 0.50)), ms(quantile(s, 0.99)), ms(s[len(s)-1]), len(s)
}

// quantile returns the nearest-rank q-quantile of sorted s.
func quantile[T any](s []T, q float64) T {
	k := int(math.Ceil(q*float64(len(s)) - 1e-9))
	return s[min(max(k-1, 0), len(s)-1)]
}

// exchangeTimer times every /v1/exchange round trip (until the response
// headers; the server writes a whole response at once).
type exchangeTimer struct {
	base http.RoundTripper
	lat  *latencies
}

func (t exchangeTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err == nil && req.URL.Path == protocol.PathExchange {
		t.lat.add(time.Since(start))
	}
	return resp, err
}

// tracer records the round trip of every request of the timed step.
type tracer struct {
	base http.RoundTripper

	mu    sync.Mutex // guards start and reqs
	start time.Time  // of the timed step
	reqs  []RequestTrace
}

// begin starts the timed step: what was recorded before it (a warm-up's
// requests) is dropped.
func (t *tracer) begin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start, t.reqs = time.Now(), nil
}

func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.base.RoundTrip(req)
	t.mu.Lock()
	start := t.start
	t.mu.Unlock()
	if start.IsZero() { // before the timed step
		return resp, err
	}
	rt := RequestTrace{Path: req.Method + " " + req.URL.Path, StartMs: ms(t0.Sub(start)), Millis: ms(time.Since(t0)), ReqBytes: req.ContentLength}
	if err == nil {
		rt.Status, rt.RespBytes = resp.StatusCode, resp.ContentLength
	}
	t.mu.Lock()
	t.reqs = append(t.reqs, rt)
	t.mu.Unlock()
	return resp, err
}

func (t *tracer) list() []RequestTrace {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]RequestTrace(nil), t.reqs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func prepareMany(ctx context.Context, job Job) (step, error) {
	m := job.Many
	if m == nil || len(m.Clients) == 0 || m.Items <= 0 || m.Edits <= 0 {
		return step{}, errors.New("many: clients, items and edits are required")
	}
	exch := &latencies{}
	clients := make([]*clientd.Client, len(m.Clients))
	closeAll := func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	// Setup, untimed: each client writes its items and syncs them, a few
	// at a time.
	var wg sync.WaitGroup
	errs := make(chan error, len(m.Clients))
	sem := make(chan struct{}, 8)
	for k, mc := range m.Clients {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		hc := &http.Client{Transport: exchangeTimer{base: tr, lat: exch}}
		c, err := openClient(Job{Store: mc.Store, Server: job.Server, Token: mc.Token}, hc)
		if err != nil {
			closeAll()
			return step{}, err
		}
		clients[k] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := putRanges(c, mc.Collection, job.Content, []Range{{From: 0, To: m.Items, Tag: "m0"}}); err != nil {
				errs <- err
				return
			}
			if _, err := c.Sync(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll()
		return step{}, fmt.Errorf("setup: %w", err)
	}
	if m.WarmupMillis > 0 {
		if res := runMany(ctx, m, job.Content, clients, exch, time.Duration(m.WarmupMillis)*time.Millisecond, "w"); res.Errors > 0 {
			closeAll()
			return step{}, fmt.Errorf("warm-up: %d of %d syncs failed, the first: %s", res.Errors, res.Errors+res.Syncs, res.FirstError)
		}
	}
	exch.reset()
	return step{
		timed: func(ctx context.Context) (Message, error) {
			res := runMany(ctx, m, job.Content, clients, exch, time.Duration(m.DurationMillis)*time.Millisecond, "m")
			return Message{Uploaded: res.Applied, Many: res}, nil
		},
		verify: func(ctx context.Context) error {
			for k, c := range clients {
				if _, err := c.Sync(ctx); err != nil {
					return fmt.Errorf("client %d: final sync: %w", k, err)
				}
				st, err := c.Status()
				if err != nil {
					return err
				}
				if st.Pending != 0 {
					return fmt.Errorf("client %d: %d items pending after a final sync", k, st.Pending)
				}
			}
			return nil
		},
		close: closeAll,
	}, nil
}

// runMany is OpMany's timed phase (and its warm-up): every client edits
// m.Edits of its items and syncs, once per m.IntervalMillis, for d; tag
// tells the content of the phase's cycles from another's.
func runMany(ctx context.Context, m *ManySpec, spec ContentSpec, clients []*clientd.Client, exch *latencies, d time.Duration, tag string) *ManyResult {
	start := time.Now()
	deadline := start.Add(d)
	interval := time.Duration(m.IntervalMillis) * time.Millisecond
	syncs := &latencies{}
	var mu sync.Mutex // guards res
	res := &ManyResult{Clients: len(clients)}
	var wg sync.WaitGroup
	for k, c := range clients {
		coll := m.Clients[k].Collection
		wg.Add(1)
		go func() {
			defer wg.Done()
			paceCycles(ctx, m, spec, start, deadline, interval, k, len(clients), tag, func(batch map[string][]byte) {
				var rep clientd.Report
				var d time.Duration
				err := c.PutMany(coll, batch)
				if err == nil {
					t0 := time.Now()
					rep, err = c.Sync(ctx)
					d = time.Since(t0)
				}
				mu.Lock()
				res.Edited += len(batch)
				if err != nil {
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Syncs++
					res.Applied += rep.Uploaded
				}
				mu.Unlock()
				if err == nil {
					syncs.add(d)
				}
			})
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.SyncP50, res.SyncP99, res.SyncMax, _ = syncs.percentiles()
	res.ExchangeP50, res.ExchangeP99, _, res.Exchanges = exch.percentiles()
	return res
}

// paceCycles runs one client's edit-and-sync cycles of many and many-raw
// until deadline: client k of n starts k/n of an interval late (so that the
// clients' cycles spread over it), and each cycle gets the batch of
// m.Edits items it edits, with content of that cycle (tag and its number).
//
// Paced (interval > 0), every cycle due before the deadline runs, even
// one that starts after it: the schedule is the offered load, and a cycle the
// timer or a slow sync made late is still part of it. A server that falls
// behind the schedule so makes the phase run past the window (keptUp), up
// to a second window: a cycle that would start later than that does not,
// so that a server that hangs cannot hold the phase for all its cycles'
// timeouts. Back to back, no cycle starts after the deadline.
func paceCycles(ctx context.Context, m *ManySpec, spec ContentSpec, start, deadline time.Time, interval time.Duration, k, n int, tag string, cycle func(batch map[string][]byte)) {
	next := start
	if interval > 0 {
		next = start.Add(interval * time.Duration(k) / time.Duration(n))
	}
	giveUp := deadline.Add(deadline.Sub(start)) // late cycles start until then
	if interval <= 0 {
		giveUp = deadline
	}
	for c := 1; ; c++ {
		// The window is [start, deadline): a cycle due at or after the
		// deadline never starts. Do not sleep until then, which would add
		// the idle wait to the phase's duration and take it from its rate.
		if !next.Before(deadline) || ctx.Err() != nil {
			return
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if time.Now().After(giveUp) {
			return
		}
		next = next.Add(interval)
		batch := make(map[string][]byte, m.Edits)
		for j := range m.Edits {
			id := itemID(((c-1)*m.Edits + j) % m.Items)
			batch[id] = Content(spec, id, fmt.Sprintf("%s%d", tag, c))
		}
		cycle(batch)
	}
}
