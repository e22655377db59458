package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runConform(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(e, append([]string{"conform"}, args...))
	return code, out.String(), errOut.String()
}

func TestConformListAndExplain(t *testing.T) {
	code, out, _ := runConform(t, "list")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "server/exchange/stale-base-upload")
	require.Contains(t, out, "client/sync/refuses-corrupted-download")
	code, out, _ = runConform(t, "list", "--mode", "client")
	require.Equal(t, exitOK, code)
	require.NotContains(t, out, "server/")
	code, out, _ = runConform(t, "explain", "server/exchange/stale-base-upload")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "[SP-7-4]")
	require.Contains(t, out, "Procedure and assertions:")
	code, _, errOut := runConform(t, "explain", "server/no/such-case")
	require.Equal(t, exitNotFound, code, errOut)
}

func TestConformNeedsItsFlags(t *testing.T) {
	code, _, errOut := runConform(t, "server", "--url", "http://127.0.0.1:1")
	require.Equal(t, exitUsage, code, errOut)
	code, _, _ = runConform(t, "server", "--url", "http://x", "--token", "a", "--token-b", "a")
	require.Equal(t, exitUsage, code)
	code, _, _ = runConform(t, "client")
	require.Equal(t, exitUsage, code)
	code, _, _ = runConform(t, "nope")
	require.Equal(t, exitUsage, code)
}

func TestConformServerAgainstNothingIsNotConforming(t *testing.T) {
	code, out, _ := runConform(t, "server", "--url", "http://127.0.0.1:1", "--token", "sp_a", "--token-b", "sp_b", "--run", "server/handshake")
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, "ERROR")
	require.NotContains(t, out, "sp_a")
}
