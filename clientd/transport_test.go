package clientd

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

func TestErrorResponsesBecomeProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       []byte
		retryAfter string
		code       protocol.Code
		seconds    int
		network    bool
	}{
		{"a protocol error body keeps its code and message", 409, mustMarshal(t, protocol.Errorf(protocol.CodeBatchReused, "nope")), "", protocol.CodeBatchReused, 0, false},
		{"Retry-After in seconds is carried", 429, mustMarshal(t, protocol.Errorf(protocol.CodeRateLimited, "slow down")), "7", protocol.CodeRateLimited, 7, false},
		{"a proxy's 502 page is unavailable", 502, []byte("<html>bad gateway</html>"), "", protocol.CodeUnavailable, 0, false},
		{"an unexplained 400 page is a network error", 400, []byte("<html>?</html>"), "", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "1", r.Header.Get(protocol.HeaderVersion))
				require.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
				if tc.retryAfter != "" {
					w.Header().Set(protocol.HeaderRetryAfter, tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write(tc.body)
			}))
			defer hs.Close()
			c, err := Open(filepath.Join(t.TempDir(), "s.db"), Config{ServerURL: hs.URL + "/", Token: "tok"})
			require.NoError(t, err)
			defer c.Close()
			var out protocol.Info
			err = c.call(context.Background(), protocol.PathInfo, nil, "", nil, &out, time.Second, time.Second)
			require.Error(t, err)
			require.Equal(t, tc.network, errors.Is(err, ErrNetwork))
			require.Equal(t, tc.code, protocol.CodeOf(err))
			require.Equal(t, time.Duration(tc.seconds)*time.Second, RetryAfter(err))
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := protocol.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestAServerOfAnotherProtocolVersionIsRefused(t *testing.T) {
	for _, tc := range []struct {
		versions []int
		want     string
	}{{[]int{2, 3}, "too new"}, {[]int{0}, "too old"}} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(mustMarshal(t, &protocol.Info{Versions: tc.versions, Replica: "a/b"}))
		}))
		c, err := Open(filepath.Join(t.TempDir(), "s.db"), Config{ServerURL: hs.URL, Token: "tok"})
		require.NoError(t, err)
		_, err = c.Sync(context.Background())
		require.ErrorIs(t, err, ErrIncompatible)
		require.ErrorContains(t, err, tc.want)
		require.NoError(t, c.Close())
		hs.Close()
	}
}

func TestAnUndecodableResponseIsAProtocolErrorAndNotRetriedInTheSession(t *testing.T) {
	calls := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, _ = w.Write([]byte{0x93, 1, 2, 3}) // an array, not a map
	}))
	defer hs.Close()
	c, err := Open(filepath.Join(t.TempDir(), "s.db"), Config{ServerURL: hs.URL, Token: "tok", MinBackoff: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Sync(context.Background())
	require.ErrorIs(t, err, ErrProtocol)
	require.Equal(t, 1, calls)
	require.True(t, Retryable(err), "a later session may try again")
}
