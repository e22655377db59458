package serverd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestContentEncodingRefused checks [SP-3-8]: a request whose
// Content-Encoding names anything but identity is malformed_request and
// changes nothing, over a real loopback socket; absent or identity is
// served as usual. The check comes after route, version, auth and body
// size [SP-3-3].
func TestContentEncodingRefused(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "alpha", 0, 0, hlcAt(time.Now()))})

	changes, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(changes)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	withEnc := func(enc string) map[string]string {
		h := authHeaders(tok)
		h["Content-Encoding"] = enc
		return h
	}
	before := dump(t, ts.srv)

	// A gzip body, labelled gzip: refused, not inflated.
	status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, gz.Bytes(), withEnc("gzip"))
	requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))

	// Any coding other than identity, even with a plain body.
	for _, enc := range []string{"gzip", "GZIP", "deflate", "br", "zstd", "compress", "x-custom", "identity, gzip", "gzip, identity"} {
		status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, changes, withEnc(enc))
		e := decodeResponse(t, status, b, nil)
		requireCode(t, protocol.CodeMalformed, e)
		require.Contains(t, e.Message, "Content-Encoding", enc)
	}

	// An exchange with a coding applies nothing.
	ex, err := protocol.Marshal(protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Uploads: []protocol.Upload{up("b", "beta", 0, 0, hlcAt(time.Now()))}})
	require.NoError(t, err)
	status, _, b = ts.raw(http.MethodPost, protocol.PathExchange, ex, withEnc("gzip"))
	requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
	require.Equal(t, before, dump(t, ts.srv), "a refused request changed the store")

	// Absent and identity (in any case) are accepted.
	for _, enc := range []string{"", "identity", "IDENTITY", " Identity "} {
		status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, changes, withEnc(enc))
		var resp protocol.ChangesResponse
		require.Nil(t, decodeResponse(t, status, b, &resp), "Content-Encoding %q", enc)
		require.Equal(t, uint64(1), resp.Head)
	}
	// The same exchange without a coding is applied: the refusal was for
	// the coding alone.
	status, _, b = ts.raw(http.MethodPost, protocol.PathExchange, ex, authHeaders(tok))
	var exResp protocol.ExchangeResponse
	require.Nil(t, decodeResponse(t, status, b, &exResp))
	require.Equal(t, protocol.StatusApplied, exResp.Results[0].Status)

	// Earlier steps of SP-3-3 come first.
	status, _, b = ts.raw(http.MethodPost, "/v1/nope", changes, withEnc("gzip"))
	requireCode(t, protocol.CodeNotFound, decodeResponse(t, status, b, nil))
	h := withEnc("gzip")
	delete(h, protocol.HeaderVersion)
	status, _, b = ts.raw(http.MethodPost, protocol.PathChanges, changes, h)
	requireCode(t, protocol.CodeUnsupportedVersion, decodeResponse(t, status, b, nil))
	h = withEnc("gzip")
	delete(h, "Authorization")
	status, _, b = ts.raw(http.MethodPost, protocol.PathChanges, changes, h)
	requireCode(t, protocol.CodeUnauthorized, decodeResponse(t, status, b, nil))
}

// TestContentEncodingRepeatedHeader sends raw HTTP with two
// Content-Encoding lines: every line counts, not only the first.
func TestContentEncodingRepeatedHeader(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	body, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	send := func(encLines ...string) (int, []byte) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		var req bytes.Buffer
		fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: test\r\n%s: 1\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n", protocol.PathChanges, protocol.HeaderVersion, tok, protocol.ContentType)
		for _, l := range encLines {
			fmt.Fprintf(&req, "Content-Encoding: %s\r\n", l)
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		req.Write(body)
		_, err = conn.Write(req.Bytes())
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out bytes.Buffer
		_, err = out.ReadFrom(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, out.Bytes()
	}
	status, b := send("identity", "gzip")
	requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
	status, b = send("identity", "identity")
	var resp protocol.ChangesResponse
	require.Nil(t, decodeResponse(t, status, b, &resp))
	status, b = send()
	require.Nil(t, decodeResponse(t, status, b, &resp))
}

// TestErrorIDsOnTheWireAreValidUTF8 checks [SP-9-7] end to end: IDs that
// are not valid UTF-8, or longer than 256 bytes, come back in Error.ids as
// valid UTF-8 of at most 256 bytes; valid IDs come back unchanged.
func TestErrorIDsOnTheWireAreValidUTF8(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	cases := []struct{ id, want string }{
		{"a\xffb", "a\uFFFDb"},
		{"\xe6\x97", "\uFFFD"},
		{strings.Repeat("x", 255) + "\u00e9y", strings.Repeat("x", 255)},
		{strings.Repeat("\u00e9", 129), strings.Repeat("\u00e9", 128)},
		{strings.Repeat("i", 300), strings.Repeat("i", 256)},
		{"a\nb", "a\nb"},
	}
	for _, c := range cases {
		for _, req := range []protocol.ExchangeRequest{
			{Collection: "notes", BatchID: batchID(), Uploads: []protocol.Upload{up(c.id, "x", 0, 0, h)}},
			{Collection: "notes", BatchID: batchID(), Downloads: []string{c.id}},
		} {
			status, b := ts.post(protocol.PathExchange, tok, req)
			e := decodeResponse(t, status, b, nil)
			requireCode(t, protocol.CodeInvalidID, e)
			require.Equal(t, []string{c.want}, e.IDs, "ids for %q", c.id)
			require.True(t, utf8.ValidString(e.Message), "message for %q is not valid UTF-8: %q", c.id, e.Message)
		}
	}
	// Conflict IDs of a resolution too.
	status, b := ts.post(protocol.PathResolve, tok, protocol.ResolveRequest{Collection: "notes", ID: "n", Close: []string{"k\xff", "k\xff"}})
	e := decodeResponse(t, status, b, nil)
	requireCode(t, protocol.CodeDuplicateID, e)
	require.Equal(t, []string{"k\uFFFD"}, e.IDs)
	require.True(t, utf8.ValidString(e.Message))
}
