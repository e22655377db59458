package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// A warm-up's requests, sent before the timed step, are not in the step's
// trace, and every traced request starts at or after the step.
func TestTracerKeepsTheTimedStepsRequestsOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	tr := &tracer{base: http.DefaultTransport}
	hc := &http.Client{Transport: tr}
	get := func(path string) {
		resp, err := hc.Get(srv.URL + path)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	get("/warm-up")
	tr.begin()
	get("/a")
	get("/b")
	reqs := tr.list()
	require.Len(t, reqs, 2)
	for i, want := range []string{"GET /a", "GET /b"} {
		require.Equal(t, want, reqs[i].Path)
		require.GreaterOrEqual(t, reqs[i].StartMs, 0.0)
		require.Less(t, reqs[i].StartMs, 60_000.0)
		require.Equal(t, http.StatusOK, reqs[i].Status)
	}
}
