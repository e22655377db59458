package clientd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// call sends one request and decodes the answer into out. body nil means
// GET. A protocol error comes back as *protocol.Error (with
// RetryAfterSeconds from the Retry-After header); anything else that went
// wrong on the way is wrapped in ErrNetwork. The request is given up after
// timeout, or after idle without progress (0: no idle limit).
func (c *Client) call(ctx context.Context, path string, body []byte, bodyCoding string, hdr http.Header, out any, timeout, idle time.Duration) error {
	parent := ctx
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(idle, func() { cancel(errNoProgress{idle}) })
	defer wd.stop()
	method := http.MethodPost
	if body == nil {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.ServerURL+path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(progressReader{bytes.NewReader(body), wd}), nil
		}
		req.Body, _ = req.GetBody()
	}
	// Only the headers the protocol uses: a small sync's requests are
	// mostly headers. Every response is msgpack (no Accept), and the
	// agent says what it is in fewer bytes than Go's default.
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(protocol.HeaderVersion, strconv.Itoa(protocol.Version))
	if body != nil {
		req.Header.Set("Content-Type", protocol.ContentType)
		if bodyCoding != "" {
			req.Header.Set("Content-Encoding", bodyCoding)
		}
	}
	// Set by hand, net/http neither adds gzip nor decodes the body: the
	// body is decoded below.
	if c.dec != nil {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	} else {
		req.Header.Set("Accept-Encoding", coding.Identity)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return fmt.Errorf("%s: %w", path, perr) // the caller gave up: not a network fault
		}
		return fmt.Errorf("%w: %s: %w", ErrNetwork, path, noResponse{stalled(ctx, err)})
	}
	defer resp.Body.Close()
	wd.kick() // the headers came
	if watch, ok := parent.Value(headerWatchKey{}).(func(http.Header)); ok && resp.StatusCode == http.StatusOK {
		watch(resp.Header)
	}
	resp.Body = readCloser{progressReader{resp.Body, wd}, resp.Body}
	data, err := readBody(resp, maxResponseBytes+1)
	if err != nil {
		return fmt.Errorf("%w: %s: read response: %w", ErrNetwork, path, noResponse{stalled(ctx, err)})
	}
	wd.stop()
	if len(data) > maxResponseBytes {
		return fmt.Errorf("%w: %s: response over %d bytes", ErrNetwork, path, maxResponseBytes)
	}
	if ce := resp.Header.Values("Content-Encoding"); len(ce) > 0 {
		rc, err := coding.ParseContentEncoding(ce)
		if err == nil && rc != "" && c.dec == nil {
			err = fmt.Errorf("%w: %q was not asked for", coding.ErrUnsupported, rc)
		}
		if err == nil && rc != "" {
			data, err = c.dec.Decode(rc, data)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: response body: %w", ErrProtocol, path, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %w", path, errorFromResponse(resp, data))
	}
	// data is this call's own buffer and is not touched again: the decoded
	// message may share it.
	if err := protocol.UnmarshalOwned(data, out); err != nil {
		return fmt.Errorf("%w: %s: undecodable response: %w", ErrProtocol, path, err)
	}
	return nil
}

// watchdog calls its function when it has not been kicked for its
// duration. A nil watchdog does nothing.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	if d <= 0 {
		return nil
	}
	return &watchdog{t: time.AfterFunc(d, fire), d: d}
}

// kick restarts the wait; after the watchdog fired it changes nothing.
func (w *watchdog) kick() {
	if w != nil {
		w.t.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w != nil {
		w.t.Stop()
	}
}

// progressReader kicks a watchdog whenever bytes move through it.
type progressReader struct {
	r  io.Reader
	wd *watchdog
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.wd.kick()
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errNoProgress is the cause of a request given up by its watchdog.
type errNoProgress struct{ d time.Duration }

func (e errNoProgress) Error() string { return fmt.Sprintf("no progress for %s", e.d) }

// stalled names the watchdog as the reason of err when it fired.
func stalled(ctx context.Context, err error) error {
	if np, ok := context.Cause(ctx).(errNoProgress); ok {
		return fmt.Errorf("%w: %w", np, err)
	}
	return err
}

// noResponse marks a transport failure: the request got no (complete)
// response.
type noResponse struct{ error }

func (e noResponse) Unwrap() error { return e.error }

// readBody reads at most limit bytes of the response body. When the
// server announces the length, the buffer is allocated once at that size
// instead of growing (and copying) its way up to it.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n >= limit {
		return io.ReadAll(io.LimitReader(resp.Body, limit))
	}
	// One byte more than announced, so that a body longer than its
	// Content-Length does not go unnoticed (net/http reports it anyway).
	buf := make([]byte, 0, n+1)
	for {
		m, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			rest, err := io.ReadAll(io.LimitReader(resp.Body, limit-int64(len(buf))))
			return append(buf, rest...), err
		}
	}
}

// errorFromResponse parses an error body; a body that is not a protocol
// error (a proxy's HTML page) becomes one with a code derived from the
// status.
func errorFromResponse(resp *http.Response, data []byte) error {
	var pe protocol.Error
	if err := protocol.Unmarshal(data, &pe); err != nil || pe.Code == "" {
		pe = protocol.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("HTTP %s without a protocol error body", resp.Status)}
		if pe.Code == "" {
			return fmt.Errorf("%w: unexpected HTTP %s", ErrNetwork, resp.Status)
		}
	}
	if s := resp.Header.Get(protocol.HeaderRetryAfter); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			pe.RetryAfterSeconds = n
		} else if t, err := http.ParseTime(s); err == nil {
			pe.RetryAfterSeconds = max(int(time.Until(t).Seconds()+0.5), 1)
		}
	}
	return &pe
}

func codeForStatus(status int) protocol.Code {
	switch status {
	case http.StatusTooManyRequests:
		return protocol.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return protocol.CodeUnavailable
	case http.StatusUnauthorized:
		return protocol.CodeUnauthorized
	case http.StatusNotFound:
		return protocol.CodeNotFound
	}
	if status >= 500 {
		return protocol.CodeInternal
	}
	return ""
}

// callRetry sends the same body up to requestAttempts times while the
// failure is retryable, sleeping with backoff (honouring Retry-After up to
// maxInlineRetryWait). Retrying an exchange with the same bytes and batch
// ID is safe: the server answers a repeat with the first result. A body
// over the server's max_body_bytes that gets no response was refused
// unread: that is a final payload_too_large, never retried (SP-3-13).
func (c *Client) callRetry(ctx context.Context, path string, req, out any) error {
	var body []byte
	if raw, ok := req.(rawMessage); ok {
		body = raw
	} else if req != nil {
		var err error
		if body, err = protocol.Marshal(req); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	wire, bodyCoding, err := c.encodeBody(body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return c.sendRetry(ctx, path, body, wire, bodyCoding, nil, out)
}

// sendRetry is callRetry for a body already encoded: body as it is, wire
// as it goes (in bodyCoding, "" for body itself).
func (c *Client) sendRetry(ctx context.Context, path string, body, wire []byte, bodyCoding string, hdr http.Header, out any) error {
	maxBody := c.maxBody()
	for attempt := 1; ; attempt++ {
		err := c.call(ctx, path, wire, bodyCoding, hdr, out, c.cfg.RequestTimeout, c.cfg.IdleTimeout)
		if err != nil && len(body) > maxBody && errors.As(err, new(noResponse)) && ctx.Err() == nil {
			return fmt.Errorf("%s: %w", path, protocol.Errorf(protocol.CodePayloadTooLarge,
				"request body is %d bytes, over the server's max_body_bytes of %d, and got no response: %v", len(body), maxBody, err))
		}
		if err == nil || attempt >= requestAttempts || !retryableRequest(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt)
		if ra := RetryAfter(err); ra > 0 {
			if ra > maxInlineRetryWait {
				return err
			}
			wait = max(wait, ra)
		}
		wait = min(wait, maxInlineRetryWait)
		c.cfg.Logger.Debug("retrying request", "path", path, "attempt", attempt, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// headerWatchKey keys a func(http.Header) in a request's context (see
// withHeaderWatch).
type headerWatchKey struct{}

// withHeaderWatch returns ctx with watch, which call runs on the headers
// of a 200 answer as soon as they arrive, before it reads the body (as
// net/http/httptrace hooks ride on a request's context).
func withHeaderWatch(ctx context.Context, watch func(http.Header)) context.Context {
	return context.WithValue(ctx, headerWatchKey{}, watch)
}

// userAgent is the User-Agent of every request.
const userAgent = "syncprint"

// acceptEncoding is the Accept-Encoding of every request (SP-3-8).
var acceptEncoding = strings.Join(coding.Supported, ", ")

// encodeBody encodes a request body in the first coding the server
// offers (SP-3-8), once per request: every retry sends the same bytes. A
// body under coding.MinSize, or one the coding would not shrink, goes as it
// is.
func (c *Client) encodeBody(body []byte) ([]byte, string, error) {
	cc := c.bodyCoding(len(body))
	if cc == "" {
		return body, "", nil
	}
	z, err := c.enc.Encode(cc, nil, body)
	if err != nil || !coding.Pays(len(body), len(z), cc) {
		return body, "", err
	}
	return z, cc, nil
}

// bodyCoding returns the coding to try on a request body of n bytes: the
// first the server offers, or "" for none (the body goes as it is).
func (c *Client) bodyCoding(n int) string {
	if c.enc == nil || n < coding.MinSize {
		return ""
	}
	c.mu.Lock()
	var features []string
	if c.info != nil {
		features = c.info.Features
	}
	c.mu.Unlock()
	for _, cc := range coding.Supported {
		if slices.Contains(features, cc) {
			return cc
		}
	}
	return ""
}

// maxBody returns the max_body_bytes of the server's latest Info (the
// protocol's default before any).
func (c *Client) maxBody() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info != nil && c.info.Limits.MaxBodyBytes > 0 {
		return c.info.Limits.MaxBodyBytes
	}
	return protocol.DefaultMaxBodyBytes
}

func retryableRequest(err error) bool {
	if code := protocol.CodeOf(err); code != "" {
		return code.Retryable()
	}
	return errors.Is(err, ErrNetwork)
}

// backoff returns the wait before attempt n+1 (n >= 1): uniformly random
// between lo and min(hi, lo*2^(n-1)) — exponential growth with full jitter.
func backoff(lo, hi time.Duration, n int) time.Duration {
	ceil := lo
	for i := 1; i < n && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
