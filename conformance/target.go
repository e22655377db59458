package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// Target is a server under test.
type Target struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:7070.
	URL string
	// Token is a user token of one user (device "A").
	Token string
	// TokenB is a token of another user ("B"), for isolation cases.
	TokenB string
	// TokenC is optional: a token of a second device of Token's user ("C").
	// Cases that need two devices of one user are skipped without it.
	TokenC string
	// AdminToken is optional: the server's admin token, for the cases of
	// section 11 (skipped without it).
	AdminToken string
	// HTTP is the client used; nil means one with a 90 s timeout.
	HTTP *http.Client
}

// secrets returns the strings that never appear in a report.
func (tg Target) secrets() []string {
	var s []string
	for _, t := range []string{tg.Token, tg.TokenB, tg.TokenC, tg.AdminToken} {
		if t != "" {
			s = append(s, t)
		}
	}
	return s
}

// Who names the credentials of a request.
type Who string

// Credentials.
const (
	UserA  Who = "A"     // Target.Token
	UserB  Who = "B"     // Target.TokenB: another user
	UserC  Who = "C"     // Target.TokenC: a second device of user A
	Admin  Who = "admin" // Target.AdminToken
	NoAuth Who = "none"  // no Authorization header
)

// Request is one HTTP request of a case.
type Request struct {
	Method string // "" means POST
	Path   string
	As     Who
	// Auth, when set, is sent verbatim as the Authorization header
	// instead of the bearer token of As.
	Auth string
	// Version is the Syncprint-Version header; "" means "1" for every
	// path but /v1/info. NoVersion sends none.
	Version   string
	NoVersion bool
	// NoAcceptEncoding sends no Accept-Encoding header; otherwise the
	// harness asks for unencoded responses (identity) unless Header names
	// another Accept-Encoding.
	NoAcceptEncoding bool
	// Header holds extra headers.
	Header map[string]string
	// HeaderLines holds header lines sent after Header, each value on a
	// line of its own (a name may repeat); they replace the harness's own
	// line of that name.
	HeaderLines http.Header
	// Body is sent as it is: a case that sets Content-Encoding in Header
	// encodes it itself.
	Body []byte
}

// Response is a server's answer.
type Response struct {
	Status int
	Header http.Header
	// Body is the response body, decoded from its content coding when it
	// has one (SP-3-8); RawBody is the body as received.
	Body, RawBody []byte
	// Coding is the response's content coding, "" for none.
	Coding string
	// Err is the decoded Error body of a non-200 response, nil if the body
	// is not a decodable Error.
	Err *protocol.Error
	// DecodeErr says why Err is nil on a non-200 response.
	DecodeErr error
	// Took is the request's duration.
	Took time.Duration
}

// Code returns the error code of a non-200 response, "" otherwise.
func (r *Response) Code() protocol.Code {
	if r.Err == nil {
		return ""
	}
	return r.Err.Code
}

// Entry is one request and its response in a transcript, decoded.
type Entry struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	As       string            `json:"as"`
	Headers  map[string]string `json:"headers,omitempty"`
	Request  string            `json:"request,omitempty"`
	Status   int               `json:"status,omitempty"`
	RespHdrs map[string]string `json:"response_headers,omitempty"`
	Response string            `json:"response,omitempty"`
	Error    string            `json:"error,omitempty"`
	Millis   int64             `json:"ms"`
}

// String renders the entry over a few lines.
func (e Entry) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "> %s %s [as %s]", e.Method, e.Path, e.As)
	for _, k := range sortedKeys(e.Headers) {
		fmt.Fprintf(&sb, " %s: %s", k, e.Headers[k])
	}
	sb.WriteString("\n")
	if e.Request != "" {
		fmt.Fprintf(&sb, "  %s\n", e.Request)
	}
	if e.Error != "" {
		fmt.Fprintf(&sb, "< transport error after %d ms: %s\n", e.Millis, e.Error)
		return sb.String()
	}
	fmt.Fprintf(&sb, "< %d (%d ms)", e.Status, e.Millis)
	for _, k := range sortedKeys(e.RespHdrs) {
		fmt.Fprintf(&sb, " %s: %s", k, e.RespHdrs[k])
	}
	sb.WriteString("\n")
	if e.Response != "" {
		fmt.Fprintf(&sb, "  %s\n", e.Response)
	}
	return sb.String()
}

// recorder keeps the transcript of one case.
type recorder struct {
	mu      sync.Mutex // guards entries
	entries []Entry
}

func (r *recorder) add(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

func (r *recorder) all() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.entries...)
}

// errTransport marks a failure to get a response at all.
var errTransport = errors.New("transport")

// do sends one request and records it.
func (tg *Target) do(ctx context.Context, rec *recorder, req Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	url := strings.TrimRight(tg.URL, "/") + req.Path
	hr, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if req.Body == nil {
		hr.Body, hr.ContentLength = http.NoBody, 0
	}
	e := Entry{Method: method, Path: req.Path, As: string(req.As), Headers: map[string]string{}}
	if e.As == "" {
		e.As = string(NoAuth)
	}
	switch {
	case req.Auth != "":
		hr.Header.Set("Authorization", req.Auth)
		e.Headers["Authorization"] = redactAuth(req.Auth, tg.secrets())
		e.As = "custom"
	case req.As == UserA || req.As == UserB || req.As == UserC || req.As == Admin:
		tok := tg.token(req.As)
		if tok == "" {
			return nil, fmt.Errorf("no token for %s", req.As)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	if !req.NoVersion {
		v := req.Version
		if v == "" && req.Path != protocol.PathInfo {
			v = "1"
		}
		if v != "" {
			hr.Header.Set(protocol.HeaderVersion, v)
			e.Headers[protocol.HeaderVersion] = v
		}
	}
	if method == http.MethodPost {
		hr.Header.Set("Content-Type", protocol.ContentType)
	}
	// Responses come unencoded unless a case asks for a coding (SP-3-8):
	// net/http would otherwise ask for gzip on its own and hide it.
	hc := tg.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	if req.NoAcceptEncoding {
		if hc, err = withoutCompression(hc); err != nil {
			return nil, err
		}
		defer hc.CloseIdleConnections()
		e.Headers["Accept-Encoding"] = "(none)"
	} else {
		hr.Header.Set("Accept-Encoding", coding.Identity)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
		e.Headers[k] = v
	}
	for k, vs := range req.HeaderLines {
		hr.Header.Del(k)
		q := make([]string, len(vs))
		for i, v := range vs {
			hr.Header.Add(k, v)
			q[i] = strconv.Quote(v)
		}
		e.Headers[k] = fmt.Sprintf("%s (%d lines)", strings.Join(q, " and "), len(vs))
	}
	if req.Body != nil {
		e.Request = renderRequestBody(hr.Header.Values("Content-Encoding"), req.Body)
	}
	start := time.Now()
	resp, err := hc.Do(hr)
	if err != nil {
		e.Millis = time.Since(start).Milliseconds()
		e.Error = redact(err.Error(), tg.secrets())
		rec.add(e)
		return nil, fmt.Errorf("%w: %s %s: %v", errTransport, method, req.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	took := time.Since(start)
	e.Millis = took.Milliseconds()
	if err != nil {
		e.Error = "reading the body: " + err.Error()
		rec.add(e)
		return nil, fmt.Errorf("%w: %s %s: read body: %v", errTransport, method, req.Path, err)
	}
	e.Status = resp.StatusCode
	e.RespHdrs = map[string]string{}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Retry-After", "Allow"} {
		if v := resp.Header.Get(k); v != "" {
			e.RespHdrs[k] = v
		}
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, RawBody: body, Took: took}
	if ce := resp.Header.Values("Content-Encoding"); len(ce) > 0 {
		cc, err := coding.ParseContentEncoding(ce)
		if err == nil {
			r.Coding = cc
			r.Body, err = responseDecoder().Decode(cc, body)
		}
		if err != nil {
			r.Body, r.DecodeErr = body, fmt.Errorf("content coding %q: %w", strings.Join(ce, ", "), err)
		}
	}
	e.Response = renderMsgpack(r.Body)
	rec.add(e)
	body = r.Body
	if resp.StatusCode != http.StatusOK {
		var pe protocol.Error
		if err := protocol.Unmarshal(body, &pe); err != nil {
			r.DecodeErr = err
		} else {
			r.Err = &pe
		}
	}
	return r, nil
}

// withoutCompression returns a copy of hc whose transport neither asks for
// gzip nor decodes it: with it, a request goes without Accept-Encoding.
func withoutCompression(hc *http.Client) (*http.Client, error) {
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	tr, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("the HTTP client's transport (%T) cannot send a request without Accept-Encoding", rt)
	}
	tr = tr.Clone()
	tr.DisableCompression = true
	c := *hc
	c.Transport = tr
	return &c, nil
}

// renderRequestBody renders a request body for the transcript, decoded
// from its content coding when it has one (at most 1 MiB of it: a case may
// send a body that decodes to gigabytes).
func renderRequestBody(contentEncoding []string, body []byte) string {
	cc, err := coding.ParseContentEncoding(contentEncoding)
	if err != nil || cc == "" {
		return renderMsgpack(body)
	}
	dec, err := requestRenderDecoder().Decode(cc, body)
	switch {
	case errors.Is(err, coding.ErrTooLarge):
		return fmt.Sprintf("[%s, %d bytes, decoding to more than 1 MiB]", cc, len(body))
	case err != nil:
		return fmt.Sprintf("[%s, %d bytes that do not decode: %v] %s", cc, len(body), err, clipHex(body, 64))
	}
	return fmt.Sprintf("[%s, %d bytes] %s", cc, len(body), renderMsgpack(dec))
}

// requestRenderDecoder returns the decoder of request bodies for
// transcripts. It and responseDecoder are made on first use: the package is
// linked into every command of the binary, which should not pay for them.
var requestRenderDecoder = sync.OnceValue(func() *coding.Decoder {
	d, err := coding.NewDecoder(1 << 20)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return d
})

// responseDecoder returns the decoder of response bodies (at most 256 MiB,
// like the read limit).
var responseDecoder = sync.OnceValue(func() *coding.Decoder {
	d, err := coding.NewDecoder(256 << 20)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return d
})

func (tg *Target) token(w Who) string {
	switch w {
	case UserA:
		return tg.Token
	case UserB:
		return tg.TokenB
	case UserC:
		return tg.TokenC
	case Admin:
		return tg.AdminToken
	}
	return ""
}

var defaultHTTP = &http.Client{Timeout: 90 * time.Second}

// tokenLike matches tokens of the reference form (SP-3-7), such as those a
// case has the server issue; they are redacted too.
var tokenLike = regexp.MustCompile(`sp_[A-Za-z0-9_-]{43}`)

// redact replaces every secret, and everything shaped like a token, in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return tokenLike.ReplaceAllString(s, "sp_<redacted>")
}

// redactAuth describes a custom Authorization value without showing any
// credential characters: its scheme, the length of the rest and how it
// relates to the real tokens.
func redactAuth(v string, secrets []string) string {
	scheme, cred, _ := strings.Cut(v, " ")
	desc := fmt.Sprintf("%s <%d characters", scheme, len(cred))
	for i, sec := range secrets {
		switch {
		case cred == sec:
			desc += fmt.Sprintf(": token #%d", i+1)
		case cred != "" && strings.HasPrefix(sec, cred):
			desc += fmt.Sprintf(": a prefix of token #%d", i+1)
		case len(cred) == len(sec) && cred[:len(cred)-2] == sec[:len(sec)-2]:
			desc += fmt.Sprintf(": token #%d altered", i+1)
		}
	}
	return desc + ">"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
