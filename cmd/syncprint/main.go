// Command syncprint is the one binary of Syncprint: the sync server
// (serve), token administration (token), a command-line client over a local
// store (client), the conformance suite (conform) and the benchmark against
// a peer (bench).
//
//	syncprint serve [--addr 127.0.0.1:7070] [--data DIR] [--policy COLL=RULE]... [--default-policy RULE]
//	syncprint token create --data DIR --user NAME [--device NAME]
//	syncprint backup --data DIR FILE
//	syncprint restore --data DIR FILE
//	syncprint client [--store FILE] [--server URL] [--token TOKEN] COMMAND [ARGS]
//	syncprint conform list | explain ID | server ... | client ... | coverage
//	syncprint client-driver ...
//	syncprint bench [--systems syncprint,pouchdb] [--json FILE] [--svg FILE] ...
//	syncprint sim [--seed N] [--runs M] [--clients K] [--steps S] [--rule R]
//	syncprint version
//
// Exit status: 0 success, 1 failure, 2 usage error, 3 not found (client get,
// rm and resolve of an item that does not exist).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/syncprint/syncprint/internal/gcfloor"
	"github.com/syncprint/syncprint/internal/hugeheap"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

// usageError is returned for a malformed command line; it exits with
// exitUsage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit code for an error already explained.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

const topUsage = `syncprint: fingerprint-based sync for offline-first apps

Usage:
  syncprint serve   [--addr 127.0.0.1:7070] [--data DIR] [--policy COLL=RULE]... [--default-policy RULE]
  syncprint token   create --data DIR --user NAME [--device NAME]
  syncprint backup  --data DIR FILE      (a running server's too)
  syncprint restore --data DIR FILE      (the server stopped; it takes a new epoch)
  syncprint client  [--store FILE] [--server URL] [--token TOKEN] COMMAND [ARGS]
  syncprint conform list | explain ID | server --url URL ... | client --driver CMD | coverage
  syncprint client-driver --store FILE   (the conformance driver over this client)
  syncprint bench   [--systems syncprint,pouchdb] [--json FILE] [--svg FILE] [sizes...]
  syncprint sim     [--seed N] [--runs M] [--clients K] [--steps S] [--rule R]   (deterministic simulation)
  syncprint version

Rules: server-wins, client-wins, latest-wins, manual.
Run "syncprint COMMAND --help" for the options of a command.
`

// env carries the process's standard streams and environment so that
// commands are testable in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// interrupt, when non-nil, delivers SIGINT/SIGTERM to long-running
	// commands; tests close it to stop a server.
	interrupt <-chan os.Signal
}

func main() {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	heap = adviseHeap(os.Getenv, os.Args[1:])
	if floorGC(os.Getenv, os.Args[1:]) {
		gcfloor.Start(gcfloor.DefaultFloor)
	}
	os.Exit(run(e, os.Args[1:]))
}

// floorGC says whether the command line gets a floor under its heap
// target (internal/gcfloor): the commands that move data, as for huge
// pages, unless the user set GOGC or SYNCPRINT_GC_FLOOR=off. A new
// process with a small live heap otherwise collects every few MB of a sync
// session's garbage.
func floorGC(getenv func(string) string, args []string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	if v := getenv("SYNCPRINT_GC_FLOOR"); v == "off" || v == "0" || v == "false" {
		return false
	}
	return movesData(args)
}

// heapAdvice is what main's advice on the heap did.
type heapAdvice struct {
	res hugeheap.Result
	err error
}

// heap is main's heapAdvice (serve logs it).
var heap heapAdvice

// adviseHeap backs the process's heap with huge pages where the kernel
// leaves that to it (internal/hugeheap), for the commands that move data:
// serve, client sync and bench-client. A fresh process's first touch of
// each 4 KiB page of memory is expensive, and such a command grows its
// heap by tens of MB in its first seconds; the advice itself costs a few
// milliseconds (a first garbage collection), which the other commands,
// with small heaps, are spared. SYNCPRINT_HUGE_HEAP=off, or
// GODEBUG=disablethp=1, keeps ordinary pages.
func adviseHeap(getenv func(string) string, args []string) (h heapAdvice) {
	if v := getenv("SYNCPRINT_HUGE_HEAP"); v == "off" || v == "0" || v == "false" {
		h.res.Skipped = "SYNCPRINT_HUGE_HEAP=" + v
		return h
	}
	if !movesData(args) {
		h.res.Skipped = "a command with a small heap"
		return h
	}
	h.res, h.err = hugeheap.Advise(hugeheap.DefaultReserve)
	return h
}

// movesData says whether the command line is one that moves data.
func movesData(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "serve", "bench-client":
		return true
	case "client":
		return slices.Contains(args[1:], "sync")
	}
	return false
}

// run executes one command line and returns the exit status.
func run(e env, args []string) int {
	err := dispatch(e, args)
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "syncprint: %v\n", err)
		return exitUsage
	case errors.As(err, &ee):
		fmt.Fprintf(e.stderr, "syncprint: %v\n", ee.err)
		return ee.code
	case errors.Is(err, errHelp):
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "syncprint: %v\n", err)
		return exitFailure
	}
}

var errHelp = errors.New("help shown")

func dispatch(e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "serve":
		return cmdServe(e, args[1:])
	case "token":
		return cmdToken(e, args[1:])
	case "backup":
		return cmdBackup(e, args[1:])
	case "restore":
		return cmdRestore(e, args[1:])
	case "client":
		return cmdClient(e, args[1:])
	case "conform":
		return cmdConform(e, args[1:])
	case "client-driver":
		return cmdClientDriver(e, args[1:])
	case "bench":
		return cmdBench(e, args[1:])
	case "bench-client":
		return cmdBenchClient(e, args[1:])
	case "sim":
		return cmdSim(e, args[1:])
	case "version", "--version":
		fmt.Fprintf(e.stdout, "syncprint %s\n", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, topUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, topUsage)
		return usagef("unknown command %q", args[0])
	}
}
