package serverd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/internal/wirecheck"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Fuzzing the request handlers: arbitrary method, path, headers and body
// in, through the real handler over a real bbolt file. Every answer must
// be a msgpack success or error body with the documented status, in the
// processing order of SP-3-3; no answer but a success may leave a write
// committed; and the bytes the handler allocates are bounded by the
// request and response sizes. Seeds are in testdata/fuzz/FuzzHandler/
// (`make fuzz-seeds` regenerates them).

// Fixed identities of the fuzz fixture, so that seeds can carry valid
// tokens, cursors and conflict IDs.
const (
	fuzzEpoch    = "00112233445566ff"
	fuzzAdmin    = "sp_ADMINADMINADMINADMINADMINADMINADMINADMINADM"
	fuzzAlice    = "sp_ALICEPHONEALICEPHONEALICEPHONEALICEPHONEALI"
	fuzzBob      = "sp_BOBPHONEBOBPHONEBOBPHONEBOBPHONEBOBPHONEBOB"
	fuzzConflict = "0000000000000000000000conf"
	// fuzzCursor is alice's cursor of "notes" at version 2.
	fuzzCursor = "1.00112233445566ff.2.62c78d329cb34dc5"
)

var fuzzSecret = []byte("fuzz fixture cursor secret, 32 b")

// fuzzLimits keep the fixture's requests small and its watches short.
var fuzzLimits = protocol.Limits{
	MaxItemBytes: 1024, MaxBatchItems: 8, MaxBatchBytes: 4096, MaxIDs: 8, MaxPage: 8,
	MaxBodyBytes: 16 << 10, WatchMaxMillis: 1,
}

// fuzzServer is a Server over a bbolt file in a temp dir whose writes are
// tracked, with users alice (two devices) and bob, items in "notes" and a
// manual conflict record in "m".
type fuzzServer struct {
	srv   *Server
	store *trackingStore
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	return newFuzzServerLimits(tb, fuzzLimits)
}

// newFuzzServerLimits is newFuzzServer with other limits.
func newFuzzServerLimits(tb testing.TB, limits protocol.Limits) *fuzzServer {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	cfg, err := Config{
		DataDir: dir, Limits: limits,
		Rules: map[string]protocol.Rule{"m": protocol.Manual, "c": protocol.ClientWins, "l": protocol.LatestWins},
	}.validate()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AdminTokenFile), []byte(fuzzAdmin+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	bs, err := boltdb.Open(filepath.Join(dir, DBFile), boltdb.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	const hlc = changelog.HLC(1 << 56)
	err = bs.Update(context.Background(), func(tx storage.Tx) error {
		for _, kv := range [][2]string{{metaEpoch, fuzzEpoch}, {metaSecret, string(fuzzSecret)}} {
			if err := tx.PutMeta(kv[0], []byte(kv[1])); err != nil {
				return err
			}
		}
		for _, tok := range []struct{ tok, user, device string }{{fuzzAlice, "alice", "phone"}, {fuzzBob, "bob", "phone"}} {
			if _, err := tx.CreateUser(tok.user, 1); err != nil {
				return err
			}
			if err := tx.PutToken(storage.HashToken(tok.tok), storage.Token{User: tok.user, Device: tok.device, CreatedMillis: 1}); err != nil {
				return err
			}
		}
		put := func(coll, id, content string) error {
			c, err := tx.Collection("alice", coll)
			if err != nil {
				return err
			}
			_, err = c.Put(changelog.Entry{ID: id, Fingerprint: fingerprint.Of(id, false, []byte(content)), HLC: hlc, Replica: "alice/phone"}, []byte(content))
			return err
		}
		for _, it := range [][3]string{{"notes", "a", "alpha"}, {"notes", "b", "beta"}, {"m", "x", "server"}} {
			if err := put(it[0], it[1], it[2]); err != nil {
				return err
			}
		}
		return tx.PutConflict("alice", storage.Conflict{
			ConflictID: fuzzConflict, Collection: "m", Reason: protocol.ReasonManual, ServerVersion: 1, CreatedMillis: 1,
			Entry:   changelog.Entry{ID: "x", Fingerprint: fingerprint.Of("x", false, []byte("mine")), HLC: hlc, Replica: "alice/laptop", Size: 4},
			Content: []byte("mine"),
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	ts := &trackingStore{Store: bs}
	srv, err := newServer(cfg, ts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	// The server warms its codec in a goroutine as it opens (about 1 MB of
	// allocations): checkResponse counts the process's allocations around
	// each call, and a call made during the warm-up counted it too.
	srv.warming.Wait()
	if got := srv.cursors.issue("alice", "notes", 2); got != fuzzCursor {
		tb.Fatalf("fixture cursor is %s, fuzzCursor says %s", got, fuzzCursor)
	}
	return &fuzzServer{srv: srv, store: ts}
}

// trackingStore counts the Updates that committed a write.
type trackingStore struct {
	storage.Store
	mu        sync.Mutex // guards committed
	committed int
}

func (s *trackingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	wrote := false
	err := s.Store.Update(ctx, func(tx storage.Tx) error { return fn(&trackingTx{Tx: tx, wrote: &wrote}) })
	if err == nil && wrote {
		s.mu.Lock()
		s.committed++
		s.mu.Unlock()
	}
	return err
}

func (s *trackingStore) commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

// trackingTx marks every write method called.
type trackingTx struct {
	storage.Tx
	wrote *bool
}

func (t *trackingTx) PutMeta(key string, value []byte) error {
	*t.wrote = true
	return t.Tx.PutMeta(key, value)
}

func (t *trackingTx) CreateUser(name string, ms uint64) (bool, error) {
	created, err := t.Tx.CreateUser(name, ms)
	*t.wrote = *t.wrote || created
	return created, err
}

func (t *trackingTx) PutToken(h storage.TokenHash, tok storage.Token) error {
	*t.wrote = true
	return t.Tx.PutToken(h, tok)
}

func (t *trackingTx) PutConflict(user string, c storage.Conflict) error {
	*t.wrote = true
	return t.Tx.PutConflict(user, c)
}

func (t *trackingTx) DeleteConflict(user, id string) error {
	*t.wrote = true
	return t.Tx.DeleteConflict(user, id)
}

func (t *trackingTx) PutBatch(user, id string, b storage.Batch) error {
	*t.wrote = true
	return t.Tx.PutBatch(user, id, b)
}

func (t *trackingTx) PruneBatches(cutoff uint64, keep, max int) (int, error) {
	n, err := t.Tx.PruneBatches(cutoff, keep, max)
	*t.wrote = *t.wrote || n > 0
	return n, err
}

func (t *trackingTx) Collection(user, name string) (storage.Collection, error) {
	c, err := t.Tx.Collection(user, name)
	if err != nil {
		return nil, err
	}
	return &trackingColl{Collection: c, wrote: t.wrote}, nil
}

type trackingColl struct {
	storage.Collection
	wrote *bool
}

func (c *trackingColl) Put(e changelog.Entry, content []byte) (changelog.Seq, error) {
	*c.wrote = true
	return c.Collection.Put(e, content)
}

// AppendContent keeps the backend's ContentAppender visible through the
// wrapper (the download path takes it when present).
func (c *trackingColl) AppendContent(dst []byte, id string) ([]byte, error) {
	if a, ok := c.Collection.(storage.ContentAppender); ok {
		return a.AppendContent(dst, id)
	}
	b, err := c.Collection.Content(id)
	return append(dst, b...), err
}

// fuzzRequest is one request of FuzzHandler.
type fuzzRequest struct {
	method, path string
	version      string // the Syncprint-Version header; omitted when noVersion
	noVersion    bool
	auth         byte   // fuzzAuthNone...fuzzAuthRaw, modulo fuzzAuthKinds
	authRaw      string // the Authorization value for fuzzAuthRaw, the token for fuzzAuthBearer
	encoding     string // Content-Encoding; omitted when ""
	body         []byte
}

const (
	fuzzAuthNone   = iota // no Authorization header
	fuzzAuthAlice         // alice's token
	fuzzAuthBob           // bob's token
	fuzzAuthAdmin         // the admin token
	fuzzAuthBearer        // "Bearer " + authRaw
	fuzzAuthRaw           // authRaw as it is
	fuzzAuthKinds
)

// raw renders the request as HTTP/1.1 bytes.
func (r *fuzzRequest) raw() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n", r.method, r.path)
	if !r.noVersion {
		fmt.Fprintf(&b, "%s: %s\r\n", protocol.HeaderVersion, r.version)
	}
	if v, ok := r.authorization(); ok {
		fmt.Fprintf(&b, "Authorization: %s\r\n", v)
	}
	if r.encoding != "" {
		fmt.Fprintf(&b, "Content-Encoding: %s\r\n", r.encoding)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(r.body))
	b.Write(r.body)
	return b.Bytes()
}

func (r *fuzzRequest) authorization() (string, bool) {
	switch r.auth % fuzzAuthKinds {
	case fuzzAuthAlice:
		return "Bearer " + fuzzAlice, true
	case fuzzAuthBob:
		return "Bearer " + fuzzBob, true
	case fuzzAuthAdmin:
		return "Bearer " + fuzzAdmin, true
	case fuzzAuthBearer:
		return "Bearer " + r.authRaw, true
	case fuzzAuthRaw:
		return r.authRaw, true
	}
	return "", false
}

// clean reports whether the request line and headers are what the oracle
// assumes: no byte that ends or splits them (a tab is fine in a value).
func (r *fuzzRequest) clean() bool {
	bad := func(s string, extra string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f || strings.IndexByte(extra, c) >= 0 {
				return true
			}
		}
		return false
	}
	value := func(s string) bool { return !bad(strings.ReplaceAll(s, "\t", " "), "") }
	auth, _ := r.authorization()
	return r.method != "" && !bad(r.method, " ()<>@,;:\\\"/[]?={}") && strings.HasPrefix(r.path, "/") && !bad(r.path, " #") &&
		value(r.version) && value(auth) && value(r.encoding)
}

// response is what the handler answered.
type response struct {
	status      int
	contentType string
	allow       string
	retryAfter  string
	body        []byte
	transport   bool   // fasthttp could not parse the request: handleTransportError answered
	allocated   uint64 // bytes the handler allocated
	commits     int    // Updates that committed a write during the request
	maxBody     int    // the server's max_body_bytes
	encoding    string // the answer's Content-Encoding
}

// serve parses raw as fasthttp's server would and runs the handler (or,
// for bytes that do not parse, the transport error handler).
func (fs *fuzzServer) serve(raw []byte) response {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	ctx.Request.Reset()
	var resp response
	commits := fs.store.commits()
	if err := ctx.Request.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
		fs.srv.handleTransportError(&ctx, err)
		resp.transport = true
	} else {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fs.srv.Handler()(&ctx)
		runtime.ReadMemStats(&after)
		resp.allocated = after.TotalAlloc - before.TotalAlloc
	}
	resp.commits = fs.store.commits() - commits
	resp.maxBody = fs.srv.cfg.Limits.MaxBodyBytes
	resp.status = ctx.Response.StatusCode()
	resp.contentType = string(ctx.Response.Header.ContentType())
	resp.allow = string(ctx.Response.Header.Peek(fasthttp.HeaderAllow))
	resp.retryAfter = string(ctx.Response.Header.Peek(protocol.HeaderRetryAfter))
	resp.body = bytes.Clone(ctx.Response.Body())
	resp.encoding = string(ctx.Response.Header.Peek(fasthttp.HeaderContentEncoding))
	return resp
}

// decodeAnswer removes an answer's content coding (a request the fuzzer
// gave an Accept-Encoding).
func decodeAnswer(encoding string, body []byte) ([]byte, error) {
	if encoding == "" {
		return body, nil
	}
	d, err := coding.NewDecoder(64 << 20)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Decode(strings.ToLower(encoding), body)
}

// Allocation bound of one request: a small multiple of what goes in and
// out, plus a constant for the transaction and the handler's fixed costs.
const (
	allocPerByte = 16
	allocFixed   = 1 << 20
)

// requestTypes maps each endpoint to its request and response messages.
var requestTypes = map[string]struct{ req, resp func() any }{
	protocol.PathInfo:        {nil, func() any { return new(protocol.Info) }},
	protocol.PathCollections: {func() any { return new(protocol.CollectionsRequest) }, func() any { return new(protocol.CollectionsResponse) }},
	protocol.PathChanges:     {func() any { return new(protocol.ChangesRequest) }, func() any { return new(protocol.ChangesResponse) }},
	protocol.PathExchange:    {func() any { return new(protocol.ExchangeRequest) }, func() any { return new(protocol.ExchangeResponse) }},
	protocol.PathWatch:       {func() any { return new(protocol.WatchRequest) }, func() any { return new(protocol.WatchResponse) }},
	protocol.PathConflicts:   {func() any { return new(protocol.ConflictsRequest) }, func() any { return new(protocol.ConflictsResponse) }},
	protocol.PathResolve:     {func() any { return new(protocol.ResolveRequest) }, func() any { return new(protocol.ResolveResponse) }},
	protocol.PathAdminTokens: {func() any { return new(protocol.TokenRequest) }, func() any { return new(protocol.TokenResponse) }},
}

// versionOracle reads a Syncprint-Version value as SP-3-2 says: "" when
// it is version 1, else the code.
func versionOracle(present bool, v string) protocol.Code {
	v = strings.Trim(v, " \t")
	if !present || v == "" || strings.Trim(v, "0123456789") != "" {
		return protocol.CodeUnsupportedVersion
	}
	v = strings.TrimLeft(v, "0")
	switch v {
	case "":
		return protocol.CodeVersionTooOld
	case "1":
		return ""
	}
	return protocol.CodeUnsupportedVersion
}

// checkResponse asserts the properties every answer has, and the codes the
// processing order of SP-3-3 fixes for a clean request.
func checkResponse(t *testing.T, r *fuzzRequest, resp response) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %q (auth %d %q, version %q/%v, encoding %q, body %x)\n-> %d %x\n%s",
			r.method, r.path, r.auth%fuzzAuthKinds, r.authRaw, r.version, !r.noVersion, r.encoding, r.body,
			resp.status, resp.body, fmt.Sprintf(format, args...))
	}
	if resp.contentType != protocol.ContentType {
		fail("content type %q", resp.contentType)
	}
	if resp.commits > 0 && resp.status != fasthttp.StatusOK {
		fail("an error answer left %d committed write(s)", resp.commits)
	}
	if bound := uint64(allocPerByte*(len(r.body)+len(resp.body)) + allocFixed); resp.allocated > bound {
		fail("the handler allocated %d bytes for a %d-byte body and a %d-byte answer (bound %d)", resp.allocated, len(r.body), len(resp.body), bound)
	}
	if body, err := decodeAnswer(resp.encoding, resp.body); err != nil {
		fail("answer in coding %q does not decode: %v", resp.encoding, err)
	} else {
		resp.body = body
	}
	rawPath := targetPath(r.path)
	if resp.status == fasthttp.StatusOK {
		if resp.transport {
			fail("a request that does not parse was answered 200")
		}
		rt, ok := requestTypes[rawPath]
		if !ok {
			fail("200 for a path that is no endpoint")
		}
		msg := rt.resp()
		if err := protocol.Unmarshal(resp.body, msg); err != nil {
			fail("success body does not decode as %T: %v", msg, err)
		}
		if err := wirecheck.CheckCanonical(resp.body, msg); err != nil {
			fail("success body: %v", err)
		}
		var except []string
		if rawPath == protocol.PathExchange {
			except = []string{"cursor"} // echoed as sent (SP-6.3-9)
		}
		if err := wirecheck.CheckStrs(resp.body, except...); err != nil {
			fail("success body: %v", err)
		}
		return
	}
	var e protocol.Error
	if err := protocol.Unmarshal(resp.body, &e); err != nil {
		fail("error body does not decode: %v", err)
	}
	if e.Code.HTTPStatus() != resp.status || !containsCode(e.Code) {
		fail("code %q with status %d", e.Code, resp.status)
	}
	if err := wirecheck.CheckCanonical(resp.body, &e); err != nil {
		fail("error body: %v", err)
	}
	if err := wirecheck.CheckStrs(resp.body); err != nil {
		fail("error body: %v", err)
	}
	if (e.Code == protocol.CodeRateLimited || e.Code == protocol.CodeUnavailable) && resp.retryAfter == "" {
		fail("%s without Retry-After", e.Code)
	}
	if resp.transport {
		if e.Code != protocol.CodeMalformed && e.Code != protocol.CodePayloadTooLarge {
			fail("a request that does not parse got %s", e.Code)
		}
		return
	}
	if !r.clean() {
		return
	}
	// The processing order of SP-3-3, step by step.
	rt, routed := routes[rawPath]
	want := func(step string, code protocol.Code) {
		t.Helper()
		if e.Code != code {
			fail("step %s: want %s, got %s", step, code, e.Code)
		}
	}
	if !routed {
		want("route", protocol.CodeNotFound)
		return
	}
	if r.method != rt.method {
		want("route", protocol.CodeMethodNotAllowed)
		if resp.allow != rt.method {
			fail("Allow %q, want %q", resp.allow, rt.method)
		}
		return
	}
	if rt.version {
		if code := versionOracle(!r.noVersion, r.version); code != "" {
			want("version", code)
			return
		}
	}
	kind := r.auth % fuzzAuthKinds
	auth, hasAuth := r.authorization()
	if strings.Trim(auth, " \t") == "" {
		hasAuth = false // an empty Authorization value carries no credentials
	}
	switch {
	case rt.auth == authOptional && !hasAuth:
	case !hasAuth:
		want("auth", protocol.CodeUnauthorized)
		return
	case kind == fuzzAuthAdmin && rt.auth != authAdmin,
		(kind == fuzzAuthAlice || kind == fuzzAuthBob) && rt.auth == authAdmin:
		want("auth", protocol.CodeUnauthorized)
		return
	case kind >= fuzzAuthBearer:
		known := strings.Contains(auth, fuzzAlice) || strings.Contains(auth, fuzzBob) || strings.Contains(auth, fuzzAdmin)
		if !known {
			want("auth", protocol.CodeUnauthorized)
			return
		}
		if e.Code == protocol.CodeUnauthorized {
			return // a known token in a header the server may refuse
		}
	}
	if len(r.body) > resp.maxBody {
		want("body size", protocol.CodePayloadTooLarge)
		return
	}
	// SP-3-8: one coding the server offers (both, by default), or none.
	var codings []string
	for _, c := range strings.Split(r.encoding, ",") {
		if c = strings.ToLower(strings.Trim(c, " \t")); c != "" && c != "identity" {
			codings = append(codings, c)
		}
	}
	body := r.body
	switch {
	case len(codings) > 1 || len(codings) == 1 && codings[0] != "gzip" && codings[0] != "zstd":
		want("content coding", protocol.CodeMalformed)
		return
	case len(codings) == 1:
		d, err := coding.NewDecoder(resp.maxBody)
		if err != nil {
			t.Fatal(err)
		}
		body, err = d.Decode(codings[0], r.body)
		d.Close()
		switch {
		case errors.Is(err, coding.ErrTooLarge):
			want("content coding", protocol.CodePayloadTooLarge)
			return
		case err != nil:
			want("content coding", protocol.CodeMalformed)
			return
		}
	}
	types := requestTypes[rawPath]
	if types.req == nil {
		return // GET /v1/info reads no body
	}
	if err := protocol.Unmarshal(body, types.req()); err != nil {
		want("decode", protocol.CodeMalformed)
		return
	}
	switch rawPath {
	case protocol.PathCollections, protocol.PathChanges, protocol.PathWatch, protocol.PathConflicts:
		if e.Code == protocol.CodeMalformed {
			fail("a body that decodes was answered malformed_request")
		}
	}
}

// targetPath is the path of a request target as sent (SP-3-1 matches it
// exactly): the absolute form's scheme and authority, the query and a
// fragment removed. The absolute form is what fasthttp takes for one: a
// target holding "//" with no '/' before it, whatever the scheme
// ("http://h/p", "A:///p", even "//h/p"); the path then starts at the first
// '/' after the authority, and is "/" when a query or fragment comes first.
func targetPath(target string) string {
	if n := strings.Index(target, "//"); n >= 0 && !strings.Contains(target[:n], "/") {
		rest := target[n+2:]
		i := strings.IndexAny(rest, "/?#")
		if i < 0 || rest[i] != '/' {
			return "/"
		}
		target = rest[i:]
	}
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return target
}

func containsCode(c protocol.Code) bool {
	for _, k := range protocol.Codes {
		if k == c {
			return true
		}
	}
	return false
}

// FuzzHandler sends arbitrary requests through Server.Handler.
func FuzzHandler(f *testing.F) {
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, method, path, version string, noVersion bool, auth byte, authRaw, encoding string, body []byte) {
		r := &fuzzRequest{method: method, path: path, version: version, noVersion: noVersion, auth: auth, authRaw: authRaw, encoding: encoding, body: body}
		checkResponse(t, r, fs.serve(r.raw()))
	})
}

// FuzzVersionHeader compares checkVersion with SP-3-2 for a header value
// as HTTP hands it over (without surrounding whitespace).
func FuzzVersionHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		v = strings.Trim(v, " \t")
		got := protocol.CodeOf(checkVersion([]byte(v)))
		if want := versionOracle(v != "", v); got != want {
			t.Fatalf("Syncprint-Version %q: got %q, SP-3-2 says %q", v, got, want)
		}
	})
}

// FuzzServeRawHTTP writes arbitrary bytes to a real server over a loopback
// connection (half-closed after them) and reads every response: each is
// HTTP with a msgpack body, an error body's code matching its status.
func FuzzServeRawHTTP(f *testing.F) {
	fs := newFuzzServer(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go func() { _ = fs.srv.Serve(ln) }()
	addr := ln.Addr().String()
	f.Fuzz(func(t *testing.T, raw []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(raw); err != nil {
			return // the server closed early (a refused body): nothing to read
		}
		_ = conn.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(conn)
		for n := 0; ; n++ {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				if errors.Is(err, io.EOF) || isReset(err) {
					return
				}
				t.Fatalf("response %d to %q: %v", n, raw, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil && !isReset(err) {
				t.Fatalf("response %d body: %v", n, err)
			}
			if body, err = decodeAnswer(resp.Header.Get("Content-Encoding"), body); err != nil {
				t.Fatalf("response %d in coding %q: %v", n, resp.Header.Get("Content-Encoding"), err)
			}
			if ct := resp.Header.Get("Content-Type"); ct != protocol.ContentType {
				t.Fatalf("response %d: status %d, content type %q, body %q", n, resp.StatusCode, ct, body)
			}
			if resp.StatusCode == http.StatusOK {
				if err := wirecheck.Parse(body); err != nil {
					t.Fatalf("response %d: 200 with body %x: %v", n, body, err)
				}
				continue
			}
			var e protocol.Error
			if err := protocol.Unmarshal(body, &e); err != nil || e.Code.HTTPStatus() != resp.StatusCode || !containsCode(e.Code) {
				t.Fatalf("response %d: status %d, body %x (%v)", n, resp.StatusCode, body, err)
			}
		}
	})
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func TestFuzzFixtureTokensHaveTheTokenForm(t *testing.T) {
	for _, tok := range []string{fuzzAdmin, fuzzAlice, fuzzBob} {
		if len(tok) != tokenLen || !strings.HasPrefix(tok, tokenPrefix) {
			t.Fatalf("%q is not of the token form", tok)
		}
	}
}

// FuzzCursorIssue: a cursor the server issues parses back to its version
// for the same user and collection, and is invalid_cursor for another
// (names are validated: they hold no NUL, which the MAC input uses as a
// separator).
func FuzzCursorIssue(f *testing.F) {
	c := cursors{epoch: fuzzEpoch, secret: fuzzSecret}
	f.Fuzz(func(t *testing.T, user, coll string, v uint64) {
		if protocol.ValidateName(user) != nil || protocol.ValidateCollection(coll) != nil {
			return
		}
		cur := c.issue(user, coll, changelog.Seq(v))
		got, err := c.parse(user, coll, cur)
		if err != nil || got != changelog.Seq(v) {
			t.Fatalf("parse(issue(%d)) = %d, %v", v, got, err)
		}
		for _, other := range [][2]string{{user + "x", coll}, {user, coll + "x"}} {
			if _, err := c.parse(other[0], other[1], cur); protocol.CodeOf(err) != protocol.CodeInvalidCursor {
				t.Fatalf("cursor of %s/%s accepted for %s/%s: %v", user, coll, other[0], other[1], err)
			}
		}
	})
}
