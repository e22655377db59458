package serverd

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestSpecMalformedVectors sends every body of spec/vectors/malformed.json
// to the endpoint of its message type: the malformed ones must be refused
// with their code and status and change nothing; the accepted change
// requests must succeed.
func TestSpecMalformedVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "spec", "vectors", "malformed.json"))
	if os.IsNotExist(err) {
		t.Skip("spec/vectors/malformed.json not present")
	}
	require.NoError(t, err)
	var vectors struct {
		Malformed []struct {
			Name, Type, Hex, Code string
			Status                int
		}
		Accepted []struct{ Name, Type, Hex string }
	}
	require.NoError(t, json.Unmarshal(raw, &vectors))
	require.NotEmpty(t, vectors.Malformed)
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	ts.exchange(tok, "notes", []protocol.Upload{up("a", "alpha", 0, 0, 1)})
	paths := map[string]string{"ChangesRequest": protocol.PathChanges, "ExchangeRequest": protocol.PathExchange}
	before := dump(t, ts.srv)
	for _, v := range vectors.Malformed {
		t.Run("refused/"+v.Name, func(t *testing.T) {
			path, ok := paths[v.Type]
			require.True(t, ok, "unknown type %s", v.Type)
			body, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			status, _, b := ts.raw(http.MethodPost, path, body, authHeaders(tok))
			require.Equal(t, v.Status, status)
			requireCode(t, protocol.Code(v.Code), decodeResponse(t, status, b, nil))
			require.Equal(t, before, dump(t, ts.srv))
		})
	}
	for _, v := range vectors.Accepted {
		if v.Type != "ChangesRequest" {
			continue // the exchange vectors carry no valid batch_id: they pass decoding only
		}
		t.Run("accepted/"+v.Name, func(t *testing.T) {
			body, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			status, _, b := ts.raw(http.MethodPost, protocol.PathChanges, body, authHeaders(tok))
			var resp protocol.ChangesResponse
			require.Nil(t, decodeResponse(t, status, b, &resp))
			require.Equal(t, uint64(1), resp.Head)
		})
	}
}
