package clientd

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Pages with content are requested pagesAhead ahead of the one being
// planned and applied, each as soon as the one before it has arrived: over
// a link with latency the pull is not a round trip per page. While the
// first page's round is held, the second and third pages are requested
// (and no fourth), in cursor order; nothing is lost or applied twice.
func TestPagesWithContentAreRequestedAheadOfTheOneBeingApplied(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{Limits: protocol.Limits{MaxPage: 4}})
	a := ls.client(t, "laptop", nil)
	for i := range 24 {
		require.NoError(t, a.Put("notes", fmt.Sprintf("n%02d", i), []byte(fmt.Sprint("note ", i))))
	}
	syncOK(t, a)

	var mu sync.Mutex
	requested := 0
	third := make(chan struct{})
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == protocol.PathChanges {
			mu.Lock()
			requested++
			if requested == 3 {
				close(third)
			}
			mu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	b := ls.client(t, "phone", rt)
	var once sync.Once
	var whileHeld int
	b.planned = func(coll string, round int) {
		once.Do(func() {
			select {
			case <-third:
			case <-time.After(10 * time.Second):
			}
			time.Sleep(50 * time.Millisecond) // a fourth request would be sent by now
			mu.Lock()
			whileHeld = requested
			mu.Unlock()
		})
	}
	rep := syncOK(t, b)
	require.Equal(t, 3, whileHeld, "pages 2 and 3 requested while page 1 is planned, no page 4")
	require.Equal(t, 24, rep.Downloaded)
	items, err := b.List("notes")
	require.NoError(t, err)
	require.Len(t, items, 24)
	mu.Lock()
	require.Equal(t, 6, requested, "six pages, each requested once")
	mu.Unlock()
}

// TestAPageIsHashedWhereItWasFetched: checkContents, which the goroutine
// that fetched a page runs, finds the first content that fails its
// fingerprint, skips tombstones and entries without content, and leaves a
// page whose contents do not match its entries one for one to
// pullSegment, which refuses it whole.
func TestAPageIsHashedWhereItWasFetched(t *testing.T) {
	entry := func(id, content string, deleted bool) (protocol.ChangeInfo, []byte) {
		fp := fingerprint.Of(id, deleted, []byte(content))
		if deleted {
			return protocol.ChangeInfo{ID: id, Version: 1, FP: fp[:], Deleted: true}, nil
		}
		return protocol.ChangeInfo{ID: id, Version: 1, FP: fp[:]}, []byte(content)
	}
	page := func(bad int) *protocol.ChangesResponse {
		resp := &protocol.ChangesResponse{}
		for i := range 5 {
			ch, content := entry(fmt.Sprintf("item-%d", i), fmt.Sprintf("content %d", i), i == 1)
			if i == bad {
				content = []byte("not what the fingerprint says")
			}
			resp.Changes, resp.Contents = append(resp.Changes, ch), append(resp.Contents, content)
		}
		return resp
	}
	for _, bad := range []int{-1, 0, 3, 4} {
		r := pageResult{resp: page(bad)}
		r.checkContents()
		require.True(t, r.checked)
		require.Equal(t, bad, r.mismatch, "bad %d", bad)
	}
	r := pageResult{resp: page(3)}
	r.resp.Contents = r.resp.Contents[:4]
	r.checkContents()
	require.True(t, r.checked)
	require.Equal(t, -1, r.mismatch, "a page refused whole is not hashed")
}
