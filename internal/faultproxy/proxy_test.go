package faultproxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/internal/faultproxy"
)

// echo is a loopback HTTP server: /echo answers the request body, /big a
// 20,000-byte body; both with a Content-Length. It counts complete
// requests per path.
type echo struct {
	srv  *httptest.Server
	full atomic.Int64 // requests whose body arrived whole
}

func newEcho(t *testing.T) *echo {
	e := &echo{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if r.ContentLength > 0 && int64(len(body)) == r.ContentLength {
			e.full.Add(1)
		}
		if r.URL.Path == "/big" {
			body = bytes.Repeat([]byte("b"), 20_000)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func newProxy(t *testing.T, e *echo) (*faultproxy.Proxy, *http.Client) {
	p, err := faultproxy.New(strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return p, hc
}

func post(hc *http.Client, url, body string) (string, error) {
	resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTrafficPassesUnchangedOverKeptAliveConnections(t *testing.T) {
	e := newEcho(t)
	p, hc := newProxy(t, e)
	for i := range 5 {
		got, err := post(hc, p.URL()+"/echo?x=1", strings.Repeat("x", i*10_000+1))
		require.NoError(t, err)
		require.Len(t, got, i*10_000+1)
	}
	require.Equal(t, 10, p.Seen("/echo"), "5 requests and 5 responses, query strings dropped")
	require.Equal(t, 10, p.Messages())
}

func TestFaultsStrikeTheNamedPhaseOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    faultproxy.Fault
		// check inspects the error of the struck request.
		check func(t *testing.T, err error)
		// arrived: whether the server got the struck request whole.
		arrived bool
	}{
		{"a response cut after its headers is a truncated body", faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/big", After: 100},
			func(t *testing.T, err error) { require.ErrorIs(t, err, io.ErrUnexpectedEOF) }, true},
		{"a response cut 10 bytes into its body is a truncated body", faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/big", After: 10, InBody: true},
			func(t *testing.T, err error) { require.ErrorIs(t, err, io.ErrUnexpectedEOF) }, true},
		{"a response cut before its first byte is an EOF", faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/big"},
			func(t *testing.T, err error) { require.ErrorIs(t, err, io.EOF) }, true},
		{"a request cut after 10 bytes never reaches the handler", faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Up, Path: "/big", After: 10},
			func(t *testing.T, err error) { require.Error(t, err) }, false},
		{"a reset response is a connection reset", faultproxy.Fault{Kind: faultproxy.Reset, Dir: faultproxy.Down, Path: "/big", After: 0},
			func(t *testing.T, err error) { require.ErrorIs(t, err, syscall.ECONNRESET) }, true},
		{"a reset request body is a failed request", faultproxy.Fault{Kind: faultproxy.Reset, Dir: faultproxy.Up, Path: "/big", After: 200},
			func(t *testing.T, err error) { require.Error(t, err) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(t)
			p, hc := newProxy(t, e)
			tc.f.Times = 1
			p.Set(tc.f)
			got, err := post(hc, p.URL()+"/echo", "before")
			require.NoError(t, err)
			require.Equal(t, "before", got)
			full := e.full.Load()
			_, err = post(hc, p.URL()+"/big", strings.Repeat("q", 1000))
			tc.check(t, err)
			require.Equal(t, 1, p.Struck())
			if tc.arrived {
				require.Equal(t, full+1, e.full.Load())
			} else {
				require.Equal(t, full, e.full.Load())
			}
			// Times: 1 — the next request goes through.
			got, err = post(hc, p.URL()+"/big", "again")
			require.NoError(t, err)
			require.Len(t, got, 20_000)
		})
	}
}

func TestABodyFaultSparesMessagesWithoutBody(t *testing.T) {
	e := newEcho(t)
	p, hc := newProxy(t, e)
	p.Set(faultproxy.Fault{Kind: faultproxy.Reset, Dir: faultproxy.Up, InBody: true})
	resp, err := hc.Get(p.URL() + "/echo")
	require.NoError(t, err)
	resp.Body.Close()
	require.Zero(t, p.Struck())
	_, err = post(hc, p.URL()+"/echo", "x")
	require.Error(t, err)
	require.Equal(t, 1, p.Struck())
}

func TestAHungResponseFlowsOnWhenHealed(t *testing.T) {
	e := newEcho(t)
	p, hc := newProxy(t, e)
	p.Set(faultproxy.Fault{Kind: faultproxy.Hang, Dir: faultproxy.Down, Path: "/big", After: 50})
	done := make(chan error, 1)
	go func() {
		got, err := post(hc, p.URL()+"/big", "x")
		if err == nil && len(got) != 20_000 {
			err = errors.New("short body " + strconv.Itoa(len(got)))
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return p.Struck() == 1 }, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("a hung response completed: %v", err)
	default:
	}
	p.Heal()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the response did not flow on after Heal")
	}
}

func TestAHungRequestTimesTheClientOut(t *testing.T) {
	e := newEcho(t)
	p, hc := newProxy(t, e)
	p.Set(faultproxy.Fault{Kind: faultproxy.Hang, Dir: faultproxy.Up})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/echo", nil)
	require.NoError(t, err)
	_, err = hc.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, e.full.Load())
}

func TestLatencyAndBandwidthSlowTrafficDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    faultproxy.Fault
		min  time.Duration
	}{
		{"latency delays each message", faultproxy.Fault{Kind: faultproxy.Latency, Delay: 100 * time.Millisecond}, 200 * time.Millisecond},
		{"a bandwidth limit stretches a large response", faultproxy.Fault{Kind: faultproxy.Bandwidth, Dir: faultproxy.Down, BytesPerSec: 50_000}, 350 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(t)
			p, hc := newProxy(t, e)
			p.Set(tc.f)
			start := time.Now()
			got, err := post(hc, p.URL()+"/big", "x")
			require.NoError(t, err)
			require.Len(t, got, 20_000)
			require.GreaterOrEqual(t, time.Since(start), tc.min)
		})
	}
}

func TestAClientOfADownServerIsReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p, err := faultproxy.New(addr)
	require.NoError(t, err)
	defer p.Close()
	_, err = http.Get(p.URL() + "/echo")
	require.Error(t, err)
}
