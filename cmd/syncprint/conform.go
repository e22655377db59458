package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/syncprint/syncprint/conformance"
)

const conformUsage = `Usage:
  syncprint conform list [--mode server|client]
  syncprint conform explain CASE-ID
  syncprint conform server --url URL --token TOKEN --token-b TOKEN [--token-c TOKEN] [--admin-token TOKEN]
                           [--run PATTERN[,PATTERN]] [--strict] [--junit FILE] [--json FILE] [--verbose]
  syncprint conform client --driver 'COMMAND' [--run PATTERN[,PATTERN]] [--strict] [--junit FILE] [--json FILE]
  syncprint conform coverage [--spec spec/PROTOCOL.md] [--write]

Tokens may also come from $SYNCPRINT_CONFORM_TOKEN, $SYNCPRINT_CONFORM_TOKEN_B,
$SYNCPRINT_CONFORM_TOKEN_C and $SYNCPRINT_CONFORM_ADMIN_TOKEN (they never appear in reports). Exit status: 0 when every MUST
case passed or was skipped (--strict: every SHOULD case too), 1 otherwise, 2 usage error.
`

func cmdConform(e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, conformUsage)
		return usagef("conform: no subcommand given")
	}
	switch args[0] {
	case "list":
		return conformList(e, args[1:])
	case "explain":
		return conformExplain(e, args[1:])
	case "server":
		return conformServer(e, args[1:])
	case "client":
		return conformClient(e, args[1:])
	case "coverage":
		return conformCoverage(e, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, conformUsage)
		return errHelp
	default:
		fmt.Fprint(e.stderr, conformUsage)
		return usagef("conform: unknown subcommand %q", args[0])
	}
}

func conformList(e env, args []string) error {
	fs := newFlags("conform list", "syncprint conform list [--mode server|client]", e.stderr)
	mode := fs.String("mode", "", "only cases of this mode: server or client")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, c := range conformance.Cases() {
		if *mode != "" && string(c.Mode()) != *mode {
			continue
		}
		fmt.Fprintf(e.stdout, "%-58s %-6s %-28s %s\n", c.ID, c.Level, strings.Join(c.Reqs, ","), c.Desc)
	}
	return nil
}

func conformExplain(e env, args []string) error {
	if len(args) != 1 {
		return usagef("usage: syncprint conform explain CASE-ID")
	}
	c, ok := conformance.Lookup(args[0])
	if !ok {
		return exitError{exitNotFound, fmt.Errorf("no case %q (see syncprint conform list)", args[0])}
	}
	fmt.Fprintf(e.stdout, "%s  (%s)\n%s\n\n", c.ID, c.Level, c.Desc)
	fmt.Fprintln(e.stdout, "Requirements:")
	for _, id := range c.Reqs {
		text := "(not in this suite's copy of PROTOCOL.md)"
		if r, ok := conformance.RequirementByID(id); ok {
			text = r.Text
		}
		fmt.Fprintf(e.stdout, "  [%s] %s\n", id, text)
	}
	if len(c.Needs) > 0 {
		fmt.Fprintf(e.stdout, "\nNeeds (skipped without): %s\n", strings.Join(c.Needs, ", "))
	}
	fmt.Fprintf(e.stdout, "\nProcedure and assertions:\n%s\n", indentLines(c.Procedure, "  "))
	return nil
}

func indentLines(s, p string) string { return p + strings.ReplaceAll(s, "\n", "\n"+p) }

// reportFlags are the flags shared by the server and client modes.
type reportFlags struct {
	run     *string
	strict  *bool
	junit   *string
	json    *string
	verbose *bool
}

func addReportFlags(fs *flagSet) reportFlags {
	return reportFlags{
		run:     fs.String("run", "", "only cases whose ID has one of these prefixes or matches one of these globs (comma-separated)"),
		strict:  fs.Bool("strict", false, "SHOULD cases must pass too"),
		junit:   fs.String("junit", "", "write a JUnit XML report to FILE"),
		json:    fs.String("json", "", "write a JSON report to FILE"),
		verbose: fs.Bool("verbose", false, "print the transcript of every failure and error as it happens"),
	}
}

func (rf reportFlags) patterns() []string {
	if *rf.run == "" {
		return nil
	}
	return strings.Split(*rf.run, ",")
}

// finish writes the reports and turns the verdict into the exit status.
func (rf reportFlags) finish(e env, rep *conformance.Report) error {
	rep.WriteText(e.stdout, *rf.strict)
	for _, out := range []struct {
		path  string
		write func(io.Writer, bool) error
	}{{*rf.junit, rep.WriteJUnit}, {*rf.json, rep.WriteJSON}} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		werr := out.write(f, *rf.strict)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", out.path, werr)
		}
	}
	if !rep.OK(*rf.strict) {
		return exitError{exitFailure, fmt.Errorf("conformance: %s", rep.Summary())}
	}
	return nil
}

func conformProgress(e env, verbose bool) conformance.Progress {
	return func(i, n int, c *conformance.Case, res *conformance.Result) {
		if res == nil {
			return
		}
		fmt.Fprintln(e.stdout, conformance.ProgressLine(i, n, res))
		if verbose && (res.Verdict == conformance.Fail || res.Verdict == conformance.Error) {
			fmt.Fprint(e.stdout, indentLines(strings.TrimRight(res.Details(), "\n"), "    ")+"\n")
		}
	}
}

// signalContext is cancelled on SIGINT/SIGTERM.
func signalContext(e env) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := e.interrupt
	var stop func()
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		sigs, stop = ch, func() { signal.Stop(ch) }
	}
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		if stop != nil {
			stop()
		}
		cancel()
	}
}

func conformServer(e env, args []string) error {
	fs := flagSet{newFlags("conform server", "syncprint conform server --url URL --token TOKEN --token-b TOKEN [--token-c TOKEN] [options]", e.stderr)}
	url := fs.String("url", "", "base URL of the server under test")
	tok := fs.String("token", "", "a user token of one user (default $SYNCPRINT_CONFORM_TOKEN)")
	tokB := fs.String("token-b", "", "a user token of another user (default $SYNCPRINT_CONFORM_TOKEN_B)")
	tokC := fs.String("token-c", "", "optional: a token of a second device of the first user (default $SYNCPRINT_CONFORM_TOKEN_C)")
	admin := fs.String("admin-token", "", "optional: the server's admin token, for the admin-token cases (default $SYNCPRINT_CONFORM_ADMIN_TOKEN)")
	timeout := fs.Duration("case-timeout", 2*time.Minute, "longest run of one case")
	rf := addReportFlags(&fs)
	if err := parse(fs.FlagSet, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("conform server takes no arguments, got %q", fs.Args())
	}
	for _, f := range []struct {
		v   *string
		env string
	}{{tok, "SYNCPRINT_CONFORM_TOKEN"}, {tokB, "SYNCPRINT_CONFORM_TOKEN_B"}, {tokC, "SYNCPRINT_CONFORM_TOKEN_C"}, {admin, "SYNCPRINT_CONFORM_ADMIN_TOKEN"}} {
		if *f.v == "" {
			*f.v = e.getenv(f.env)
		}
	}
	if *url == "" || *tok == "" || *tokB == "" {
		return usagef("conform server needs --url, --token and --token-b")
	}
	if *tok == *tokB || *tokC != "" && (*tokC == *tok || *tokC == *tokB) {
		return usagef("--token, --token-b and --token-c must be different tokens")
	}
	cases := conformance.Select(conformance.ModeServer, rf.patterns())
	if len(cases) == 0 {
		return usagef("--run %q selects no server case", *rf.run)
	}
	ctx, stop := signalContext(e)
	defer stop()
	fmt.Fprintf(e.stdout, "syncprint conformance %s: %d server cases against %s\n", conformance.SuiteVersion, len(cases), *url)
	rep := conformance.RunServer(ctx, conformance.Config{
		Target:      conformance.Target{URL: *url, Token: *tok, TokenB: *tokB, TokenC: *tokC, AdminToken: *admin},
		CaseTimeout: *timeout,
	}, cases, conformProgress(e, *rf.verbose))
	return rf.finish(e, rep)
}

func conformCoverage(e env, args []string) error {
	fs := newFlags("conform coverage", "syncprint conform coverage [--spec spec/PROTOCOL.md] [--write]", e.stderr)
	spec := fs.String("spec", "spec/PROTOCOL.md", "the protocol text")
	write := fs.Bool("write", false, "write spec/COVERAGE.md and conformance/requirements_gen.go (run from the repository root)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *write {
		problems, err := conformance.Generate(*spec, "spec/COVERAGE.md", "conformance/requirements_gen.go")
		if err != nil {
			return err
		}
		return reportProblems(e, problems)
	}
	reqs := conformance.Requirements()
	if b, err := os.ReadFile(*spec); err == nil {
		reqs = conformance.ParseRequirements(b)
	}
	cv := conformance.NewCoverage(reqs)
	_, _ = e.stdout.Write(cv.Markdown())
	return reportProblems(e, cv.Problems())
}

func reportProblems(e env, problems []string) error {
	for _, p := range problems {
		fmt.Fprintln(e.stderr, "coverage:", p)
	}
	if len(problems) > 0 {
		return exitError{exitFailure, fmt.Errorf("coverage: %d problem(s)", len(problems))}
	}
	return nil
}
