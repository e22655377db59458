package clientd_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// codingLog records the codings of every exchange request and response.
type codingLog struct {
	mu             sync.Mutex // guards the fields below
	accept         []string   // Accept-Encoding of each request
	sent, received []string   // Content-Encoding of exchange requests and responses
}

func (l *codingLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accept = append(l.accept, req.Header.Get("Accept-Encoding"))
	if req.URL.Path == protocol.PathExchange && err == nil {
		l.sent = append(l.sent, req.Header.Get("Content-Encoding"))
		l.received = append(l.received, resp.Header.Get("Content-Encoding"))
	}
	return resp, err
}

func bigItems(n int) map[string][]byte {
	items := map[string][]byte{}
	for i := range n {
		items[fmt.Sprintf("item-%03d", i)] = []byte(strings.Repeat(fmt.Sprintf("line %d of a note; ", i), 10))
	}
	return items
}

func TestLargeBodiesTravelInTheCodingTheServerOffers(t *testing.T) {
	for _, tc := range []struct {
		name                string
		server              serverd.Config
		client              bool // the client's DisableCompression
		wantSent, wantRecvd string
		wantAccept          string
	}{
		{"both sides compress: zstd each way", serverd.Config{}, false, "zstd", "zstd", "zstd, gzip"},
		{"a server without codings gets plain bodies", serverd.Config{DisableCompression: true}, false, "", "", "zstd, gzip"},
		{"a client without codings sends and asks for plain bodies", serverd.Config{}, true, "", "", "identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.server)
			log := &codingLog{}
			a := srv.client(t, "alice", "laptop", withTransport(log), func(cfg *clientd.Config) { cfg.DisableCompression = tc.client })
			b := srv.client(t, "alice", "phone", withTransport(log), func(cfg *clientd.Config) { cfg.DisableCompression = tc.client })
			items := bigItems(100)
			require.NoError(t, a.PutMany("notes", items))
			rep := mustSync(t, a)
			require.Equal(t, 100, rep.Uploaded)
			rep = mustSync(t, b)
			require.Equal(t, 100, rep.Downloaded)
			for id, want := range items {
				require.Equal(t, string(want), mustGet(t, b, "notes", id))
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			require.Equal(t, []string{tc.wantSent, tc.wantRecvd}, []string{log.sent[0], log.received[len(log.received)-1]},
				"the upload request and the download response")
			for _, ae := range log.accept {
				require.Equal(t, tc.wantAccept, ae)
			}
		})
	}
}
