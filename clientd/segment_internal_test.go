package clientd

// Sessions that pull the change info a segment at a time (SP-6.1-6) and
// take large pending sets in parts, against a real serverd with small
// pages and a client with small segments.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// pathLog records the path of every request a client sends.
type pathLog struct {
	mu    sync.Mutex // guards paths
	paths []string
}

func (l *pathLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.paths = append(l.paths, req.URL.Path)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (l *pathLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.paths
	l.paths = nil
	return p
}

func TestAPullLargerThanASegmentIsCarriedOutSegmentBySegment(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{Limits: protocol.Limits{MaxPage: 2}})
	writer := ls.client(t, "laptop", nil)
	for i := range 10 {
		require.NoError(t, writer.Put("notes", fmt.Sprintf("r%02d", i), []byte(fmt.Sprint("remote ", i))))
	}
	syncOK(t, writer)

	log := &pathLog{}
	reader := ls.client(t, "phone", log)
	reader.segment = 3
	for i := range 4 {
		require.NoError(t, reader.Put("notes", fmt.Sprintf("l%02d", i), []byte(fmt.Sprint("local ", i))))
	}
	rep := syncOK(t, reader)
	require.Equal(t, 10, rep.Downloaded)
	require.Equal(t, 4, rep.Uploaded)

	// Pages of 2, segments of at least 3 entries: two pages, then the
	// segment's exchange, twice; the fifth page is the last (2 entries).
	// The 4 pending items do not fit in the last segment (more than 3), so
	// they go up after it, in parts of 3 and 1.
	var seq []string
	for _, p := range log.take() {
		switch p {
		case protocol.PathChanges:
			seq = append(seq, "C")
		case protocol.PathExchange:
			seq = append(seq, "X")
		}
	}
	require.Equal(t, []string{"C", "C", "X", "C", "C", "X", "C", "X", "X", "X"}, seq)

	for i := range 10 {
		got, err := reader.Get("notes", fmt.Sprintf("r%02d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("remote ", i), string(got))
	}
	st, err := reader.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending)

	// Everything is settled: the next session learns from Info that
	// nothing changed since its cursor (SP-3-15, SP-6.1-9), so it pulls no
	// page and sends nothing; the user's conflict records did not change,
	// so they are not listed again (SP-10-9).
	syncOK(t, reader)
	require.Equal(t, []string{protocol.PathInfo}, log.take())

	// The writer learns the reader's items in its own (unsegmented) session.
	rep = syncOK(t, writer)
	require.Equal(t, 4, rep.Downloaded)
}

func TestAnItemChangedAgainDuringASegmentedPullEndsAtItsNewestVersion(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{Limits: protocol.Limits{MaxPage: 2}})
	writer := ls.client(t, "laptop", nil)
	for i := range 8 {
		require.NoError(t, writer.Put("notes", fmt.Sprintf("r%02d", i), []byte("v1")))
	}
	syncOK(t, writer)

	reader := ls.client(t, "phone", nil)
	reader.segment = 2
	// Segments of change info without content: pages with content (one
	// page a segment) are requested ahead, and the last could be read
	// before r00 changes, which the next session would then list.
	reader.cfg.DownloadsInExchanges = true
	calls := 0
	reader.planned = func(coll string, round int) {
		// When the second segment is planned, the first one (r00, r01) is
		// stored; r00 then changes again on the server, and a later
		// segment lists its new version.
		if calls++; calls == 2 {
			got, err := reader.Get("notes", "r00")
			require.NoError(t, err)
			require.Equal(t, "v1", string(got))
			require.NoError(t, writer.Put("notes", "r00", []byte("v2")))
			syncOK(t, writer)
		}
	}
	rep := syncOK(t, reader)
	require.Equal(t, 9, rep.Downloaded, "8 items, and r00 again")
	got, err := reader.Get("notes", "r00")
	require.NoError(t, err)
	require.Equal(t, "v2", string(got))
}
