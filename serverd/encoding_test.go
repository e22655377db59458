package serverd

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// TestContentCodings checks [SP-3-8] over a real loopback socket: a body
// in a coding the server offers (zstd, gzip) is decoded and served like a
// plain one; any other coding, two codings, or a body that does not decode
// is malformed_request; a body that decodes to more than max_body_bytes is
// payload_too_large; none of these changes anything. The checks come after
// route, version, auth and body size [SP-3-3].
func TestContentCodings(t *testing.T) {
	ts := startServer(t, Config{Limits: protocol.Limits{MaxBodyBytes: 64 << 10}})
	tok := ts.token("alice", "phone")
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "alpha", 0, 0, hlcAt(time.Now()))})
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	encode := func(c string, b []byte) []byte {
		out, err := enc.Encode(c, nil, b)
		require.NoError(t, err)
		return out
	}

	changes, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	withEnc := func(enc string) map[string]string {
		h := authHeaders(tok)
		h["Content-Encoding"] = enc
		return h
	}
	before := dump(t, ts.srv)

	// Offered codings, in any case, alone or beside identity: decoded.
	for _, tc := range []struct{ header, coding string }{
		{"zstd", coding.Zstd}, {"ZSTD", coding.Zstd}, {"gzip", coding.Gzip}, {" Gzip ", coding.Gzip},
		{"identity, gzip", coding.Gzip}, {"zstd, identity", coding.Zstd}, {"", ""}, {"identity", ""}, {"IDENTITY", ""},
	} {
		body := changes
		if tc.coding != "" {
			body = encode(tc.coding, changes)
		}
		status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, body, withEnc(tc.header))
		var resp protocol.ChangesResponse
		require.Nil(t, decodeResponse(t, status, b, &resp), "Content-Encoding %q", tc.header)
		require.Equal(t, uint64(1), resp.Head)
	}

	// Codings the server does not offer, or two of them: refused unread.
	for _, h := range []string{"deflate", "br", "compress", "x-custom", "zstd, gzip", "gzip, gzip"} {
		status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, changes, withEnc(h))
		e := decodeResponse(t, status, b, nil)
		requireCode(t, protocol.CodeMalformed, e)
		require.Contains(t, e.Message, "Content-Encoding", h)
	}

	// An exchange whose body is not valid in its coding, or decodes to more
	// than max_body_bytes (a zip bomb: 1 MB of zeros in a few hundred
	// bytes), applies nothing.
	ex, err := protocol.Marshal(protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Uploads: []protocol.Upload{up("b", "beta", 0, 0, hlcAt(time.Now()))}})
	require.NoError(t, err)
	for _, c := range coding.Supported {
		status, _, b := ts.raw(http.MethodPost, protocol.PathExchange, ex, withEnc(c))
		requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
		z := encode(c, ex)
		status, _, b = ts.raw(http.MethodPost, protocol.PathExchange, z[:len(z)-4], withEnc(c))
		requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
		bomb := encode(c, append(append([]byte{}, ex...), make([]byte, 1<<20)...))
		require.Less(t, len(bomb), 64<<10)
		status, _, b = ts.raw(http.MethodPost, protocol.PathExchange, bomb, withEnc(c))
		requireCode(t, protocol.CodePayloadTooLarge, decodeResponse(t, status, b, nil))
	}
	require.Equal(t, before, dump(t, ts.srv), "a refused request changed the store")

	// The same exchange, zstd-encoded, is applied.
	status, _, b := ts.raw(http.MethodPost, protocol.PathExchange, encode(coding.Zstd, ex), withEnc("zstd"))
	var exResp protocol.ExchangeResponse
	require.Nil(t, decodeResponse(t, status, b, &exResp))
	require.Equal(t, protocol.StatusApplied, exResp.Results[0].Status)

	// Earlier steps of SP-3-3 come first.
	status, _, b = ts.raw(http.MethodPost, "/v1/nope", changes, withEnc("br"))
	requireCode(t, protocol.CodeNotFound, decodeResponse(t, status, b, nil))
	h := withEnc("br")
	delete(h, protocol.HeaderVersion)
	status, _, b = ts.raw(http.MethodPost, protocol.PathChanges, changes, h)
	requireCode(t, protocol.CodeUnsupportedVersion, decodeResponse(t, status, b, nil))
	h = withEnc("br")
	delete(h, "Authorization")
	status, _, b = ts.raw(http.MethodPost, protocol.PathChanges, changes, h)
	requireCode(t, protocol.CodeUnauthorized, decodeResponse(t, status, b, nil))
}

// TestResponsesAreEncodedOnlyWhenAccepted checks [SP-3-8]: a response of
// at least coding.MinSize bytes is encoded with the first offered coding
// the request's Accept-Encoding accepts, and never without it; a small one
// is sent as it is.
func TestResponsesAreEncodedOnlyWhenAccepted(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	var ups []protocol.Upload
	for i := range 50 {
		ups = append(ups, up(fmt.Sprint("item-", i), strings.Repeat("content ", 20), 0, 0, hlcAt(time.Now())))
	}
	ts.exchange(tok, "notes", ups)
	changes, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	plain, err := protocol.Marshal(protocol.ChangesRequest{Collection: "empty"})
	require.NoError(t, err)
	dec, err := coding.NewDecoder(1 << 20)
	require.NoError(t, err)
	defer dec.Close()
	for _, tc := range []struct{ accept, want string }{
		{"", ""}, {"identity", ""}, {"br", ""}, {"gzip", "gzip"}, {"zstd", "zstd"}, {"gzip, zstd;q=0.5", "zstd"}, {"zstd;q=0, gzip", "gzip"}, {"*", "zstd"},
	} {
		h := authHeaders(tok)
		h["Accept-Encoding"] = tc.accept
		if tc.accept == "" {
			h["Accept-Encoding"] = "identity;q=1, *;q=0" // a header: net/http would add gzip
		}
		status, hdr, b := ts.raw(http.MethodPost, protocol.PathChanges, changes, h)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, tc.want, hdr.Get("Content-Encoding"), "Accept-Encoding %q", tc.accept)
		body, err := dec.Decode(tc.want, b)
		require.NoError(t, err)
		var resp protocol.ChangesResponse
		require.Nil(t, decodeResponse(t, status, body, &resp))
		require.Len(t, resp.Changes, 50)

		status, hdr, b = ts.raw(http.MethodPost, protocol.PathChanges, plain, h)
		require.Equal(t, "", hdr.Get("Content-Encoding"), "a small response is sent as it is")
		require.Nil(t, decodeResponse(t, status, b, &resp))
	}
}

// TestCompressionCanBeTurnedOff: with DisableCompression the server
// announces no coding and refuses every encoded body.
func TestCompressionCanBeTurnedOff(t *testing.T) {
	ts := startServer(t, Config{DisableCompression: true})
	tok := ts.token("alice", "phone")
	var info protocol.Info
	status, _, b := ts.raw(http.MethodGet, protocol.PathInfo, nil, nil)
	require.Nil(t, decodeResponse(t, status, b, &info))
	require.NotContains(t, info.Features, coding.Zstd)
	require.NotContains(t, info.Features, coding.Gzip)
	changes, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	enc, err := coding.NewEncoder()
	require.NoError(t, err)
	for _, c := range coding.Supported {
		z, err := enc.Encode(c, nil, changes)
		require.NoError(t, err)
		h := authHeaders(tok)
		h["Content-Encoding"] = c
		status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, z, h)
		requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
	}
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
	status, b := send("zstd", "gzip")
	requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
	status, b = send("identity", "gzip") // a plain body labelled gzip
	requireCode(t, protocol.CodeMalformed, decodeResponse(t, status, b, nil))
	status, b = send("identity", "identity")
	var resp protocol.ChangesResponse
	require.Nil(t, decodeResponse(t, status, b, &resp))
	status, b = send()
	require.Nil(t, decodeResponse(t, status, b, &resp))
}

// TestAcceptEncodingRepeatedHeader sends raw HTTP with two Accept-Encoding
// lines: they form one list [RFC 9110, section 5.3], so a coding refused
// on the second line is never used because the first says "*" [SP-3-8].
func TestAcceptEncodingRepeatedHeader(t *testing.T) {
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	var ups []protocol.Upload
	for i := range 50 {
		ups = append(ups, up(fmt.Sprint("item-", i), strings.Repeat("content ", 20), 0, 0, hlcAt(time.Now())))
	}
	ts.exchange(tok, "notes", ups)
	body, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes"})
	require.NoError(t, err)
	send := func(lines ...string) string {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		var req bytes.Buffer
		fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: test\r\n%s: 1\r\nAuthorization: Bearer %s\r\n", protocol.PathChanges, protocol.HeaderVersion, tok)
		for _, l := range lines {
			fmt.Fprintf(&req, "Accept-Encoding: %s\r\n", l)
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		req.Write(body)
		_, err = conn.Write(req.Bytes())
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodPost})
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return resp.Header.Get("Content-Encoding")
	}
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"*", "zstd;q=0, gzip;q=0"}, ""},
		{[]string{"*", "zstd;q=0"}, "gzip"},
		{[]string{"identity", "gzip"}, "gzip"},
		{[]string{"zstd;q=0", "*"}, "gzip"},
		{[]string{"*"}, "zstd"},
	} {
		require.Equal(t, tc.want, send(tc.lines...), "Accept-Encoding lines %q", tc.lines)
	}
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
