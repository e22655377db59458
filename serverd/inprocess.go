package serverd

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"
)

var _ http.RoundTripper = (*Server)(nil)

// RoundTrip serves one net/http request in-process: it hands the request to
// the server's handler on the calling goroutine, without a connection or a
// goroutine of its own, and returns the handler's response. A *Server is
// thus an http.RoundTripper that an http.Client (a clientd.Config.HTTPClient)
// can carry, so that a simulation runs clients and a server in one
// goroutine, deterministically.
//
// The request is handled as Serve would handle it: a body over
// max_body_bytes is answered payload_too_large, a server shutting down
// answers unavailable. The response owns its body. RoundTrip fails only
// when the request's context has ended or its body cannot be read.
func (s *Server) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, fmt.Errorf("in-process round trip: %w", err)
	}
	var fr fasthttp.Request
	fr.Header.SetMethod(req.Method)
	fr.SetRequestURI(req.URL.RequestURI())
	fr.Header.SetHost(req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fr.Header.Add(k, v)
		}
	}
	if req.Body != nil {
		// One byte over the limit is enough for the handler to refuse it.
		body, err := io.ReadAll(io.LimitReader(req.Body, int64(s.cfg.Limits.MaxBodyBytes)+1))
		if err != nil {
			return nil, fmt.Errorf("in-process round trip: read request body: %w", err)
		}
		fr.SetBodyRaw(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&fr, nil, fasthttpLogger{s.log})
	s.handler(&ctx)

	body := bytes.Clone(ctx.Response.Body())
	code := ctx.Response.StatusCode()
	resp := &http.Response{
		Status:        strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
	for k, v := range ctx.Response.Header.All() {
		resp.Header.Add(string(k), string(v))
	}
	return resp, nil
}
