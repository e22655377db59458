package wirecheck_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/vectorgen/gen"
	"github.com/syncprint/syncprint/internal/wirecheck"
	"github.com/syncprint/syncprint/protocol"
)

// The oracle agrees with the spec's own vectors: every message vector is
// canonical, every accepted non-canonical body canonicalises to the
// vector's canonical bytes, and every malformed body is refused by the
// parser or by the canonicaliser.
func TestTheOracleAgreesWithTheSpecVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "spec", "vectors")
	var msgs gen.MessagesFile
	readJSON(t, filepath.Join(dir, "messages.json"), &msgs)
	types := wirecheck.Messages()
	require.NotEmpty(t, msgs.Messages)
	for _, m := range msgs.Messages {
		typ, ok := types[m.Type]
		require.True(t, ok, "type %s", m.Type)
		require.NoError(t, wirecheck.CheckCanonical(unhex(t, m.Hex), typ), m.Name)
		require.NoError(t, wirecheck.CheckStrs(unhex(t, m.Hex)), m.Name)
	}
	var mal gen.MalformedFile
	readJSON(t, filepath.Join(dir, "malformed.json"), &mal)
	require.NotEmpty(t, mal.Accepted)
	for _, a := range mal.Accepted {
		got, err := wirecheck.Canonical(unhex(t, a.Hex), types[a.Type], wirecheck.Options{})
		require.NoError(t, err, a.Name)
		require.Equal(t, a.CanonicalHex, hex.EncodeToString(got), a.Name)
	}
	for _, m := range mal.Malformed {
		_, err := wirecheck.Canonical(unhex(t, m.Hex), types[m.Type], wirecheck.Options{})
		require.Error(t, err, m.Name)
	}
}

func TestCheckStrsFindsInvalidUTF8OutsideTheExceptions(t *testing.T) {
	body := []byte{0x82, 0xa1, 'a', 0xa1, 0xff, 0xa1, 'b', 0x91, 0xa1, 0xfe}
	require.ErrorContains(t, wirecheck.CheckStrs(body), `"a"`)
	require.ErrorContains(t, wirecheck.CheckStrs(body, "a"), `"b[]"`)
	require.NoError(t, wirecheck.CheckStrs(body, "a", "b[]"))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// An omitempty field may be left out when empty, but an empty value that
// is there must still be of its family: an empty map is not an empty
// array (SP-4.1-3). FuzzUnmarshalError found the reader accepting it.
func TestAnEmptyValueOfAnotherFamilyIsMalformedInAnOmitemptyField(t *testing.T) {
	_, err := wirecheck.Canonical([]byte("\x83\xa4code\xa0\xa7message\xa0\xa3ids\x80"), new(protocol.Error), wirecheck.Options{})
	require.ErrorContains(t, err, "ids")
	got, err := wirecheck.Canonical([]byte("\x83\xa4code\xa0\xa7message\xa0\xa3ids\x90"), new(protocol.Error), wirecheck.Options{})
	require.NoError(t, err)
	require.Equal(t, "82a4636f6465a0a76d657373616765a0", hex.EncodeToString(got), "an empty ids is omitted")
}

func TestAClientBodyIsCanonicalButAnExchangeMayPutItsCursorLast(t *testing.T) {
	x := &protocol.ExchangeRequest{Collection: "notes", BatchID: "b-0123456789abcdef", Cursor: "1.c",
		Uploads: []protocol.Upload{{ID: "a", FP: make([]byte, 32), Content: []byte("x")}}, Downloads: []string{"b"}}
	canonical, err := protocol.Marshal(x)
	require.NoError(t, err)
	last := protocol.AppendExchangeCursor(protocol.AppendExchangeHead(nil, x), x.Cursor)
	require.NotEqual(t, canonical, last)
	require.NoError(t, wirecheck.CheckClientBody(canonical, &protocol.ExchangeRequest{}))
	require.NoError(t, wirecheck.CheckClientBody(last, &protocol.ExchangeRequest{}))
	require.Error(t, wirecheck.CheckCanonical(last, &protocol.ExchangeRequest{}), "not canonical")

	// Any other order is not what a client sends.
	collLast := append(append([]byte{0x85}, last[1+len("\xaacollection\xa5notes"):]...), "\xaacollection\xa5notes"...)
	var back protocol.ExchangeRequest
	require.NoError(t, protocol.Unmarshal(collLast, &back), "a valid body")
	require.Error(t, wirecheck.CheckClientBody(collLast, &protocol.ExchangeRequest{}))
	// Nor is the cursor last in another message.
	str := func(v string) []byte { return append([]byte{0xa0 | byte(len(v))}, v...) }
	var chLast []byte
	chLast = append(chLast, 0x83)
	chLast = append(append(chLast, str("collection")...), str("notes")...)
	chLast = append(append(chLast, str("limit")...), 0x05)
	chLast = append(append(chLast, str("cursor")...), str("1.c")...)
	var ch protocol.ChangesRequest
	require.NoError(t, protocol.Unmarshal(chLast, &ch))
	require.Equal(t, protocol.ChangesRequest{Collection: "notes", Cursor: "1.c", Limit: 5}, ch)
	require.Error(t, wirecheck.CheckClientBody(chLast, &protocol.ChangesRequest{}))
	chCanon, err := protocol.Marshal(&ch)
	require.NoError(t, err)
	require.NoError(t, wirecheck.CheckClientBody(chCanon, &protocol.ChangesRequest{}))
}
