package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
)

// benchUser is the user of every workload but many (whose clients are
// users of their own).
const benchUser = "bench"

// Tags of the versions the workloads write.
const (
	tagBase  = "v1"
	tagA     = "a" // the timed client's edits
	tagB     = "b" // the other side's edits
	scaleTag = "v1"
	// incremental-warm: the edits of the warm-up sync.
	tagPrimeA = "pa"
	tagPrimeB = "pb"
)

// harness runs the workloads of one Config.
type harness struct {
	cfg     *Config
	rep     *Report
	pending []*pending // prepared workloads waiting for runQueued
	cleanup []func()   // run when Run returns: removes data kept outside WorkDir
}

// Run runs the benchmark cfg describes and returns its report. It starts
// and stops every process it needs; WorkDir keeps the data until the
// caller removes it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	h := &harness{cfg: &cfg, rep: newReport(&cfg)}
	defer func() {
		for _, f := range h.cleanup {
			f()
		}
	}()
	// The floors, in batches as large as the workload's: the pages of a
	// pull, the exchanges of a push (see Floor).
	for _, w := range []struct {
		name  string
		batch int
	}{{WorkPull, clientd.DownloadBatchItems}, {WorkPush, protocol.DefaultMaxBatchItems}} {
		if cfg.SkipFloor || !slices.Contains(cfg.Systems, Syncprint) || !cfg.has(w.name) {
			continue
		}
		h.logf("floor of %s: %d items in batches of %d, one durable commit each", w.name, cfg.Items, w.batch)
		f, err := measureFloor(cfg.WorkDir, w.name, cfg.Items, w.batch, cfg.contentSpec())
		if err != nil {
			return nil, err
		}
		h.rep.Floors = append(h.rep.Floors, f)
		h.logf("floor of %s: %.1f ms (min %.1f, max %.1f)", w.name, f.Millis.Median, f.Millis.Min, f.Millis.Max)
		if err := h.measureFloorNewProcess(ctx, f); err != nil {
			return nil, err
		}
		h.logf("floor of %s in a new process: %.1f ms (min %.1f, max %.1f)", w.name, f.NewProcess.Median, f.NewProcess.Min, f.NewProcess.Max)
	}
	for _, w := range AllWorkloads {
		if !cfg.has(w) {
			continue
		}
		for _, name := range cfg.Systems {
			if err := h.workload(ctx, h.system(name), w); err != nil {
				return h.rep, fmt.Errorf("%s %s: %w", name, w, err)
			}
		}
		if err := h.runQueued(ctx); err != nil {
			return h.rep, err
		}
	}
	h.rep.finish()
	return h.rep, nil
}

func (h *harness) system(name string) system {
	if name == PouchDB {
		return pouchSystem{node: h.cfg.Node, dir: h.cfg.PeerDir, batch: h.cfg.PeerBatchSize}
	}
	return spSystem{exe: h.cfg.Exe}
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.cfg.Log, "bench: "+format+"\n", args...)
}

func (h *harness) runs(s system) int {
	if s.name() == PouchDB {
		return h.cfg.PeerRuns
	}
	return h.cfg.Runs
}

// wireMin is the data's minimum for n items: content, ID and fingerprint.
func (h *harness) wireMin(n int) int64 {
	return int64(n) * int64(h.cfg.Size+len(itemID(0))+32)
}

func (h *harness) workload(ctx context.Context, s system, w string) error {
	cfg := h.cfg
	switch w {
	case WorkPull:
		return h.pull(ctx, s)
	case WorkPush:
		return h.push(ctx, s)
	case WorkBidi:
		return h.bidi(ctx, s)
	case WorkIncremental:
		for _, n := range cfg.IncSizes {
			if s.name() == PouchDB && cfg.PeerIncMax > 0 && n > cfg.PeerIncMax {
				h.rep.note(fmt.Sprintf("incremental n=%d: the peer was not run at this size (over --peer-incremental-max %d: building it takes too long here)", n, cfg.PeerIncMax))
				h.logf("%s incremental n=%d: skipped (over --peer-incremental-max %d)", s.name(), n, cfg.PeerIncMax)
				continue
			}
			if err := h.incremental(ctx, s, n); err != nil {
				return fmt.Errorf("n=%d: %w", n, err)
			}
		}
		return nil
	case WorkMany:
		return h.many(ctx, s, false)
	case WorkManyRaw:
		if s.name() != Syncprint {
			h.logf("%s many-raw: not applicable (a load generator of the Syncprint protocol)", s.name())
			return nil
		}
		return h.many(ctx, s, true)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// fixture is a prepared workload: a directory holding the server's data
// dir ("server") and the client stores, copied afresh for every run.
type fixture struct {
	s     system
	dir   string
	accts map[string]account // by client name
}

func (h *harness) newFixture(s system, name string, clients ...string) (*fixture, error) {
	dir := filepath.Join(h.cfg.WorkDir, s.name(), name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	fx := &fixture{s: s, dir: filepath.Join(dir, "fixture"), accts: map[string]account{}}
	users := make([]string, len(clients))
	for k, c := range clients {
		users[k] = benchUser + "/" + c
	}
	accts, err := s.initServer(filepath.Join(fx.dir, "server"), users)
	if err != nil {
		return nil, err
	}
	for k, c := range clients {
		fx.accts[c] = accts[k]
	}
	return fx, nil
}

// job returns a job of the fixture's client name, with its store in dir.
func (fx *fixture) job(h *harness, dir, client, op string) Job {
	a := fx.accts[client]
	j := Job{Op: op, Store: fx.s.store(dir, client), Token: a.Token, Collection: a.Collection, Content: h.cfg.contentSpec()}
	fx.s.tune(&j)
	return j
}

// withServer runs fn with the fixture's server started on dataDir.
func (h *harness) withServer(ctx context.Context, s system, dataDir, cpuProfile string, fn func(*serverProc) error) error {
	srv, err := s.startServer(ctx, dataDir, filepath.Join(filepath.Dir(dataDir), "server.log"), cpuProfile)
	if err != nil {
		return err
	}
	if !h.cfg.Link.IsZero() {
		srv.proxy.Linkable()
	}
	err = fn(srv)
	if serr := srv.stop(); err == nil && serr != nil {
		err = serr
	}
	return err
}

// setup runs one untimed step and requires its expectation to hold.
func (h *harness) setup(ctx context.Context, fx *fixture, srv *serverProc, j Job) (stepFigures, error) {
	if srv != nil {
		j.Server = srv.url()
	}
	f, err := runStep(ctx, fx.s.runner(), fx.dir, j, srv, Link{}, true)
	if err != nil {
		return f, err
	}
	if f.Verified != nil && !f.Verified.Verified {
		return f, fmt.Errorf("setup %s of %s: %s", j.Op, filepath.Base(j.Store), f.Verified.VerifyError)
	}
	return f, nil
}

// put writes ranges into client's store in the fixture (untimed).
func (h *harness) put(ctx context.Context, fx *fixture, client string, ranges ...Range) error {
	j := fx.job(h, fx.dir, client, OpPut)
	j.Edits = ranges
	_, err := h.setup(ctx, fx, nil, j)
	return err
}

// sync syncs client's store in the fixture (untimed) in direction dir.
func (h *harness) sync(ctx context.Context, fx *fixture, srv *serverProc, client, dir string) (stepFigures, error) {
	j := fx.job(h, fx.dir, client, OpSync)
	j.Direction = dir
	return h.setup(ctx, fx, srv, j)
}

// settle syncs the clients in turn until a round moves nothing: then the
// collection is in sync on every side. For Syncprint the first round
// moves nothing already; the peer needs a second, which brings its
// replication checkpoints (one per direction) up to date.
func (h *harness) settle(ctx context.Context, fx *fixture, srv *serverProc, clients ...string) error {
	const maxRounds = 4
	for range maxRounds {
		moved := false
		for _, c := range clients {
			f, err := h.sync(ctx, fx, srv, c, DirBoth)
			if err != nil {
				return err
			}
			moved = moved || f.Timed.Uploaded != 0 || f.Timed.Downloaded != 0
		}
		if !moved {
			return nil
		}
	}
	return fmt.Errorf("settle: the clients still move items after %d rounds", maxRounds)
}

// timedSpec describes the timed runs of a workload.
type timedSpec struct {
	workload, variant string
	size              int // collection size
	moved             int // items whose content must cross, both ways
	minUp, minDown    int64
	// runs overrides the system's number of runs when set.
	runs int
	// timed is the job of the timed step; post, when set, runs after it
	// (with the same server) and must verify.
	timed func(runDir string) Job
	post  func(runDir string) Job
	// finish, when set, completes the result after the last run.
	finish func(*Result) error
}

// pending is a prepared workload waiting for its timed runs.
type pending struct {
	fx   *fixture
	spec timedSpec
	n    int // runs
	res  *Result
	// warmUp marks an untimed run's pending (harness.warmUp): no
	// profiles, a log line of its own.
	warmUp bool

	ms, cpu, ccpu, scpu                    []float64
	cflt, sflt                             []int64
	ups, downs, sPeak, cPeak, sAnon, cAnon []int64
	probe                                  []float64
}

// queue records a prepared workload; Run times the queued ones of a
// workload together, alternating the systems run by run, so that both see
// the same (noisy) machine.
func (h *harness) queue(fx *fixture, spec timedSpec) error {
	n := h.runs(fx.s)
	if spec.runs > 0 {
		n = spec.runs
	}
	res := &Result{Workload: spec.workload, Variant: spec.variant, System: fx.s.name(), Size: spec.size,
		Moved: spec.moved, MinBytesUp: spec.minUp, MinBytesDown: spec.minDown, Verified: true}
	h.pending = append(h.pending, &pending{fx: fx, spec: spec, n: n, res: res})
	return nil
}

// runQueued times the queued workloads, run by run in turn, records
// their results and removes their fixtures.
func (h *harness) runQueued(ctx context.Context) error {
	queued := h.pending
	h.pending = nil
	rounds := 0
	for _, p := range queued {
		rounds = max(rounds, p.n)
	}
	for run := range rounds {
		for _, p := range queued {
			if run >= p.n {
				continue
			}
			warm := h.cfg.WarmupRuns
			if p.spec.workload == WorkMany || p.spec.workload == WorkManyRaw {
				warm = 0 // a warm-up of their own, ManyWarmup
			}
			for range warm {
				if err := h.warmUp(ctx, p, run); err != nil {
					return fmt.Errorf("%s %s%s: warm-up: %w", p.fx.s.name(), p.spec.workload, p.spec.variant, err)
				}
			}
			if err := h.runOnce(ctx, p, run); err != nil {
				return fmt.Errorf("%s %s%s: %w", p.fx.s.name(), p.spec.workload, p.spec.variant, err)
			}
		}
	}
	for _, p := range queued {
		res := p.res
		res.Runs = p.n
		res.Millis = statOf(p.ms)
		res.CPUMillis = statOf(p.cpu)
		res.ClientCPUMillis, res.ServerCPUMillis = statOf(p.ccpu).Median, statOf(p.scpu).Median
		res.ClientFaults, res.ServerFaults = medianInt(p.cflt), medianInt(p.sflt)
		if len(p.probe) > 0 {
			probe := statOf(p.probe)
			res.Probe = &probe
		}
		res.BytesUp, res.BytesDown = medianInt(p.ups), medianInt(p.downs)
		res.ServerPeak, res.ClientPeak = maxInt(p.sPeak), maxInt(p.cPeak)
		res.ServerPeakAnon, res.ClientPeakAnon = maxInt(p.sAnon), maxInt(p.cAnon)
		res.compute()
		if p.spec.finish != nil {
			if err := p.spec.finish(res); err != nil {
				return err
			}
		}
		h.rep.Results = append(h.rep.Results, res)
		if !h.cfg.KeepRuns {
			if err := os.RemoveAll(p.fx.dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// warmUp runs the step of p's run once, untimed, before the timed run
// (Config.WarmupRuns): on a fresh copy of the fixture, with new processes,
// as the timed run does. Its figures are dropped; a warm-up whose outcome
// does not verify fails the workload's verification all the same.
func (h *harness) warmUp(ctx context.Context, p *pending, run int) error {
	scratch := &pending{fx: p.fx, spec: p.spec, n: p.n, res: &Result{Verified: true}, warmUp: true}
	if err := h.runOnce(ctx, scratch, run); err != nil {
		return err
	}
	if !scratch.res.Verified {
		p.res.Verified = false
		p.res.VerifyError = "warm-up run: " + scratch.res.VerifyError
	}
	return nil
}

// runOnce times one run of p on a fresh copy of its fixture.
func (h *harness) runOnce(ctx context.Context, p *pending, run int) error {
	s, spec, res := p.fx.s, p.spec, p.res
	runDir := filepath.Join(filepath.Dir(p.fx.dir), fmt.Sprintf("run-%d", run))
	_ = os.RemoveAll(runDir)
	if err := copyTree(p.fx.dir, runDir); err != nil {
		return err
	}
	var srvProf string
	j := spec.timed(runDir)
	j.Trace = s.name() == Syncprint
	if h.cfg.ProfileDir != "" && s.name() == Syncprint && !p.warmUp {
		base := spec.workload
		if spec.variant != "" {
			base += fmt.Sprintf("-%d", spec.size)
		}
		base = filepath.Join(h.cfg.ProfileDir, fmt.Sprintf("%s-run%d", base, run+1))
		srvProf, j.CPUProfile = base+"-server.pprof", base+"-client.pprof"
	}
	var f stepFigures
	err := h.withServer(ctx, s, filepath.Join(runDir, "server"), srvProf, func(srv *serverProc) error {
		j.Server = srv.url()
		if err := srv.warm(ctx, s.warmPaths(j)...); err != nil {
			return err
		}
		var err error
		link := h.cfg.Link
		// Many devices, each on a path of its own; one device's
		// connections share its path.
		link.PerConnection = spec.workload == WorkMany || spec.workload == WorkManyRaw
		f, err = runStep(ctx, s.runner(), runDir, j, srv, link, true)
		if err != nil {
			return err
		}
		if spec.post != nil {
			pj := spec.post(runDir)
			pj.Server = srv.url()
			pf, err := runStep(ctx, s.runner(), runDir, pj, srv, Link{}, true)
			if err != nil {
				return err
			}
			if !pf.Verified.Verified {
				res.Verified = false
				res.VerifyError = "after the other side synced: " + pf.Verified.VerifyError
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("run %d: %w", run+1, err)
	}
	if !f.Verified.Verified {
		res.Verified = false
		res.VerifyError = f.Verified.VerifyError
	}
	if !f.PeakReset {
		res.PeakIncludesSetup = true
	}
	p.ms = append(p.ms, f.Timed.Millis)
	cms, sms := ms(f.ClientCPU), ms(f.ServerCPU)
	p.cpu, p.ccpu, p.scpu = append(p.cpu, cms+sms), append(p.ccpu, cms), append(p.scpu, sms)
	p.cflt, p.sflt = append(p.cflt, f.ClientFaults), append(p.sflt, f.ServerFaults)
	p.probe = append(p.probe, ms(f.Probe))
	p.ups, p.downs = append(p.ups, f.Up), append(p.downs, f.Down)
	p.sPeak, p.cPeak = append(p.sPeak, f.ServerPeak), append(p.cPeak, f.ClientPeak)
	p.sAnon, p.cAnon = append(p.sAnon, f.ServerPeakAnon), append(p.cAnon, f.ClientPeakAnon)
	res.Uploaded, res.Downloaded, res.Conflicts = f.Timed.Uploaded, f.Timed.Downloaded, f.Timed.Conflicts
	res.Many = f.Timed.Many
	res.Requests = f.Timed.Requests
	res.PerRun = append(res.PerRun, RunFigures{Millis: f.Timed.Millis, ClientCPU: cms, ServerCPU: sms, Up: f.Up, Down: f.Down, Conns: f.Conns,
		ServerPeak: f.ServerPeak, ClientPeak: f.ClientPeak, ClientFaults: f.ClientFaults, ServerFaults: f.ServerFaults,
		ProbeMs: ms(f.Probe)})
	what := fmt.Sprintf("run %d/%d", run+1, p.n)
	if p.warmUp {
		what = fmt.Sprintf("warm-up before run %d/%d (untimed)", run+1, p.n)
	}
	h.logf("%s %s%s %s: %.1f ms (cpu: client %.0f ms, server %.0f ms; page faults: client %d, server %d; cpu probe before it %.2f ms), %s up, %s down, server %s, client %s, verified %v",
		s.name(), spec.workload, spec.variant, what, f.Timed.Millis, cms, sms, f.ClientFaults, f.ServerFaults, ms(f.Probe), fmtBytes(f.Up), fmtBytes(f.Down),
		fmtBytes(f.ServerPeak), fmtBytes(f.ClientPeak), f.Verified.Verified)
	if !h.cfg.KeepRuns {
		return os.RemoveAll(runDir)
	}
	return nil
}

// pull: the server holds Items items; an empty client pulls them.
func (h *harness) pull(ctx context.Context, s system) error {
	n := h.cfg.Items
	h.logf("%s pull: building the fixture (%d items on the server)", s.name(), n)
	fx, err := h.newFixture(s, WorkPull, "seeder", "puller")
	if err != nil {
		return err
	}
	if err := h.put(ctx, fx, "seeder", Range{From: 0, To: n, Tag: tagBase}); err != nil {
		return err
	}
	err = h.withServer(ctx, s, filepath.Join(fx.dir, "server"), "", func(srv *serverProc) error {
		_, err := h.sync(ctx, fx, srv, "seeder", DirPush)
		return err
	})
	if err != nil {
		return err
	}
	return h.queue(fx, timedSpec{
		workload: WorkPull, size: n, moved: n, minDown: h.wireMin(n),
		timed: func(dir string) Job {
			j := fx.job(h, dir, "puller", OpSync)
			j.Direction = DirPull
			j.Expect = &Expect{Items: n, BaseTag: tagBase}
			return j
		},
	})
}

// push: a client holding Items new items pushes them into an empty server.
func (h *harness) push(ctx context.Context, s system) error {
	n := h.cfg.Items
	h.logf("%s push: building the fixture (%d items in a client)", s.name(), n)
	fx, err := h.newFixture(s, WorkPush, "pusher", "checker")
	if err != nil {
		return err
	}
	if err := h.put(ctx, fx, "pusher", Range{From: 0, To: n, Tag: tagBase}); err != nil {
		return err
	}
	return h.queue(fx, timedSpec{
		workload: WorkPush, size: n, moved: n, minUp: h.wireMin(n),
		timed: func(dir string) Job {
			j := fx.job(h, dir, "pusher", OpSync)
			j.Direction = DirPush
			return j
		},
		// Another device pulls everything and checks it arrived.
		post: func(dir string) Job {
			j := fx.job(h, dir, "checker", OpSync)
			j.Direction = DirPull
			j.Expect = &Expect{Items: n, BaseTag: tagBase}
			return j
		},
	})
}

// bidi: both sides hold Items items; the client (a) edits BidiEdits, the
// server side (b, through a second client) edits BidiEdits, BidiCommon of
// them the same items; a syncs once.
func (h *harness) bidi(ctx context.Context, s system) error {
	n, e, c := h.cfg.Items, h.cfg.BidiEdits, h.cfg.BidiCommon
	h.logf("%s bidirectional: building the fixture (%d items on both sides, %d edits each, %d common)", s.name(), n, e, c)
	fx, err := h.newFixture(s, WorkBidi, "a", "b")
	if err != nil {
		return err
	}
	if err := h.put(ctx, fx, "a", Range{From: 0, To: n, Tag: tagBase}); err != nil {
		return err
	}
	aOnly := Range{From: 0, To: e - c, Tag: tagA}
	common := Range{From: e - c, To: e}
	bOnly := Range{From: e, To: 2*e - c, Tag: tagB}
	err = h.withServer(ctx, s, filepath.Join(fx.dir, "server"), "", func(srv *serverProc) error {
		if _, err := h.sync(ctx, fx, srv, "a", DirBoth); err != nil {
			return err
		}
		if _, err := h.sync(ctx, fx, srv, "b", DirBoth); err != nil {
			return err
		}
		// Settle: a second sync of each side moves nothing for Syncprint;
		// it brings the peer's replication checkpoints (each direction
		// has its own) up to date, so that the state is truly in sync.
		if err := h.settle(ctx, fx, srv, "a", "b"); err != nil {
			return err
		}
		if err := h.put(ctx, fx, "b", Range{From: e - c, To: 2*e - c, Tag: tagB}); err != nil {
			return err
		}
		_, err := h.sync(ctx, fx, srv, "b", DirBoth)
		return err
	})
	if err != nil {
		return err
	}
	if err := h.put(ctx, fx, "a", Range{From: 0, To: e, Tag: tagA}); err != nil {
		return err
	}
	conflict := ConflictCheck{Range: common, TagA: tagA, TagB: tagB}
	return h.queue(fx, timedSpec{
		workload: WorkBidi, size: n, moved: (e - c) + e,
		minUp: h.wireMin(e - c), minDown: h.wireMin(e),
		timed: func(dir string) Job {
			j := fx.job(h, dir, "a", OpSync)
			j.Direction = DirBoth
			j.Expect = &Expect{Items: n, BaseTag: tagBase, Tags: []Range{aOnly, bOnly}, Conflicts: []ConflictCheck{conflict}}
			return j
		},
		// The other side syncs and must see a's edits, and the same
		// outcome of every conflict.
		post: func(dir string) Job {
			j := fx.job(h, dir, "b", OpSync)
			j.Direction = DirBoth
			j.Expect = &Expect{Items: n, BaseTag: tagBase, Tags: []Range{aOnly, bOnly}}
			if s.name() == Syncprint {
				// server-wins kept b's versions; a's are in a's conflict log.
				j.Expect.Tags = append(j.Expect.Tags, Range{From: common.From, To: common.To, Tag: tagB})
			} else {
				j.Expect.Conflicts = []ConflictCheck{{Range: common, TagA: tagB, TagB: tagA}}
			}
			return j
		},
	})
}

// incremental: a collection of n items in sync on both sides; IncChanges
// items changed on each side; the client syncs once.
func (h *harness) incremental(ctx context.Context, s system, n int) error {
	k := h.cfg.IncChanges
	variant := fmt.Sprintf(" n=%d", n)
	h.logf("%s incremental%s: building the fixture", s.name(), variant)
	fx, err := h.newFixture(s, fmt.Sprintf("%s-%d", WorkIncremental, n), "a", "b")
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := h.put(ctx, fx, "a", Range{From: 0, To: n, Tag: tagBase}); err != nil {
		return err
	}
	stride := n / k
	aEdits := Range{From: 0, To: k * stride, Step: stride, Tag: tagA}
	bEdits := Range{From: stride / 2, To: stride/2 + k*stride, Step: stride, Tag: tagB}
	scale := &ScaleFigures{System: s.name(), Items: n}
	err = h.withServer(ctx, s, filepath.Join(fx.dir, "server"), "", func(srv *serverProc) error {
		f, err := h.sync(ctx, fx, srv, "a", DirBoth)
		if err != nil {
			return err
		}
		scale.Push = scaleOf(f)
		b := fx.job(h, fx.dir, "b", OpSync)
		b.Direction = DirBoth
		b.Expect = &Expect{Items: n, BaseTag: tagBase, OnlyListed: true, Tags: []Range{aEdits, bEdits}}
		b.Expect.Tags[0].Tag, b.Expect.Tags[1].Tag = tagBase, tagBase
		if f, err = h.setup(ctx, fx, srv, b); err != nil {
			return err
		}
		scale.Pull = scaleOf(f)
		return h.settle(ctx, fx, srv, "a", "b")
	})
	if err != nil {
		return err
	}
	// The collection is in sync on both sides: the warm variant starts
	// from here and makes its edits in its timed process.
	var warm *fixture
	if s.name() == Syncprint {
		if warm, err = h.copyFixture(fx, fmt.Sprintf("%s-%d", WorkIncrementalWarm, n)); err != nil {
			return err
		}
	}
	err = h.withServer(ctx, s, filepath.Join(fx.dir, "server"), "", func(srv *serverProc) error {
		if err := h.put(ctx, fx, "b", bEdits); err != nil {
			return err
		}
		_, err := h.sync(ctx, fx, srv, "b", DirBoth)
		return err
	})
	if err != nil {
		return err
	}
	if err := h.put(ctx, fx, "a", aEdits); err != nil {
		return err
	}
	h.rep.Scale = append(h.rep.Scale, scale)
	h.logf("%s incremental%s: fixture built in %s (push %d: %.0f ms, pull %d: %.0f ms, client %s, server %s)",
		s.name(), variant, time.Since(t0).Round(time.Second), n, scale.Push.Millis, n, scale.Pull.Millis,
		fmtBytes(scale.Pull.ClientPeak), fmtBytes(scale.Pull.ServerPeak))
	expect := func() *Expect {
		return &Expect{Items: n, BaseTag: tagBase, OnlyListed: true, Tags: []Range{aEdits, bEdits}}
	}
	if err := h.queue(fx, timedSpec{
		workload: WorkIncremental, variant: variant, size: n, moved: 2 * k,
		minUp: h.wireMin(k), minDown: h.wireMin(k),
		timed: func(dir string) Job {
			j := fx.job(h, dir, "a", OpSync)
			j.Direction = DirBoth
			j.Expect = expect()
			return j
		},
		post: func(dir string) Job {
			j := fx.job(h, dir, "b", OpSync)
			j.Direction = DirBoth
			j.Expect = expect()
			return j
		},
	}); err != nil || warm == nil {
		return err
	}
	// The same sync in a process that has synced before: a warm-up sync
	// of k edits each way (other items), then the same edits as above.
	primeA := Range{From: stride / 4, To: stride/4 + k*stride, Step: stride, Tag: tagPrimeA}
	primeB := Range{From: 3 * stride / 4, To: 3*stride/4 + k*stride, Step: stride, Tag: tagPrimeB}
	warmExpect := func() *Expect {
		return &Expect{Items: n, BaseTag: tagBase, OnlyListed: true, Tags: []Range{primeA, primeB, aEdits, bEdits}}
	}
	return h.queue(warm, timedSpec{
		workload: WorkIncrementalWarm, variant: variant, size: n, moved: 2 * k,
		minUp: h.wireMin(k), minDown: h.wireMin(k),
		timed: func(dir string) Job {
			j := warm.job(h, dir, "a", OpSync)
			j.Direction = DirBoth
			j.Expect = warmExpect()
			j.Warm = &WarmSpec{Store: warm.s.store(dir, "b"), Token: warm.accts["b"].Token,
				PrimeOwn: primeA, PrimeOther: primeB, Own: aEdits, Other: bEdits}
			return j
		},
		post: func(dir string) Job {
			j := warm.job(h, dir, "b", OpSync)
			j.Direction = DirBoth
			j.Expect = warmExpect()
			return j
		},
	})
}

// copyFixture copies fx, as it is now, to a fixture of its own named name
// (the same accounts).
func (h *harness) copyFixture(fx *fixture, name string) (*fixture, error) {
	parent := filepath.Join(h.cfg.WorkDir, fx.s.name(), name)
	if err := os.RemoveAll(parent); err != nil {
		return nil, err
	}
	cp := &fixture{s: fx.s, dir: filepath.Join(parent, "fixture"), accts: fx.accts}
	if err := copyTree(fx.dir, cp.dir); err != nil {
		return nil, err
	}
	return cp, nil
}

// many: ManyClients clients, each a user of its own, edit and sync
// concurrently for ManyDuration. One run.
func (h *harness) many(ctx context.Context, s system, raw bool) error {
	cfg := h.cfg
	workload := WorkMany
	if raw {
		workload = WorkManyRaw
	}
	h.logf("%s %s: %d clients, %d edits every %s each, for %s after %s of warm-up", s.name(), workload, cfg.ManyClients, cfg.ManyEdits, cfg.ManyInterval, cfg.ManyDuration, cfg.ManyWarmup)
	dir := filepath.Join(cfg.WorkDir, s.name(), workload)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	fx := &fixture{s: s, dir: filepath.Join(dir, "fixture")}
	users := make([]string, cfg.ManyClients)
	for k := range users {
		users[k] = fmt.Sprintf("u%04d/d", k)
	}
	accts, err := s.initServer(filepath.Join(fx.dir, "server"), users)
	if err != nil {
		return err
	}
	spec := &ManySpec{Items: cfg.ManyItems, Edits: cfg.ManyEdits, Raw: raw,
		DurationMillis: int(cfg.ManyDuration.Milliseconds()), IntervalMillis: int(cfg.ManyInterval.Milliseconds()),
		WarmupMillis: int(cfg.ManyWarmup.Milliseconds())}
	return h.queue(fx, timedSpec{
		workload: workload, size: cfg.ManyItems, runs: 1,
		timed: func(runDir string) Job {
			m := *spec
			m.Clients = make([]ManyClient, len(accts))
			clientDir := filepath.Join(runDir, "clients")
			if d := cfg.ManyClientDir; d != "" && d != "-" {
				clientDir = filepath.Join(d, fmt.Sprintf("syncprint-bench-%d-%s-clients", os.Getpid(), s.name()))
				_ = os.RemoveAll(clientDir)
				h.cleanup = append(h.cleanup, func() { _ = os.RemoveAll(clientDir) })
			}
			for k, a := range accts {
				m.Clients[k] = ManyClient{Store: s.store(clientDir, fmt.Sprintf("c%04d", k)), Token: a.Token, Collection: a.Collection}
			}
			_ = os.MkdirAll(clientDir, 0o755)
			j := Job{Op: OpMany, Content: cfg.contentSpec(), Many: &m}
			s.tune(&j)
			return j
		},
		finish: func(res *Result) error {
			if res.Many == nil {
				return errors.New("many: the runner reported no figures")
			}
			if cfg.ManyInterval > 0 {
				res.Many.Offered = float64(cfg.ManyClients*cfg.ManyEdits) / cfg.ManyInterval.Seconds()
			}
			res.Moved = res.Many.Applied
			res.MinBytesUp = h.wireMin(res.Many.Applied)
			res.compute()
			return nil
		},
	})
}
