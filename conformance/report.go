package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Suite        string
	SuiteVersion string
	Mode         Mode
	Target       string // URL (server mode) or driver command (client mode)
	Server       string // Info.server of the target, when known
	Started      time.Time
	Duration     time.Duration
	Results      []Result

	secrets []string
}

// Counts returns the number of results per verdict.
func (r *Report) Counts() map[Verdict]int {
	m := map[Verdict]int{}
	for _, res := range r.Results {
		m[res.Verdict]++
	}
	return m
}

// OK reports whether the run passes: every MUST case passed or was
// skipped (and, when strict, every SHOULD case).
func (r *Report) OK(strict bool) bool {
	for i := range r.Results {
		if r.Results[i].Failed(strict) {
			return false
		}
	}
	return true
}

// Summary is a one-line summary.
func (r *Report) Summary() string {
	c := r.Counts()
	return fmt.Sprintf("%d cases: %d passed, %d failed, %d skipped, %d errors in %v", len(r.Results), c[Pass], c[Fail], c[Skip], c[Error], r.Duration.Round(time.Millisecond))
}

// ProgressLine is the terminal line of one finished case.
func ProgressLine(i, n int, res *Result) string {
	s := fmt.Sprintf("[%*d/%d] %-5s %-6s %s (%v)", len(fmt.Sprint(n)), i+1, n, res.Verdict, res.Case.Level, res.Case.ID, res.Duration.Round(time.Millisecond))
	if res.Verdict == Skip || res.Verdict == Error {
		s += ": " + firstLine(res.Reason)
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// WriteText writes the details of every failure and error, then the
// summary: for a FAIL the requirement text, what was expected, what was
// seen and the transcript.
func (r *Report) WriteText(w io.Writer, strict bool) {
	for i := range r.Results {
		res := &r.Results[i]
		if res.Verdict != Fail && res.Verdict != Error {
			continue
		}
		fmt.Fprintf(w, "\n=== %s %s (%s): %s\n", res.Verdict, res.Case.ID, res.Case.Level, res.Case.Desc)
		fmt.Fprint(w, res.Details())
	}
	fmt.Fprintf(w, "\nsyncprint conformance %s, %s mode, target %s", r.SuiteVersion, r.Mode, r.Target)
	if r.Server != "" {
		fmt.Fprintf(w, " (%s)", r.Server)
	}
	fmt.Fprintf(w, "\n%s\n", r.Summary())
	if r.OK(strict) {
		fmt.Fprintln(w, "result: conforming (every MUST case passed or was skipped)")
	} else {
		fmt.Fprintln(w, "result: NOT conforming")
	}
}

// Details renders a failure or error: requirement texts, expected, seen,
// notes and transcript.
func (res *Result) Details() string {
	var sb strings.Builder
	if res.Verdict == Error {
		fmt.Fprintf(&sb, "harness error: %s\n", res.Reason)
	}
	for _, id := range res.Case.Reqs {
		if req, ok := RequirementByID(id); ok {
			fmt.Fprintf(&sb, "[%s] %s\n", id, wrap(req.Text, 100, "    "))
		}
	}
	if res.Expected != "" {
		fmt.Fprintf(&sb, "expected: %s\n", res.Expected)
		fmt.Fprintf(&sb, "seen:     %s\n", res.Seen)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&sb, "note: %s\n", n)
	}
	if len(res.Transcript) > 0 {
		sb.WriteString("transcript:\n")
		for _, e := range res.Transcript {
			sb.WriteString(indent(e.String(), "  ") + "\n")
		}
	}
	return sb.String()
}

// wrap folds text at width, continuing lines with prefix.
func wrap(text string, width int, prefix string) string {
	words := strings.Fields(text)
	var sb strings.Builder
	n := 0
	for _, w := range words {
		if n > 0 && n+1+len(w) > width {
			sb.WriteString("\n" + prefix)
			n = len(prefix)
		} else if n > 0 {
			sb.WriteByte(' ')
			n++
		}
		sb.WriteString(w)
		n += len(w)
	}
	return sb.String()
}

// jsonReport is the --json format.
type jsonReport struct {
	Suite        string         `json:"suite"`
	SuiteVersion string         `json:"suite_version"`
	Protocol     int            `json:"protocol_version"`
	Mode         Mode           `json:"mode"`
	Target       string         `json:"target"`
	Server       string         `json:"server,omitempty"`
	Started      time.Time      `json:"started"`
	DurationMs   int64          `json:"duration_ms"`
	Conforming   bool           `json:"conforming"`
	Strict       bool           `json:"strict"`
	Summary      map[string]int `json:"summary"`
	Cases        []jsonCase     `json:"cases"`
}

type jsonCase struct {
	ID           string   `json:"id"`
	Level        Level    `json:"level"`
	Requirements []string `json:"requirements"`
	Description  string   `json:"description"`
	Verdict      Verdict  `json:"verdict"`
	Reason       string   `json:"reason,omitempty"`
	Expected     string   `json:"expected,omitempty"`
	Seen         string   `json:"seen,omitempty"`
	Notes        []string `json:"notes,omitempty"`
	DurationMs   float64  `json:"duration_ms"`
	Transcript   []Entry  `json:"transcript,omitempty"`
}

// WriteJSON writes the JSON report: the suite version, the target, and
// per case its verdict, requirement IDs and timing (transcripts only for
// failures and errors).
func (r *Report) WriteJSON(w io.Writer, strict bool) error {
	jr := jsonReport{Suite: r.Suite, SuiteVersion: r.SuiteVersion, Protocol: 1, Mode: r.Mode, Target: redact(r.Target, r.secrets), Server: r.Server,
		Started: r.Started, DurationMs: r.Duration.Milliseconds(), Conforming: r.OK(strict), Strict: strict, Summary: map[string]int{}}
	for v, n := range r.Counts() {
		jr.Summary[strings.ToLower(string(v))] = n
	}
	jr.Summary["total"] = len(r.Results)
	for _, res := range r.Results {
		jc := jsonCase{ID: res.Case.ID, Level: res.Case.Level, Requirements: res.Case.Reqs, Description: res.Case.Desc, Verdict: res.Verdict,
			Reason: res.Reason, Expected: res.Expected, Seen: res.Seen, Notes: res.Notes, DurationMs: float64(res.Duration.Microseconds()) / 1000}
		if res.Verdict == Fail || res.Verdict == Error {
			jc.Transcript = res.Transcript
		}
		jr.Cases = append(jr.Cases, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jr)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Errors  int          `xml:"errors,attr"`
	Skipped int          `xml:"skipped,attr"`
	Time    string       `xml:"time,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Fails     int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Props     []junitProp `xml:"properties>property"`
	Cases     []junitCase `xml:"testcase"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes a JUnit XML report: one testsuite per mode, one
// testcase per case (classname the case's area, name its ID). A FAIL of a
// MAY case, or of a SHOULD case without strict, is reported as a passed
// test with its details in system-out, so that CI fails exactly when the
// exit status does.
func (r *Report) WriteJUnit(w io.Writer, strict bool) error {
	s := junitSuite{Name: "syncprint-conformance/" + string(r.Mode), Timestamp: r.Started.Format(time.RFC3339), Time: secs(r.Duration),
		Props: []junitProp{{"suite_version", r.SuiteVersion}, {"target", redact(r.Target, r.secrets)}, {"server", r.Server}}}
	for i := range r.Results {
		res := &r.Results[i]
		jc := junitCase{Name: res.Case.ID, Classname: classname(res.Case.ID), Time: secs(res.Duration)}
		msg := fmt.Sprintf("%s %s [%s]", res.Case.Level, res.Case.Desc, strings.Join(res.Case.Reqs, " "))
		switch {
		case res.Verdict == Skip:
			jc.Skipped = &junitMessage{Message: res.Reason}
			s.Skipped++
		case res.Failed(strict) && res.Verdict == Fail:
			jc.Failure = &junitMessage{Message: msg + ": expected " + res.Expected, Type: string(res.Case.Level), Body: res.Details()}
			s.Fails++
		case res.Failed(strict):
			jc.Error = &junitMessage{Message: firstLine(res.Reason), Type: "harness", Body: res.Details()}
			s.Errors++
		case res.Verdict != Pass:
			jc.SystemOut = fmt.Sprintf("%s (not counted: %s)\n%s", res.Verdict, res.Case.Level, res.Details())
		}
		s.Cases = append(s.Cases, jc)
	}
	s.Tests = len(s.Cases)
	out := junitSuites{Name: "syncprint-conformance", Tests: s.Tests, Fails: s.Fails, Errors: s.Errors, Skipped: s.Skipped, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func classname(id string) string {
	i := strings.LastIndexByte(id, '/')
	return strings.ReplaceAll(id[:i], "/", ".")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
