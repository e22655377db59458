package conformance

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// Requirement is one numbered statement of spec/PROTOCOL.md.
type Requirement struct {
	ID    string // "SP-6.3-2"
	Level Level  // strongest keyword in the statement; "" when it has none
	// Text is the statement's first paragraph, without Markdown emphasis.
	Text string
}

var (
	reqStart  = regexp.MustCompile(`^\*\*\[(SP-[0-9]+(?:\.[0-9]+)?-[0-9]+)\]\*\*\s*(.*)$`)
	quotedKW  = regexp.MustCompile(`"[A-Z ]+"`)
	mustWords = regexp.MustCompile(`\b(MUST|REQUIRED|SHALL)\b`)
	shouldKW  = regexp.MustCompile(`\b(SHOULD|RECOMMENDED)\b`)
	mayKW     = regexp.MustCompile(`\b(MAY|OPTIONAL)\b`)
)

// ParseRequirements extracts the numbered statements of PROTOCOL.md, in
// document order. A statement runs from its **[SP-x-y]** to the next one,
// a heading or a horizontal rule; its level is the strongest RFC 2119
// keyword in that span (quoted keywords, as in SP-1-1, do not count).
func ParseRequirements(md []byte) []Requirement {
	var out []Requirement
	var cur *Requirement
	var block, first strings.Builder
	inFirst := false
	flush := func() {
		if cur == nil {
			return
		}
		b := quotedKW.ReplaceAllString(block.String(), "")
		switch {
		case mustWords.MatchString(b):
			cur.Level = MUST
		case shouldKW.MatchString(b):
			cur.Level = SHOULD
		case mayKW.MatchString(b):
			cur.Level = MAY
		}
		cur.Text = strings.Join(strings.Fields(strings.ReplaceAll(first.String(), "**", "")), " ")
		out = append(out, *cur)
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := reqStart.FindStringSubmatch(line); m != nil {
			flush()
			cur = &Requirement{ID: m[1]}
			block.Reset()
			first.Reset()
			block.WriteString(m[2] + "\n")
			first.WriteString(m[2] + " ")
			inFirst = true
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "---" {
			flush()
			continue
		}
		block.WriteString(line + "\n")
		if inFirst {
			if strings.TrimSpace(line) == "" {
				inFirst = false
			} else {
				first.WriteString(line + " ")
			}
		}
	}
	flush()
	return out
}

// RequirementByID returns a requirement of the PROTOCOL.md the suite was
// generated from (requirements_gen.go).
func RequirementByID(id string) (Requirement, bool) {
	for _, r := range specRequirements {
		if r.ID == id {
			return r, true
		}
	}
	return Requirement{}, false
}

// Requirements returns every requirement of the PROTOCOL.md the suite was
// generated from, in document order.
func Requirements() []Requirement { return append([]Requirement(nil), specRequirements...) }
