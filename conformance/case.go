package conformance

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Level is a case's requirement level, the strongest RFC 2119 keyword of
// the requirements it checks.
type Level string

// Levels.
const (
	MUST   Level = "MUST"
	SHOULD Level = "SHOULD"
	MAY    Level = "MAY"
)

// Mode says what a case tests.
type Mode string

// Modes.
const (
	// ModeServer cases talk to a server under test as clients.
	ModeServer Mode = "server"
	// ModeClient cases play a scripted server to a client under test.
	ModeClient Mode = "client"
)

// Case is one conformance case. The fields are set once at registration
// and never changed.
type Case struct {
	// ID is stable and semantic: "<mode>/<area>/<name>". It is never
	// renumbered or reused; a withdrawn case keeps its ID in Withdrawn.
	ID string
	// Level is MUST, SHOULD or MAY: the verdict of a SHOULD case only
	// fails the run with --strict, that of a MAY case never.
	Level Level
	// Reqs are the requirement IDs the case checks, e.g. "SP-6.3-2".
	Reqs []string
	// Desc is a one-line description.
	Desc string
	// Procedure says what the case does and what it asserts (explain).
	Procedure string
	// Needs lists the optional preconditions, for explain: "token-c",
	// "rule:manual", "feature:watch", ...
	Needs []string
	// Hostile ranks cases that send input that may crash a fragile server
	// (1: malformed msgpack, huge declared lengths; 2: integers out of
	// range); the runner runs them after the others, in increasing rank,
	// so that a crash hides as few verdicts as possible.
	Hostile int

	server func(*T)
	client func(*CT)
}

// Mode returns the case's mode, taken from its ID.
func (c *Case) Mode() Mode {
	m, _, _ := strings.Cut(c.ID, "/")
	return Mode(m)
}

var (
	// regMu guards registry.
	regMu    sync.Mutex
	registry = map[string]*Case{}
)

var idPattern = regexp.MustCompile(`^(server|client)/[a-z0-9-]+(/[a-z0-9-]+)+$`)
var reqPattern = regexp.MustCompile(`^SP-[0-9]+(\.[0-9]+)?-[0-9]+$`)

// register adds a case; a bad or duplicate ID is a bug.
func register(c *Case) {
	regMu.Lock()
	defer regMu.Unlock()
	if !idPattern.MatchString(c.ID) {
		panic("bug: bad case ID " + c.ID)
	}
	if _, dup := registry[c.ID]; dup {
		panic("bug: case registered twice: " + c.ID)
	}
	if c.Level != MUST && c.Level != SHOULD && c.Level != MAY {
		panic("bug: case " + c.ID + " has no level")
	}
	if len(c.Reqs) == 0 || c.Desc == "" || c.Procedure == "" {
		panic("bug: case " + c.ID + " needs requirements, a description and a procedure")
	}
	for _, r := range c.Reqs {
		if !reqPattern.MatchString(r) {
			panic(fmt.Sprintf("bug: case %s cites %q", c.ID, r))
		}
	}
	if (c.server == nil) == (c.client == nil) || (c.server != nil) != (c.Mode() == ModeServer) {
		panic("bug: case " + c.ID + " needs exactly one body of its mode")
	}
	c.Procedure = strings.TrimSpace(dedent(c.Procedure))
	registry[c.ID] = c
}

// serverCase registers a server-mode case.
func serverCase(c Case, body func(*T)) {
	c.server = body
	register(&c)
}

// Cases returns every registered case, ordered by ID.
func Cases() []*Case {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]*Case, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the case with the given ID.
func Lookup(id string) (*Case, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	c, ok := registry[id]
	return c, ok
}

// Select returns the cases of a mode whose ID matches one of the patterns
// (a pattern is an ID prefix, or a glob with *); no pattern selects all.
// Hostile cases come last; otherwise the order is by ID.
func Select(mode Mode, patterns []string) []*Case {
	out := selectCases(mode, patterns)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Hostile < out[j].Hostile })
	return out
}

func selectCases(mode Mode, patterns []string) []*Case {
	var out []*Case
	for _, c := range Cases() {
		if c.Mode() != mode {
			continue
		}
		if len(patterns) == 0 {
			out = append(out, c)
			continue
		}
		for _, p := range patterns {
			if matchID(p, c.ID) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func matchID(pattern, id string) bool {
	if !strings.Contains(pattern, "*") {
		return id == pattern || strings.HasPrefix(id, strings.TrimSuffix(pattern, "/")+"/")
	}
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, id)
	return ok
}

// dedent removes the common leading tabs of a raw-string procedure.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	min := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if min < 0 || n < min {
			min = n
		}
	}
	for i, l := range lines {
		if len(l) >= min && min > 0 {
			lines[i] = l[min:]
		}
	}
	return strings.Join(lines, "\n")
}
