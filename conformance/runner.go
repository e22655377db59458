package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/syncprint/syncprint/protocol"
)

// SuiteVersion is the version of the suite, reported with every run. It
// changes when cases are added or their assertions change.
const SuiteVersion = "1.13.0"

// Verdict is a case's outcome.
type Verdict string

// Verdicts.
const (
	Pass  Verdict = "PASS"
	Fail  Verdict = "FAIL"
	Skip  Verdict = "SKIP"
	Error Verdict = "ERROR" // the harness failed; kept apart from FAIL
)

// Result is one case's outcome.
type Result struct {
	Case     *Case
	Verdict  Verdict
	Reason   string // SKIP and ERROR: why
	Expected string // FAIL: what the requirement demands
	Seen     string // FAIL: what the implementation did
	Notes    []string
	// Transcript is the requests and responses of the case, decoded.
	Transcript []Entry
	Duration   time.Duration
}

// Config configures a run.
type Config struct {
	// Target is the server under test (server mode).
	Target Target
	// CaseTimeout bounds one case; 0 means 2 minutes.
	CaseTimeout time.Duration
}

// Progress is called before (res nil) and after each case.
type Progress func(i, n int, c *Case, res *Result)

// RunServer runs server-mode cases one after the other against
// cfg.Target. It fetches Info first; when that fails every case is an
// ERROR.
func RunServer(ctx context.Context, cfg Config, cases []*Case, progress Progress) *Report {
	rep := &Report{Suite: "syncprint-conformance", SuiteVersion: SuiteVersion, Mode: ModeServer, Target: cfg.Target.URL, Started: time.Now().UTC(), secrets: cfg.Target.secrets()}
	timeout := cfg.CaseTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	tg := cfg.Target
	info, infoErr := fetchInfo(ctx, &tg)
	if infoErr == nil {
		rep.Server = info.Server
	}
	for i, c := range cases {
		if progress != nil {
			progress(i, len(cases), c, nil)
		}
		var res Result
		if infoErr != nil {
			res = Result{Case: c, Verdict: Error, Reason: "GET /v1/info with --token failed: " + infoErr.Error()}
		} else {
			res = runOne(ctx, c, &tg, info, timeout)
		}
		res.redact(rep.secrets)
		rep.Results = append(rep.Results, res)
		if progress != nil {
			progress(i, len(cases), c, &rep.Results[len(rep.Results)-1])
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep
}

func fetchInfo(ctx context.Context, tg *Target) (protocol.Info, error) {
	var rec recorder
	r, err := tg.do(ctx, &rec, Request{Method: http.MethodGet, Path: protocol.PathInfo, As: UserA})
	if err != nil {
		return protocol.Info{}, err
	}
	if r.Status != http.StatusOK {
		return protocol.Info{}, fmt.Errorf("HTTP %d %s", r.Status, describeErr(r))
	}
	var info protocol.Info
	if err := protocol.Unmarshal(r.Body, &info); err != nil {
		return protocol.Info{}, err
	}
	if info.User == "" {
		return protocol.Info{}, errors.New("the server did not recognise --token (Info.user is empty)")
	}
	return info, nil
}

func runOne(ctx context.Context, c *Case, tg *Target, info protocol.Info, timeout time.Duration) (res Result) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &T{ctx: cctx, target: tg, info: info, c: c}
	start := time.Now()
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
		c.server(t)
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.verdict
	if v == "" {
		v = Pass
	}
	if v == Error && cctx.Err() != nil && ctx.Err() == nil {
		t.reason = fmt.Sprintf("the case did not finish within %v: %s", timeout, t.reason)
	}
	return Result{Case: c, Verdict: v, Reason: t.reason, Expected: t.expected, Seen: t.seen, Notes: t.notes, Transcript: t.rec.all(), Duration: time.Since(start)}
}

func (r *Result) redact(secrets []string) {
	r.Reason = redact(r.Reason, secrets)
	r.Expected = redact(r.Expected, secrets)
	r.Seen = redact(r.Seen, secrets)
	for i := range r.Notes {
		r.Notes[i] = redact(r.Notes[i], secrets)
	}
	for i := range r.Transcript {
		e := &r.Transcript[i]
		e.Request = redact(e.Request, secrets)
		e.Response = redact(e.Response, secrets)
		e.Error = redact(e.Error, secrets)
		for k, v := range e.Headers {
			e.Headers[k] = redact(v, secrets)
		}
	}
}

// Failed reports whether the result fails the run: a FAIL or ERROR of a
// MUST case, or, when strict, of a SHOULD case.
func (r *Result) Failed(strict bool) bool {
	if r.Verdict != Fail && r.Verdict != Error {
		return false
	}
	return r.Case.Level == MUST || strict && r.Case.Level == SHOULD
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
