package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// These tests run the real binary the way a person does: `syncprint serve`
// as a separate process on a loopback port, and `syncprint client` commands
// against it from two stores.

var binPath string

// mu guards serveProc's url, token and stdout, written by its output
// reader goroutine.
var mu sync.Mutex

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncprint-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "syncprint")
	out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		// -race needs cgo; fall back to a plain build rather than skip.
		out, err = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "build syncprint: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveProc is a running `syncprint serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	token  string // printed on first start
	stdout *syncBuffer
	done   chan error // the exit, sent once by the goroutine that waits for it
	// stopped: stop ran (the test's goroutine only).
	stopped bool
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

var tokenLine = regexp.MustCompile(`^\s+(sp_\S+)\s*$`)

func startServe(t *testing.T, data string, args ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binPath, append([]string{"serve", "--addr", addr, "--data", data}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	p := &serveProc{cmd: cmd, stdout: &syncBuffer{}, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); pw.Close() }()
	ready := make(chan struct{})
	var once sync.Once
	markReady := func() { once.Do(func() { close(ready) }) }
	go func() {
		defer markReady()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			mu.Lock()
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				p.token = m[1]
			}
			if strings.Contains(line, "listening on ") {
				p.url = "http://" + addr
			}
			mu.Unlock()
			if strings.HasPrefix(line, "ready;") {
				markReady()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start; stdout:\n%s\nstderr:\n%s", p.stdout, stderr.String())
	}
	require.NotEmpty(t, p.url, "server did not report its address; stdout:\n%s\nstderr:\n%s", p.stdout, stderr.String())
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *serveProc) stop(t *testing.T) {
	// cmd.ProcessState is written by the goroutine in Wait: reading it
	// here raced with a server that had exited on its own.
	if p.stopped {
		return
	}
	p.stopped = true
	select {
	case err := <-p.done:
		t.Errorf("serve exited before it was stopped: %v", err)
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		require.NoError(t, err, "serve must exit 0 on SIGTERM")
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatal("serve did not stop on SIGTERM")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

// device runs client commands for one store and token.
type device struct {
	t     *testing.T
	env   []string
	store string
}

func newDevice(t *testing.T, dir, name, url, token string) *device {
	return &device{t: t, store: filepath.Join(dir, name+".db"), env: []string{"SYNCPRINT_SERVER=" + url, "SYNCPRINT_TOKEN=" + token}}
}

func (d *device) run(args ...string) result {
	d.t.Helper()
	return runCLI(d.t, "", d.env, append([]string{"client", "--store", d.store}, args...)...)
}

func (d *device) ok(args ...string) string {
	d.t.Helper()
	r := d.run(args...)
	require.Equal(d.t, 0, r.code, "syncprint client %v\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
	return r.stdout
}

func (d *device) get(coll, id string) string {
	d.t.Helper()
	return d.ok("get", coll, id)
}

func tokenFor(t *testing.T, data, user, dev string) string {
	t.Helper()
	r := runCLI(t, "", nil, "token", "create", "--data", data, "--user", user, "--device", dev)
	require.Equal(t, 0, r.code, "token create: %s", r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	tok := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(tok, "sp_"), "token create must print the token as the last line, got %q", r.stdout)
	return tok
}

type conflictJSON struct {
	ConflictID string `json:"conflict_id"`
	Kind       string `json:"kind"`
	Reason     string `json:"reason"`
	Collection string `json:"collection"`
	ID         string `json:"id"`
	Content    []byte `json:"content"`
}

func conflictsOf(t *testing.T, d *device) []conflictJSON {
	t.Helper()
	var cs []conflictJSON
	require.NoError(t, json.Unmarshal([]byte(d.ok("conflicts", "--json")), &cs))
	return cs
}

func TestTourFromTheReadme(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServe(t, data, "--policy", "notes=latest-wins", "--policy", "tasks=client-wins", "--policy", "wiki=manual", "--default-policy", "server-wins")
	require.NotEmpty(t, srv.token, "first start prints a ready-to-use token:\n%s", srv.stdout)
	require.Contains(t, srv.stdout.String(), "notes=latest-wins")

	// The first-start token works at once.
	first := newDevice(t, dir, "first", srv.url, srv.token)
	first.ok("put", "notes", "hello", "Hello, world")
	require.Contains(t, first.ok("sync"), "1 uploaded")

	// Tokens for two devices while the server runs (through its admin endpoint).
	laptop := newDevice(t, dir, "laptop", srv.url, tokenFor(t, data, "alice", "laptop"))
	phone := newDevice(t, dir, "phone", srv.url, tokenFor(t, data, "alice", "phone"))

	laptop.ok("put", "notes", "groceries", "milk, eggs")
	laptop.ok("put", "tasks", "t1", "call the clinic")
	require.Contains(t, laptop.ok("status"), "pending:    2")
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(laptop.ok("status", "--json")), &st))
	require.Equal(t, 2.0, st["pending"])
	require.NotContains(t, st, "last_sync", "never synced: no zero time")
	require.NotContains(t, st, "next_attempt")
	var items []map[string]any
	require.NoError(t, json.Unmarshal([]byte(laptop.ok("ls", "notes", "--json")), &items))
	require.Len(t, items, 1)
	require.Equal(t, "groceries", items[0]["id"])
	require.Regexp(t, "^[0-9a-f]{64}$", items[0]["fingerprint"], "fingerprints are hex in JSON")
	require.Contains(t, laptop.ok("sync"), "2 uploaded")
	require.Contains(t, phone.ok("sync"), "2 downloaded")
	require.Equal(t, "milk, eggs", phone.get("notes", "groceries"))

	// Alice's data is not the first user's.
	first.ok("sync")
	require.Equal(t, 3, first.run("get", "notes", "groceries").code, "another user's item must look missing")

	// latest-wins: the later edit wins wherever it was made; the loser is kept.
	laptop.ok("put", "notes", "groceries", "milk, eggs, bread")
	phone.ok("put", "notes", "groceries", "milk, eggs, coffee")
	// client-wins: the last device to sync wins; the overwritten version is kept.
	laptop.ok("put", "tasks", "t1", "call the clinic at 9")
	phone.ok("put", "tasks", "t1", "call the clinic at 10")
	// server-wins (default): the first version on the server stays.
	laptop.ok("put", "contacts", "bob", "555-0100")
	laptop.ok("sync")
	phone.ok("put", "contacts", "bob", "555-0199")
	phone.ok("sync")
	laptop.ok("sync")
	for _, d := range []*device{laptop, phone} {
		require.Equal(t, "milk, eggs, coffee", d.get("notes", "groceries"), "latest-wins keeps the later edit")
		require.Equal(t, "call the clinic at 10", d.get("tasks", "t1"), "client-wins keeps the last upload")
		require.Equal(t, "555-0100", d.get("contacts", "bob"), "server-wins keeps the server's version")
	}
	// Every losing version is recoverable from some conflict list.
	recoverable := map[string]bool{}
	for _, d := range []*device{laptop, phone} {
		for _, c := range conflictsOf(t, d) {
			recoverable[string(c.Content)] = true
		}
	}
	for _, lost := range []string{"milk, eggs, bread", "call the clinic at 9", "555-0199"} {
		require.True(t, recoverable[lost], "losing version %q must be recoverable; have %v", lost, recoverable)
	}

	// manual: the server keeps the first version and records the second.
	phone.ok("put", "wiki", "howto", "v1 from phone")
	phone.ok("sync")
	laptop.ok("put", "wiki", "howto", "v2 from laptop")
	laptop.ok("sync")
	require.Equal(t, "v1 from phone", laptop.get("wiki", "howto"))
	// conflicts asks the server: the phone lists the record without syncing.
	var manual *conflictJSON
	for _, c := range conflictsOf(t, phone) {
		if c.Reason == "manual" && c.ID == "howto" {
			manual = &c
		}
	}
	require.NotNil(t, manual, "the phone lists the server's manual conflict record")
	require.Equal(t, "v2 from laptop", string(manual.Content))
	require.Contains(t, phone.ok("resolve", "wiki", "howto", "--use", manual.ConflictID), "resolved")
	laptop.ok("sync")
	require.Equal(t, "v2 from laptop", laptop.get("wiki", "howto"))
	for _, c := range conflictsOf(t, laptop) {
		require.NotEqual(t, "howto", c.ID, "the resolved record is closed for every device")
	}

	// Deletes travel too, and get/rm of a missing item exit 3.
	laptop.ok("rm", "notes", "groceries")
	laptop.ok("sync")
	phone.ok("sync")
	require.Equal(t, 3, phone.run("get", "notes", "groceries").code)
	require.Equal(t, 3, phone.run("rm", "notes", "nope").code)
}

func TestServerRestartKeepsDataAndTokens(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServe(t, data)
	tok := tokenFor(t, data, "carol", "tablet")
	d := newDevice(t, dir, "tablet", srv.url, tok)
	d.ok("put", "notes", "a", "1")
	d.ok("sync")
	srv.stop(t)
	require.Contains(t, srv.stdout.String(), "stopped cleanly")

	// Stopped server: token create opens the data dir directly.
	tok2 := tokenFor(t, data, "carol", "phone")
	srv2 := startServe(t, data)
	require.Empty(t, srv2.token, "a data dir with users prints no first-start token")
	d2 := newDevice(t, dir, "phone", srv2.url, tok2)
	d2.ok("sync")
	require.Equal(t, "1", d2.get("notes", "a"))
	d.env = []string{"SYNCPRINT_SERVER=" + srv2.url, "SYNCPRINT_TOKEN=" + tok}
	d.ok("sync")
}

func TestClientErrorsAreClearAndChangeNothing(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, filepath.Join(dir, "data"))
	d := newDevice(t, dir, "d", srv.url, srv.token)

	r := d.run("put", "Bad Collection", "x", "v")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "collection")
	r = d.run("put", "notes", "", "v")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "id")
	r = d.run("frobnicate")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "unknown command")
	r = d.run("resolve", "notes", "x")
	require.Equal(t, 2, r.code)

	bad := &device{t: t, store: d.store, env: []string{"SYNCPRINT_SERVER=" + srv.url, "SYNCPRINT_TOKEN=sp_not-a-real-token"}}
	bad.ok("put", "notes", "x", "v")
	r = bad.run("sync")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "unauthorized")
	require.Contains(t, d.ok("status"), "pending:    1", "a failed sync leaves the local change pending")

	// stdin input
	out := runCLI(t, "from stdin", d.env, "client", "--store", d.store, "put", "notes", "y", "-")
	require.Equal(t, 0, out.code, out.stderr)
	require.Equal(t, "from stdin", d.get("notes", "y"))

	r = runCLI(t, "", nil, "serve", "--default-policy", "newest-wins")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "unknown precedence rule")
}

func TestServeAnnouncesTheLimitsItIsGivenAndRefusesBadOnes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ arg, want string }{
		{"max_batch_items=0", "max_batch_items must be a whole number from 1 to 2147483647, got \"0\""},
		{"max_batch_items=2147483648", "max_batch_items must be a whole number from 1 to 2147483647"},
		{"max_page=many", "max_page must be a whole number"},
		{"max_batch_item=5", "unknown limit \"max_batch_item\" (limits: max_item_bytes, max_batch_items,"},
		{"max_id_bytes=64", "max_id_bytes is fixed at 256 by the protocol"},
		{"max_ids", "want NAME=VALUE"},
	} {
		r := runCLI(t, "", nil, "serve", "--data", filepath.Join(dir, "bad"), "--limit", tc.arg)
		require.Equal(t, 2, r.code, "%s: %s", tc.arg, r.stderr)
		require.Contains(t, r.stderr, tc.want, tc.arg)
	}
	r := runCLI(t, "", nil, "serve", "--data", filepath.Join(dir, "bad"), "--limit", "max_ids=10", "--limit", "max_ids=20")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "limit max_ids given twice")
	_, err := os.Stat(filepath.Join(dir, "bad"))
	require.ErrorIs(t, err, os.ErrNotExist, "a refused flag creates nothing")

	data := filepath.Join(dir, "data")
	srv := startServe(t, data, "--limit", "max_batch_items=3", "--limit", "max_page=4")
	require.Contains(t, srv.stdout.String(), "limits: max_batch_items=3, max_page=4 (the others at their defaults)")
	tok := tokenFor(t, data, "erin", "laptop")
	req, err := http.NewRequest(http.MethodGet, srv.url+protocol.PathInfo, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var info protocol.Info
	require.NoError(t, protocol.Unmarshal(body, &info))
	want := protocol.DefaultLimits()
	want.MaxBatchItems, want.MaxPage = 3, 4
	require.Equal(t, want, info.Limits, "the two limits given, the defaults for the rest")
	// The server holds to what it announces: four uploads are one too many.
	four := protocol.ExchangeRequest{Collection: "notes", BatchID: "limit-test-batch-0001"}
	for i := range 4 {
		four.Uploads = append(four.Uploads, protocol.Upload{ID: fmt.Sprintf("x%d", i), FP: make([]byte, 32), HLC: 1})
	}
	out, err := protocol.Marshal(&four)
	require.NoError(t, err)
	req, err = http.NewRequest(http.MethodPost, srv.url+protocol.PathExchange, bytes.NewReader(out))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", protocol.ContentType)
	req.Header.Set(protocol.HeaderVersion, "1")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	var refusal protocol.Error
	require.NoError(t, protocol.Unmarshal(body, &refusal), "%s", body)
	require.Equal(t, protocol.CodeTooManyItems, refusal.Code, refusal.Message)

	// Ten items go up in exchanges of at most three and come down in
	// pages of at most four.
	a := newDevice(t, dir, "laptop", srv.url, tok)
	for i := range 10 {
		a.ok("put", "notes", fmt.Sprintf("n%02d", i), fmt.Sprintf("note %d", i))
	}
	a.ok("sync")
	b := newDevice(t, dir, "phone", srv.url, tokenFor(t, data, "erin", "phone"))
	b.ok("sync")
	for i := range 10 {
		require.Equal(t, fmt.Sprintf("note %d", i), b.get("notes", fmt.Sprintf("n%02d", i)))
	}
}

func TestServeTakesAMappedBudgetAndRefusesABadOne(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, "", nil, "serve", "--data", filepath.Join(dir, "bad"), "--mapped-budget-mb", "-2")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "--mapped-budget-mb must be -1 (no limit), 0 (the default) or a size in MiB, got -2")
	_, err := os.Stat(filepath.Join(dir, "bad"))
	require.ErrorIs(t, err, os.ErrNotExist, "a refused flag creates nothing")

	// A 1 MiB budget: the server lets go of its mapped pages at every
	// check, and serves as before.
	data := filepath.Join(dir, "data")
	srv := startServe(t, data, "--mapped-budget-mb", "1")
	tok := tokenFor(t, data, "dana", "laptop")
	a := newDevice(t, dir, "laptop", srv.url, tok)
	for i := range 20 {
		a.ok("put", "notes", fmt.Sprintf("n%02d", i), strings.Repeat("x", 10_000+i))
	}
	a.ok("sync")
	b := newDevice(t, dir, "phone", srv.url, tokenFor(t, data, "dana", "phone"))
	b.ok("sync")
	for i := range 20 {
		require.Equal(t, strings.Repeat("x", 10_000+i), b.get("notes", fmt.Sprintf("n%02d", i)))
	}
}
