package serverd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// testServer is a Server on a loopback port with a real bbolt file.
type testServer struct {
	t    testing.TB
	cfg  Config
	srv  *Server
	url  string
	done chan error
}

// startServer opens and serves cfg (DataDir defaults to a temp dir) and
// shuts the server down in t.Cleanup.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	ts := &testServer{t: t, cfg: cfg}
	ts.start()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	srv, err := Open(ts.cfg)
	require.NoError(ts.t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(ts.t, err)
	ts.srv, ts.url, ts.done = srv, "http://"+ln.Addr().String(), make(chan error, 1)
	go func() { ts.done <- srv.Serve(ln) }()
}

func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(ts.t, ts.srv.Shutdown(ctx))
	require.NoError(ts.t, <-ts.done)
	ts.srv = nil
}

func (ts *testServer) restart() {
	ts.t.Helper()
	ts.stop()
	ts.start()
}

func (ts *testServer) token(user, device string) string {
	ts.t.Helper()
	tok, err := ts.srv.CreateToken(user, device)
	require.NoError(ts.t, err)
	return tok
}

// httpClient does not reuse connections across tests' servers.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// raw sends one request; hdr holds extra headers ("" values are omitted).
func (ts *testServer) raw(method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	require.NoError(ts.t, err)
	req.Header.Set("Content-Type", protocol.ContentType)
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ts.t, err)
	return resp.StatusCode, resp.Header, b
}

func authHeaders(token string) map[string]string {
	h := map[string]string{protocol.HeaderVersion: "1"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return h
}

// post sends a msgpack request body and returns status and raw body.
func (ts *testServer) post(path, token string, req any) (int, []byte) {
	ts.t.Helper()
	body, err := protocol.Marshal(req)
	require.NoError(ts.t, err)
	status, _, b := ts.raw(http.MethodPost, path, body, authHeaders(token))
	return status, b
}

// call posts req and decodes a 200 response into resp, or returns the
// error response (checking its status matches its code).
func (ts *testServer) call(path, token string, req, resp any) *protocol.Error {
	ts.t.Helper()
	status, b := ts.post(path, token, req)
	return decodeResponse(ts.t, status, b, resp)
}

func decodeResponse(t testing.TB, status int, b []byte, resp any) *protocol.Error {
	t.Helper()
	if status != http.StatusOK {
		var e protocol.Error
		require.NoError(t, protocol.Unmarshal(b, &e), "error body of status %d: %x", status, b)
		require.Equal(t, e.Code.HTTPStatus(), status, "status of %s", e.Code)
		return &e
	}
	require.NoError(t, protocol.Unmarshal(b, resp))
	return nil
}

// mustCall is call that requires success.
func (ts *testServer) mustCall(path, token string, req, resp any) {
	ts.t.Helper()
	if e := ts.call(path, token, req, resp); e != nil {
		ts.t.Fatalf("%s: %v", path, e)
	}
}

// requireCode asserts an error response's code.
func requireCode(t testing.TB, want protocol.Code, e *protocol.Error) {
	t.Helper()
	require.NotNil(t, e, "want %s, got success", want)
	require.Equal(t, want, e.Code, "error: %v", e)
}

// up builds an upload with a correct fingerprint.
func up(id, content string, base, seen uint64, hlc changelog.HLC) protocol.Upload {
	fp := fingerprint.Of(id, false, []byte(content))
	return protocol.Upload{ID: id, Base: base, Seen: seen, FP: fp.Bytes(), HLC: uint64(hlc), Content: []byte(content)}
}

// tomb builds a tombstone upload.
func tomb(id string, base, seen uint64, hlc changelog.HLC) protocol.Upload {
	fp := fingerprint.Of(id, true, nil)
	return protocol.Upload{ID: id, Base: base, Seen: seen, FP: fp.Bytes(), HLC: uint64(hlc), Deleted: true}
}

var batchN int

// batchID returns a fresh valid batch ID.
func batchID() string { batchN++; return fmt.Sprintf("batch-%016d", batchN) }

// exchange runs one exchange with a fresh batch ID and requires success.
func (ts *testServer) exchange(token, coll string, ups []protocol.Upload, downloads ...string) protocol.ExchangeResponse {
	ts.t.Helper()
	var resp protocol.ExchangeResponse
	ts.mustCall(protocol.PathExchange, token, protocol.ExchangeRequest{Collection: coll, BatchID: batchID(), Uploads: ups, Downloads: downloads}, &resp)
	return resp
}

// hlcAt returns an HLC at the given wall time.
func hlcAt(t time.Time) changelog.HLC { return changelog.NewHLC(uint64(t.UnixMilli()), 0) }

// dump renders every user's items (with versions and content), conflict
// records, tokens and idempotency records of a server's store, so tests
// can assert a failed request changed nothing.
func dump(t testing.TB, s *Server) string {
	t.Helper()
	var sb strings.Builder
	err := s.store.View(context.Background(), func(tx storage.Tx) error {
		for _, k := range []string{metaEpoch, metaHLC} {
			v, err := tx.Meta(k)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, "meta %s=%x\n", k, v)
		}
		var users []string
		if err := tx.Users(func(u string) error { users = append(users, u); return nil }); err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintf(&sb, "user %s\n", u)
			var colls []string
			if err := tx.Collections(u, func(name string, head changelog.Seq) error {
				colls = append(colls, name)
				fmt.Fprintf(&sb, " coll %s head %d\n", name, head)
				return nil
			}); err != nil {
				return err
			}
			for _, name := range colls {
				c, err := tx.Collection(u, name)
				if err != nil {
					return err
				}
				if err := c.Since(0, 0, func(e changelog.Entry) error {
					content, err := c.Content(e.ID)
					fmt.Fprintf(&sb, "  %s content=%q\n", e, content)
					return err
				}); err != nil {
					return err
				}
			}
			if err := tx.Conflicts(u, "", func(cf storage.Conflict) error {
				fmt.Fprintf(&sb, " conflict %+v\n", cf)
				return nil
			}); err != nil {
				return err
			}
			seq, err := tx.ConflictsSeq(u)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " conflicts_seq %d\n", seq)
		}
		return nil
	})
	require.NoError(t, err)
	return sb.String()
}
