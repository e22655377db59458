package serverd

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// Bugs the fuzz targets found, each kept as a plain test (the failing
// input is also a seed under testdata/fuzz/).

// FuzzHandler found that the router matched fasthttp's normalised path:
// "/v1//info", "/v1/./info" and "/v1/%69nfo" reached GET /v1/info, where
// SP-3-1 matches paths exactly and answers any other with not_found.
func TestPathsAreMatchedExactlyAsSent(t *testing.T) {
	ts := startServer(t, Config{})
	addr := strings.TrimPrefix(ts.url, "http://")
	for target, want := range map[string]int{
		"/v1//info":                   http.StatusNotFound,
		"/v1/./info":                  http.StatusNotFound,
		"/v1/%69nfo":                  http.StatusNotFound,
		"//v1/info":                   http.StatusNotFound,
		"/v1/info":                    http.StatusOK,
		"/v1/info?x=1":                http.StatusOK,
		"http://" + addr + "/v1/info": http.StatusOK,
	} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		require.Equal(t, want, resp.StatusCode, target)
		require.Equal(t, protocol.ContentType, resp.Header.Get("Content-Type"), target)
		require.NoError(t, resp.Body.Close())
		require.NoError(t, conn.Close())
	}
}
