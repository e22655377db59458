package conformance

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// CT is what a client-mode case works with: the scripted server it plays
// and the driver of the client under test (DRIVER.md). Fail, Skip and
// Errorf end the case as in server mode.
type CT struct {
	*T
	srv *scripted
	drv *driverProc
	dir string
}

// clientToken is the token the scripted server accepts.
const clientToken = "sp_c0nformanceScriptedServerTokenAAAAAAAAAAAAA"

func clientCase(c Case, body func(*CT)) {
	c.client = body
	register(&c)
}

// call sends a driver request; transport problems are harness errors,
// "unsupported:" replies skip the case.
func (ct *CT) call(req map[string]any, timeout time.Duration) driverReply {
	r, err := ct.drv.call(ct.ctx, req, timeout)
	if err != nil {
		ct.Errorf("driver: %v", err)
	}
	if !r.OK && strings.HasPrefix(r.Error, "unsupported:") {
		ct.Skip("the driver does not support %s: %s", req["cmd"], r.Error)
	}
	return r
}

// must sends a request that must succeed (a driver that cannot do a local
// operation fails the case).
func (ct *CT) must(req map[string]any) driverReply {
	r := ct.call(req, 30*time.Second)
	if !r.OK {
		ct.Failf(fmt.Sprintf("the client to do %s", req["cmd"]), "error: %s", r.Error)
	}
	return r
}

// Put makes a local edit.
func (ct *CT) Put(coll, id, content string) {
	ct.must(map[string]any{"cmd": "put", "collection": coll, "id": id, "content_b64": base64.StdEncoding.EncodeToString([]byte(content))})
}

// Delete makes a local deletion.
func (ct *CT) Delete(coll, id string) {
	ct.must(map[string]any{"cmd": "delete", "collection": coll, "id": id})
}

// Get reads a local item.
func (ct *CT) Get(coll, id string) (string, bool) {
	r := ct.must(map[string]any{"cmd": "get", "collection": coll, "id": id})
	b, err := base64.StdEncoding.DecodeString(r.ContentB64)
	if err != nil {
		ct.Errorf("driver: content_b64 %q: %v", r.ContentB64, err)
	}
	return string(b), r.Found
}

// Sync runs a session and returns its outcome (ok false: it ended with an
// error).
func (ct *CT) Sync() driverReply { return ct.call(map[string]any{"cmd": "sync"}, 2*time.Minute) }

// MustSync runs a session that must succeed.
func (ct *CT) MustSync() {
	if r := ct.Sync(); !r.OK {
		ct.Failf("the sync session to succeed", "it ended with an error: %s", r.Error)
	}
}

// SyncBackground starts a session and returns at once.
func (ct *CT) SyncBackground() {
	ct.must(map[string]any{"cmd": "sync", "background": true})
}

// Wait waits for the background session.
func (ct *CT) Wait() driverReply { return ct.call(map[string]any{"cmd": "wait"}, 2*time.Minute) }

// Dump lists the local items and conflict-log entries of a collection.
func (ct *CT) Dump(coll string) driverReply {
	return ct.must(map[string]any{"cmd": "dump", "collection": coll})
}

// Restart closes and reopens the client.
func (ct *CT) Restart() { ct.must(map[string]any{"cmd": "restart"}) }

// ClientConfig configures a client-mode run.
type ClientConfig struct {
	// Driver is the command that starts a driver (run with sh -c).
	Driver string
	// CaseTimeout bounds one case; 0 means 2 minutes.
	CaseTimeout time.Duration
}

// RunClient runs client-mode cases, each with a fresh scripted server and
// a fresh driver process.
func RunClient(ctx context.Context, cfg ClientConfig, cases []*Case, progress Progress) *Report {
	rep := &Report{Suite: "syncprint-conformance", SuiteVersion: SuiteVersion, Mode: ModeClient, Target: cfg.Driver, Started: time.Now().UTC(), secrets: []string{}}
	timeout := cfg.CaseTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	for i, c := range cases {
		if progress != nil {
			progress(i, len(cases), c, nil)
		}
		res := runClientCase(ctx, cfg, c, timeout)
		rep.Results = append(rep.Results, res)
		if progress != nil {
			progress(i, len(cases), c, &rep.Results[len(rep.Results)-1])
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep
}

func runClientCase(ctx context.Context, cfg ClientConfig, c *Case, timeout time.Duration) Result {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &T{ctx: cctx, c: c}
	start := time.Now()
	result := func() Result {
		t.mu.Lock()
		defer t.mu.Unlock()
		v := t.verdict
		if v == "" {
			v = Pass
		}
		return Result{Case: c, Verdict: v, Reason: t.reason, Expected: t.expected, Seen: t.seen, Notes: t.notes, Transcript: t.rec.all(), Duration: time.Since(start)}
	}
	dir, err := os.MkdirTemp("", "syncprint-conform-client")
	if err != nil {
		return Result{Case: c, Verdict: Error, Reason: err.Error()}
	}
	defer os.RemoveAll(dir)
	srv, err := newScripted(&t.rec)
	if err != nil {
		return Result{Case: c, Verdict: Error, Reason: "scripted server: " + err.Error()}
	}
	defer srv.close()
	drv, err := startDriver(cfg.Driver, dir, &t.rec)
	if err != nil {
		return Result{Case: c, Verdict: Error, Reason: err.Error()}
	}
	ct := &CT{T: t, srv: srv, drv: drv, dir: dir}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(abort); !ok {
					t.mu.Lock()
					t.verdict, t.reason = Error, fmt.Sprintf("the case panicked: %v\n%s", r, debug.Stack())
					t.mu.Unlock()
				}
			}
		}()
		r := ct.call(map[string]any{"cmd": "init", "server": srv.url, "token": clientToken, "dir": filepath.Join(dir, "client")}, 30*time.Second)
		if !r.OK {
			ct.Errorf("the driver could not init: %s", r.Error)
		}
		c.client(ct)
	}()
	srv.setHook(nil)
	drv.stop()
	res := result()
	if res.Verdict == Fail || res.Verdict == Error {
		if s := strings.TrimSpace(drv.stderr.String()); s != "" {
			res.Notes = append(res.Notes, "driver stderr: "+clip(s, 4000))
		}
	}
	res.redact([]string{clientToken})
	return res
}
