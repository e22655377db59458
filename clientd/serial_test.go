package clientd_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With SerialExchanges a session applies every response before it sends
// the next request: the transport, which the simulation drives, sees the
// store with every earlier exchange applied.
func TestSerialExchangesApplyEachResponseBeforeTheNextRequest(t *testing.T) {
	srv := startServer(t, serverd.Config{Limits: protocol.Limits{MaxIDs: 1}})
	laptop := srv.client(t, "alice", "laptop")
	for i := range 4 {
		require.NoError(t, laptop.Put("notes", fmt.Sprint(i), []byte("v")))
	}
	mustSync(t, laptop)

	var phone *clientd.Client
	var held []int // items the phone holds when each exchange is sent
	phone = srv.client(t, "alice", "phone", func(cfg *clientd.Config) {
		cfg.SerialExchanges = true
		cfg.DownloadsInExchanges = true
		cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == protocol.PathExchange {
				items, err := phone.List("notes")
				require.NoError(t, err)
				held = append(held, len(items))
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	rep := mustSync(t, phone)
	require.Equal(t, 4, rep.Downloaded)
	require.Equal(t, []int{0, 1, 2, 3}, held, "one download per exchange (max_ids 1), each applied before the next is sent")
}
