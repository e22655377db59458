package serverd

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestRoundTripServesInProcessAsOverASocket sends the same requests through
// an http.Client carrying the *Server (no listener at all) and checks the
// answers: an exchange applied once and answered again for its batch ID, an
// error with its status and body, a body over the limit refused.
func TestRoundTripServesInProcessAsOverASocket(t *testing.T) {
	srv, err := Open(Config{DataDir: filepath.Join(t.TempDir(), "data"), Limits: protocol.Limits{MaxBodyBytes: 4096}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Shutdown(context.Background())) })
	tok, err := srv.CreateToken("alice", "phone")
	require.NoError(t, err)
	hc := &http.Client{Transport: srv}

	do := func(path string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://in-process"+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(protocol.HeaderVersion, "1")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", protocol.ContentType)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		require.NoError(t, err)
		return resp, buf.Bytes()
	}

	body, err := protocol.Marshal(&protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Uploads: []protocol.Upload{up("a", "hello", 0, 0, 1)}})
	require.NoError(t, err)
	resp, b := do(protocol.PathExchange, body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, protocol.ContentType, resp.Header.Get("Content-Type"))
	require.EqualValues(t, len(b), resp.ContentLength)
	var first protocol.ExchangeResponse
	require.NoError(t, protocol.Unmarshal(b, &first))
	require.Equal(t, protocol.StatusApplied, first.Results[0].Status)
	require.EqualValues(t, 1, first.Results[0].Version)

	_, again := do(protocol.PathExchange, body)
	require.Equal(t, b, again, "a repeated batch gets the first response")
	require.Contains(t, dump(t, srv), `"a"@1 `)
	require.NotContains(t, dump(t, srv), `"a"@2 `, "applied once")

	resp, b = do(protocol.PathChanges, []byte{0x01})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var pe protocol.Error
	require.NoError(t, protocol.Unmarshal(b, &pe))
	require.Equal(t, protocol.CodeMalformed, pe.Code)

	resp, _ = do(protocol.PathExchange, make([]byte, 5000))
	require.Equal(t, protocol.CodePayloadTooLarge.HTTPStatus(), resp.StatusCode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://in-process"+protocol.PathInfo, nil)
	require.NoError(t, err)
	_, err = hc.Do(req)
	require.ErrorIs(t, err, context.Canceled)
}
