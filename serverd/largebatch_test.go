package serverd

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestALargeBatchIsCheckedWhole sends an exchange of 3,000 uploads, which
// the server fingerprints on two cores (fingerprint.OfEach), with wrong
// fingerprints in both halves: every one of them is named and nothing is
// stored. The same batch with its fingerprints mended is applied whole.
func TestALargeBatchIsCheckedWhole(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ts := startServer(t, Config{})
	tok := ts.token("alice", "phone")
	h := hlcAt(time.Now())
	ups := make([]protocol.Upload, 3000)
	for i := range ups {
		ups[i] = up(fmt.Sprintf("item-%05d", i), strings.Repeat(fmt.Sprintf("content %d ", i), 20), 0, 0, h)
	}
	bad := map[int]bool{7: true, 1499: true, 1500: true, 2999: true}
	for i := range bad {
		ups[i].FP[3] ^= 0x40
	}
	before := dump(t, ts.srv)
	var resp protocol.ExchangeResponse
	e := ts.call(protocol.PathExchange, tok, protocol.ExchangeRequest{Collection: "notes", BatchID: batchID(), Uploads: ups}, &resp)
	requireCode(t, protocol.CodeFingerprintMismatch, e)
	require.ElementsMatch(t, []string{"item-00007", "item-01499", "item-01500", "item-02999"}, e.IDs)
	require.Equal(t, before, dump(t, ts.srv), "a refused batch changes nothing")

	for i := range bad {
		ups[i].FP[3] ^= 0x40
	}
	resp = ts.exchange(tok, "notes", ups)
	require.Len(t, resp.Results, len(ups))
	for i, r := range resp.Results {
		require.Equal(t, protocol.StatusApplied, r.Status, "upload %d", i)
	}
}
