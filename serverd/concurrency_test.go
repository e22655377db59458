package serverd

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// TestConcurrentExchangesGetDistinctVersions: devices exchanging at once
// each see their uploads applied with versions nobody else got, and the
// change log ends with every item exactly once.
func TestConcurrentExchangesGetDistinctVersions(t *testing.T) {
	ts := startServer(t, Config{})
	const devices, rounds, perRound = 4, 5, 20
	toks := make([]string, devices)
	for i := range toks {
		toks[i] = ts.token("alice", fmt.Sprintf("dev%d", i))
	}
	h := hlcAt(time.Now())
	var mu sync.Mutex // guards versions
	versions := map[uint64]string{}
	var wg sync.WaitGroup
	errs := make(chan *protocol.Error, devices*rounds)
	for d := 0; d < devices; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				var ups []protocol.Upload
				for i := 0; i < perRound; i++ {
					ups = append(ups, up(fmt.Sprintf("d%d-r%d-i%d", d, r, i), "x", 0, 0, h))
				}
				var resp protocol.ExchangeResponse
				if e := ts.call(protocol.PathExchange, toks[d], protocol.ExchangeRequest{Collection: "notes", BatchID: fmt.Sprintf("concurrent-batch-%d-%d", d, r), Uploads: ups}, &resp); e != nil {
					errs <- e
					return
				}
				mu.Lock()
				for _, res := range resp.Results {
					if res.Status != protocol.StatusApplied {
						errs <- protocol.Errorf(protocol.CodeInternal, "%s: %s", res.ID, res.Status)
					}
					if prev, dup := versions[res.Version]; dup {
						errs <- protocol.Errorf(protocol.CodeInternal, "version %d given to %s and %s", res.Version, prev, res.ID)
					}
					versions[res.Version] = res.ID
				}
				mu.Unlock()
			}
		}(d)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	total := devices * rounds * perRound
	require.Len(t, versions, total)
	var page protocol.ChangesResponse
	ts.mustCall(protocol.PathChanges, toks[0], protocol.ChangesRequest{Collection: "notes", Limit: protocol.DefaultMaxPage}, &page)
	require.Len(t, page.Changes, total)
	require.Equal(t, uint64(total), page.Head)
}
