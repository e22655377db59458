package faulttest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/protocol"
)

// The recorder reads exchanges whatever their content coding: a large,
// compressible upload goes up compressed and its acknowledgement must
// still be recorded, with the item's version on the server.
func TestTheRecorderReadsCompressedExchanges(t *testing.T) {
	s := startServer(t, nil)
	checker := s.token("u", "checker")
	a := openReplica(t, 0, s.url(), s.token("u", "a"), nil, clientd.Config{})
	big := strings.Repeat("compress me ", 10_000)
	require.NoError(t, a.c.Put("notes", "big", []byte(big)))
	a.last["notes/big"] = version{content: big}
	a.n++
	_, err := a.c.Sync(syncCtx(t))
	require.NoError(t, err)
	require.Zero(t, a.rec.Undecoded())
	acks := a.rec.Acks()
	require.Len(t, acks, 1)
	require.Equal(t, faulttest.Ack{Collection: "notes", ID: "big", FP: acks[0].FP, Version: 1, Status: protocol.StatusApplied}, acks[0])
	state, _ := s.state(checker)
	require.Empty(t, faulttest.CheckAcks(acks, state))
	require.Equal(t, state["notes"]["big"].FP, acks[0].FP)
	converge(t, s, checker, a)
}

// CheckAcks names every way an acknowledgement can be broken.
func TestCheckAcksFindsLostAcknowledgements(t *testing.T) {
	acked := faulttest.Ack{Collection: "notes", ID: "x", FP: [32]byte{1}, Version: 3, Status: protocol.StatusApplied}
	for _, tc := range []struct {
		name   string
		server map[string]faulttest.Item
		want   string
	}{
		{"the item at that version holds", map[string]faulttest.Item{"x": {Version: 3, FP: [32]byte{1}}}, ""},
		{"a later version holds", map[string]faulttest.Item{"x": {Version: 5, FP: [32]byte{2}}}, ""},
		{"the item is missing", map[string]faulttest.Item{}, "missing on the server"},
		{"the server went back to an older version", map[string]faulttest.Item{"x": {Version: 2, FP: [32]byte{1}}}, "holds version 2"},
		{"the version holds other content", map[string]faulttest.Item{"x": {Version: 3, FP: [32]byte{9}}}, "another fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := faulttest.CheckAcks([]faulttest.Ack{acked}, map[string]map[string]faulttest.Item{"notes": tc.server})
			if tc.want == "" {
				require.Empty(t, bad)
				return
			}
			require.Len(t, bad, 1)
			require.Contains(t, bad[0], tc.want)
		})
	}
}
