package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/syncprint/syncprint/protocol"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nOptions:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and maps -h to errHelp and other problems to a usage
// error (the flag package has already printed the details).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// policyFlag collects repeated --policy COLLECTION=RULE values.
type policyFlag map[string]protocol.Rule

func (p policyFlag) String() string {
	parts := make([]string, 0, len(p))
	for c, r := range p {
		parts = append(parts, c+"="+string(r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (p policyFlag) Set(v string) error {
	coll, rule, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want COLLECTION=RULE, got %q", v)
	}
	if err := protocol.ValidateCollection(coll); err != nil {
		return err
	}
	r, err := protocol.ParseRule(rule)
	if err != nil {
		return err
	}
	if _, dup := p[coll]; dup {
		return fmt.Errorf("collection %q given twice", coll)
	}
	p[coll] = r
	return nil
}

// limitFlag collects repeated --limit NAME=VALUE values: the limits the
// server announces (SP-2-9), by their names on the wire.
type limitFlag struct{ l *protocol.Limits }

// limitNames lists the limits --limit sets, by their names on the wire.
func limitNames() []string {
	var names []string
	for _, f := range new(protocol.Limits).Chosen() {
		names = append(names, f.Wire)
	}
	return names
}

// field returns the limit named name, nil for none.
func (f limitFlag) field(name string) *int {
	if f.l == nil {
		return nil
	}
	for _, lf := range f.l.Chosen() {
		if lf.Wire == name {
			return lf.V
		}
	}
	return nil
}

func (f limitFlag) String() string {
	if f.l == nil {
		return ""
	}
	var parts []string
	for _, lf := range f.l.Chosen() {
		if *lf.V != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", lf.Wire, *lf.V))
		}
	}
	return strings.Join(parts, ",")
}

func (f limitFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	if name == "max_id_bytes" {
		return fmt.Errorf("max_id_bytes is fixed at %d by the protocol", protocol.MaxIDBytes)
	}
	p := f.field(name)
	if p == nil {
		return fmt.Errorf("unknown limit %q (limits: %s)", name, strings.Join(limitNames(), ", "))
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return fmt.Errorf("%s must be a whole number from 1 to %d, got %q", name, math.MaxInt32, value)
	}
	if *p != 0 {
		return fmt.Errorf("limit %s given twice", name)
	}
	*p = int(n)
	return nil
}

// ruleFlag is a single precedence rule.
type ruleFlag struct{ r *protocol.Rule }

func (f ruleFlag) String() string {
	if f.r == nil {
		return ""
	}
	return string(*f.r)
}

func (f ruleFlag) Set(v string) error {
	r, err := protocol.ParseRule(v)
	if err != nil {
		return err
	}
	*f.r = r
	return nil
}

// flagSet wraps a flag.FlagSet for subcommand definitions.
type flagSet struct{ *flag.FlagSet }
