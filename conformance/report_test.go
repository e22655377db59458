package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// A fake server that answers every request with the same Info or 200, so
// that cases fail, to check verdicts, reports and redaction.
func fakeServer(t *testing.T) *httptest.Server {
	t.Helper()
	info, err := protocol.Marshal(protocol.Info{Versions: []int{1}, Server: "fake", Epoch: "e", Limits: protocol.DefaultLimits(),
		DefaultRule: protocol.ServerWins, MaxSkewMillis: 60000, ServerTime: 1 << 40, User: "u", Replica: "u/d"})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", protocol.ContentType)
		_, _ = w.Write(info)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const (
	secretA = "sp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	secretB = "sp_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
)

func TestAFakeServerFailsAndReportsNeverShowTokens(t *testing.T) {
	srv := fakeServer(t)
	cases := Select(ModeServer, []string{"server/auth", "server/version/too-old", "server/exchange/idempotent-retry"})
	require.NotEmpty(t, cases)
	rep := RunServer(context.Background(), Config{Target: Target{URL: srv.URL, Token: secretA, TokenB: secretB}}, cases, nil)
	require.False(t, rep.OK(false))
	counts := rep.Counts()
	require.Positive(t, counts[Fail], rep.Summary())
	var text, js, junit bytes.Buffer
	rep.WriteText(&text, false)
	require.NoError(t, rep.WriteJSON(&js, false))
	require.NoError(t, rep.WriteJUnit(&junit, false))
	for name, out := range map[string]string{"text": text.String(), "json": js.String(), "junit": junit.String()} {
		for _, sec := range []string{secretA, secretB, secretA[:20], secretB[:20]} {
			require.NotContains(t, out, sec, "%s report shows a secret", name)
		}
	}
	require.Contains(t, text.String(), "expected:")
	require.Contains(t, text.String(), "transcript:")
	require.Contains(t, text.String(), "[SP-3-6]")
	var jr map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &jr))
	require.Equal(t, SuiteVersion, jr["suite_version"])
	require.NoError(t, xml.Unmarshal(junit.Bytes(), new(junitSuites)))
}

func TestAnUnreachableServerIsAnErrorNotAFailure(t *testing.T) {
	srv := fakeServer(t)
	url := srv.URL
	srv.Close()
	cases := Select(ModeServer, []string{"server/handshake"})
	rep := RunServer(context.Background(), Config{Target: Target{URL: url, Token: secretA, TokenB: secretB}}, cases, nil)
	require.Equal(t, len(cases), rep.Counts()[Error])
	require.False(t, rep.OK(false))
}

func TestRenderMsgpackShowsWhatItCan(t *testing.T) {
	b, err := protocol.Marshal(protocol.ChangesRequest{Collection: "notes", Cursor: "c", Limit: 3})
	require.NoError(t, err)
	require.Equal(t, `{"collection": "notes", "cursor": "c", "limit": 3}`, renderMsgpack(b))
	require.True(t, strings.HasPrefix(renderMsgpack(b[:len(b)-1]), `{"collection": "notes", "cursor": "c", "limit": `))
	require.Contains(t, renderMsgpack(b[:len(b)-1]), "undecodable")
	require.Contains(t, renderMsgpack([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}), "undecodable")
	require.Equal(t, "(empty body)", renderMsgpack(nil))
	require.Contains(t, renderMsgpack(mMap(kv{"x", []byte{0xff}}, kv{"b", mBin(make([]byte, 100))})), "-1")
}

func TestRedactAuthShowsNoCredential(t *testing.T) {
	got := redactAuth("Bearer "+secretA[:10], []string{secretA})
	require.NotContains(t, got, secretA[3:10])
	require.Contains(t, got, "prefix of token #1")
}

func TestSelectMatchesPrefixesAndGlobs(t *testing.T) {
	require.True(t, matchID("server/auth", "server/auth/token-form"))
	require.False(t, matchID("server/aut", "server/auth/token-form"))
	require.True(t, matchID("server/*/token-form", "server/auth/token-form"))
	require.True(t, matchID("server/auth/token-form", "server/auth/token-form"))
}

func FuzzRenderMsgpack(f *testing.F) {
	b, _ := protocol.Marshal(protocol.ExchangeRequest{Collection: "c", BatchID: "b", Uploads: []protocol.Upload{{ID: "x", FP: make([]byte, 32)}}})
	f.Add(b)
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc7, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := renderMsgpack(b)
		if len(b) > 0 && s == "" {
			t.Fatal("empty rendering")
		}
	})
}
