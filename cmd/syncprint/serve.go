package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// serverURLFile is written into the data dir while a server runs, so that
// `syncprint token create --data DIR` can reach it through the admin
// endpoint when the store is locked by that server.
const serverURLFile = "server.url"

// First-start defaults: the user and device of the token printed when a
// server starts on a data dir without users.
const (
	firstUser   = "default"
	firstDevice = "device1"
)

const serveUsage = "syncprint serve [--addr 127.0.0.1:7070] [--data DIR] [--policy COLLECTION=RULE]... [--default-policy RULE] [--limit NAME=VALUE]..."

func cmdServe(e env, args []string) error {
	fs := newFlags("serve", serveUsage, e.stderr)
	addr := fs.String("addr", "127.0.0.1:7070", "address to listen on (host:port)")
	data := fs.String("data", "./data", "data directory (created if missing)")
	policies := policyFlag{}
	fs.Var(policies, "policy", "precedence rule of one collection, COLLECTION=RULE (repeatable)")
	defRule := protocol.ServerWins
	fs.Var(ruleFlag{&defRule}, "default-policy", "precedence rule of every other collection (server-wins, client-wins, latest-wins, manual)")
	var limits protocol.Limits
	fs.Var(limitFlag{&limits}, "limit", "a limit the server announces, NAME=VALUE (repeatable): "+strings.Join(limitNames(), ", ")+
		" (the spec's section 2; unset ones keep the defaults)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	rate := fs.Float64("rate-limit", 0, "requests per second allowed per token (0: no limit)")
	grace := fs.Duration("shutdown-timeout", 15*time.Second, "how long to wait for in-flight requests on SIGINT/SIGTERM")
	mapped := fs.Int64("mapped-budget-mb", 0, "resident pages of the mapped store file the server keeps before it lets go of them, in MiB (Linux; 0: 128, -1: no limit); a working set larger than this is faulted back in after each release, so give it the RAM you can spare")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the server's whole run to FILE")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if *mapped < -1 {
		return usagef("--mapped-budget-mb must be -1 (no limit), 0 (the default) or a size in MiB, got %d", *mapped)
	}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	logger, err := newLogger(e, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	switch {
	case heap.err != nil:
		logger.Warn("heap: huge pages not advised", "err", heap.err)
	case heap.res.Advised > 0:
		logger.Debug("heap: huge pages advised", "bytes", heap.res.Advised, "thp", heap.res.Mode)
	case heap.res.Skipped != "":
		logger.Debug("heap: ordinary pages", "why", heap.res.Skipped)
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	srv, err := serverd.Open(serverd.Config{
		DataDir:      *data,
		DefaultRule:  defRule,
		Rules:        policies,
		RateLimit:    *rate,
		Limits:       limits,
		MappedBudget: *mapped << 20,
		Logger:       logger,
		Version:      version,
	})
	if err != nil {
		if errors.Is(err, serverd.ErrDataDirLocked) {
			return fmt.Errorf("data dir %s is in use by another syncprint process; stop it or choose another --data", *data)
		}
		return err
	}
	closeStore := func() {
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	n, err := srv.UserCount()
	if err != nil {
		closeStore()
		return err
	}
	var firstToken string
	if n == 0 {
		if firstToken, err = srv.CreateToken(firstUser, firstDevice); err != nil {
			closeStore()
			return fmt.Errorf("create first token: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		closeStore()
		return fmt.Errorf("listen: %w", err)
	}
	url := "http://" + ln.Addr().String()
	urlPath := filepath.Join(*data, serverURLFile)
	if err := os.WriteFile(urlPath, []byte(url+"\n"), 0o600); err != nil {
		ln.Close()
		closeStore()
		return fmt.Errorf("write %s: %w", urlPath, err)
	}
	defer os.Remove(urlPath)
	stopAdmin, sock, err := startAdminSocket(srv, *data, logger)
	if err != nil {
		logger.Warn("online backups unavailable (syncprint backup works on the stopped server)", "err", err)
	} else {
		defer stopAdmin()
	}

	fmt.Fprintf(e.stdout, "syncprint %s listening on %s (data %s, epoch %s)\n", version, url, *data, srv.Epoch())
	fmt.Fprintf(e.stdout, "rules: default %s%s\n", defRule, describePolicies(policies))
	if set := (limitFlag{&limits}).String(); set != "" {
		fmt.Fprintf(e.stdout, "limits: %s (the others at their defaults)\n", strings.ReplaceAll(set, ",", ", "))
	}
	if from := srv.RestoredFrom(); from != "" {
		fmt.Fprintf(e.stdout, "data set restored from a backup of epoch %s: new epoch %s; clients pull every collection again\n", from, srv.Epoch())
	}
	if sock != "" {
		fmt.Fprintf(e.stdout, "backups: syncprint backup --data %s FILE (admin socket %s)\n", *data, sock)
	}
	if firstToken != "" {
		// The token is printed once, on standard output only (never to the
		// log), so that a person starting the server can use it at once.
		fmt.Fprintf(e.stdout, "first start: created user %q; token for device %q (shown once):\n  %s\n", firstUser, firstDevice, firstToken)
		fmt.Fprintf(e.stdout, "more tokens: syncprint token create --data %s --user %s --device NAME\n", *data, firstUser)
		fmt.Fprintf(e.stdout, "try: syncprint client --store a.db --server %s --token TOKEN put notes hello 'Hello, world'\n", url)
	}

	fmt.Fprintln(e.stdout, "ready; stop with Ctrl-C (SIGINT) or SIGTERM")

	sigs := e.interrupt
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		closeStore()
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case sig := <-sigs:
		logger.Info("shutting down", "signal", fmt.Sprint(sig), "grace", grace.String())
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-served; err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		fmt.Fprintln(e.stdout, "syncprint: stopped cleanly")
		return nil
	}
}

// startProfile starts a CPU profile into path; stop ends it.
func startProfile(path string) (stop func(), err error) {
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

func describePolicies(p policyFlag) string {
	if len(p) == 0 {
		return ""
	}
	return "; " + strings.ReplaceAll(p.String(), ",", ", ")
}

func newLogger(e env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	default:
		return nil, usagef("--log-format %q: want text or json", format)
	}
}
