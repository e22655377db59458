package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
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
