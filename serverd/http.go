package serverd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// authKind says what credentials an endpoint takes.
type authKind int

const (
	authOptional authKind = iota // info: a token is optional, but must be valid if given
	authUser                     // a user's bearer token
	authAdmin                    // the admin token
)

// route is one endpoint.
type route struct {
	method  string
	auth    authKind
	version bool // requires the Syncprint-Version header
	handle  func(s *Server, c *call) (any, error)
}

var routes = map[string]route{
	protocol.PathInfo:        {method: fasthttp.MethodGet, auth: authOptional, handle: (*Server).handleInfo},
	protocol.PathCollections: {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleCollections},
	protocol.PathChanges:     {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleChanges},
	protocol.PathExchange:    {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleExchange},
	protocol.PathWatch:       {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleWatch},
	protocol.PathConflicts:   {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleConflicts},
	protocol.PathResolve:     {method: fasthttp.MethodPost, auth: authUser, version: true, handle: (*Server).handleResolve},
	protocol.PathAdminTokens: {method: fasthttp.MethodPost, auth: authAdmin, version: true, handle: (*Server).handleAdminTokens},
}

// call is one request being handled.
type call struct {
	ctx     *fasthttp.RequestCtx
	user    string // "" for info without a token and for the admin
	device  string
	replica changelog.ReplicaID
	admin   bool
	body    []byte
	// owned: body is this call's own, decoded from a content coding, and
	// nothing writes to it again, so decoding may share its bytes. The
	// body fasthttp read is its buffer, reused after the call.
	owned bool
	// listCap is the most entries of a request list the decoder keeps
	// (see protocol.UnmarshalCapped): over it, validation refuses the
	// list whatever its length.
	listCap int
}

// rawResponse is a response body already encoded (a stored exchange
// response, sent verbatim).
type rawResponse []byte

// decode unmarshals the request body into v; failures are
// malformed_request. A list longer than any limit is kept only up to
// listCap+1 entries, so that decoding allocates in proportion to what
// validation can accept, not to what the body claims.
func (c *call) decode(v any) error {
	if c.owned {
		return protocol.UnmarshalCappedOwned(c.body, v, c.listCap)
	}
	return protocol.UnmarshalCapped(c.body, v, c.listCap)
}

// handle is the fasthttp handler: route, version, auth, rate limit, body
// size, then the endpoint (which decodes, validates and acts).
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	c := &call{ctx: ctx, listCap: max(s.cfg.Limits.MaxBatchItems, s.cfg.Limits.MaxIDs)}
	var err error
	if !s.enter() {
		err = protocol.Errorf(protocol.CodeUnavailable, "server is shutting down")
	} else {
		defer s.inflight.Done()
		err = s.serve(c)
	}
	code := protocol.Code("")
	level := slog.LevelDebug
	if err != nil {
		pe, fault := toWire(err)
		code = pe.Code
		s.writeError(ctx, pe)
		switch {
		case fault:
			level = slog.LevelError
		case pe.Code == protocol.CodeUnauthorized || pe.Code == protocol.CodeRateLimited:
			level = slog.LevelWarn
		}
	}
	if s.log.Enabled(context.Background(), level) {
		attrs := []slog.Attr{
			slog.String("method", string(ctx.Method())),
			slog.String("path", string(ctx.Path())),
			slog.Int("status", ctx.Response.StatusCode()),
			slog.String("code", string(code)),
			slog.Duration("duration", time.Since(start)),
			slog.String("user", c.user),
		}
		if level == slog.LevelError {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		s.log.LogAttrs(context.Background(), level, "request", attrs...)
	}
}

// serve runs the request through the processing order and writes a
// successful response; errors are returned for handle to write.
func (s *Server) serve(c *call) error {
	ctx := c.ctx
	// Paths match exactly as sent, without the query string [SP-3-1]:
	// ctx.Path() would normalise "/v1//info", "/v1/./info" and
	// "/v1/%69nfo" to /v1/info, which is no endpoint of the table.
	path := ctx.Request.URI().PathOriginal()
	rt, ok := routes[string(path)]
	if !ok {
		return protocol.Errorf(protocol.CodeNotFound, "no endpoint %q", clip(string(path)))
	}
	if string(ctx.Method()) != rt.method {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, rt.method)
		return protocol.Errorf(protocol.CodeMethodNotAllowed, "%s takes %s, not %s", path, rt.method, clip(string(ctx.Method())))
	}
	if rt.version {
		if err := checkVersion(ctx.Request.Header.Peek(protocol.HeaderVersion)); err != nil {
			return err
		}
	}
	if err := s.authenticate(c, rt.auth); err != nil {
		return err
	}
	if s.limiter != nil && (c.user != "" || c.admin) {
		key := storage.HashToken(bearer(ctx))
		if ok, wait := s.limiter.allow(key, time.Now()); !ok {
			e := protocol.Errorf(protocol.CodeRateLimited, "more than %g requests per second; retry later", s.cfg.RateLimit)
			e.RetryAfterSeconds = int(math.Ceil(wait.Seconds()))
			return e
		}
	}
	c.body = ctx.PostBody()
	if len(c.body) > s.cfg.Limits.MaxBodyBytes {
		return protocol.Errorf(protocol.CodePayloadTooLarge, "request body is %d bytes, the limit is %d", len(c.body), s.cfg.Limits.MaxBodyBytes)
	}
	var err error
	if c.body, c.owned, err = s.decodeBody(ctx, c.body); err != nil {
		return err
	}
	resp, err := rt.handle(s, c)
	if err != nil {
		return err
	}
	var body []byte
	if raw, ok := resp.(rawResponse); ok {
		body = raw
	} else if body, err = protocol.Marshal(resp); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(protocol.ContentType)
	if len(body) >= coding.MinSize && s.codings != nil {
		if cc := coding.Negotiate(acceptEncoding(ctx), s.codings); cc != "" {
			enc, err := s.encoder.Encode(cc, nil, body)
			if err != nil {
				return err
			}
			if coding.Pays(len(body), len(enc), cc) {
				body = enc
				ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, cc)
			}
		}
	}
	// body is a fresh encoding or a copy of a stored one, never written to
	// again: fasthttp may send it without copying it (1.3 MB for an
	// exchange of 5,000 downloads).
	ctx.Response.SetBodyRaw(body)
	return nil
}

// checkVersion checks the Syncprint-Version header.
func checkVersion(h []byte) error {
	if len(h) == 0 {
		return protocol.Errorf(protocol.CodeUnsupportedVersion, "header %s is missing; this server speaks version %d", protocol.HeaderVersion, protocol.Version)
	}
	for _, b := range h {
		if b < '0' || b > '9' {
			return protocol.Errorf(protocol.CodeUnsupportedVersion, "header %s: %q is not a decimal integer", protocol.HeaderVersion, clip(string(h)))
		}
	}
	v, err := strconv.ParseUint(string(h), 10, 32)
	if err != nil || v > protocol.Version {
		return protocol.Errorf(protocol.CodeUnsupportedVersion, "protocol version %s is newer than this server speaks (%d to %d)", clip(string(h)), protocol.MinVersion, protocol.Version)
	}
	if v < protocol.MinVersion {
		return protocol.Errorf(protocol.CodeVersionTooOld, "protocol version %d is no longer spoken; this server speaks %d to %d", v, protocol.MinVersion, protocol.Version)
	}
	return nil
}

// decodeBody removes the request's content coding [SP-3-8], as part of
// decoding (step 6 of [SP-3-3]): a coding the server does not offer, or
// more than one, is malformed_request without inflating anything; a body
// that does not decode is malformed_request; one that decodes to more
// than max_body_bytes is payload_too_large, found without inflating more.
func (s *Server) decodeBody(ctx *fasthttp.RequestCtx, body []byte) (out []byte, owned bool, err error) {
	lines := ctx.Request.Header.PeekAll(fasthttp.HeaderContentEncoding)
	if len(lines) == 0 {
		return body, false, nil
	}
	strs := make([]string, len(lines))
	for i, l := range lines {
		strs[i] = string(l)
	}
	cc, err := coding.ParseContentEncoding(strs)
	if err == nil && cc != "" && !slices.Contains(s.codings, cc) {
		err = fmt.Errorf("%w: %q", coding.ErrUnsupported, cc)
	}
	if err != nil {
		offered := "none"
		if len(s.codings) > 0 {
			offered = strings.Join(s.codings, ", ")
		}
		return nil, false, protocol.Errorf(protocol.CodeMalformed, "Content-Encoding %q: %v; this server decodes: %s (Info.features)", clip(strings.Join(strs, ", ")), err, offered)
	}
	dec := s.decoder
	if faultsEnabled && fault("decode-without-limit") {
		dec = faultDecoder(s.cfg.Limits.MaxBodyBytes)
	}
	out, err = dec.Decode(cc, body)
	switch {
	case errors.Is(err, coding.ErrTooLarge):
		return nil, false, protocol.Errorf(protocol.CodePayloadTooLarge, "request body decodes to more than max_body_bytes (%d)", s.cfg.Limits.MaxBodyBytes)
	case err != nil:
		return nil, false, protocol.Errorf(protocol.CodeMalformed, "request body: %v", err)
	}
	// A coding decodes into a new buffer of the call's own.
	return out, cc != "" && cc != coding.Identity, nil
}

// acceptEncoding returns the request's Accept-Encoding lines as one list:
// every line counts [RFC 9110, section 5.3], so a coding refused with q=0
// on a later line stays refused when an earlier one accepts "*" [SP-3-8].
func acceptEncoding(ctx *fasthttp.RequestCtx) string {
	lines := ctx.Request.Header.PeekAll(fasthttp.HeaderAcceptEncoding)
	if len(lines) == 1 {
		return string(lines[0])
	}
	strs := make([]string, len(lines))
	for i, l := range lines {
		strs[i] = string(l)
	}
	return strings.Join(strs, ", ")
}

// bearer returns the token of the Authorization header, "" if there is none.
func bearer(ctx *fasthttp.RequestCtx) string {
	h := string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(h[len(scheme):])
}

// authenticate checks the credentials an endpoint takes and fills c.
func (s *Server) authenticate(c *call, kind authKind) error {
	hasHeader := len(c.ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) > 0
	tok := bearer(c.ctx)
	switch {
	case kind == authOptional && !hasHeader:
		return nil
	case !hasHeader:
		return protocol.Errorf(protocol.CodeUnauthorized, "missing Authorization: Bearer token")
	case tok == "":
		return protocol.Errorf(protocol.CodeUnauthorized, "malformed Authorization header: want \"Bearer <token>\"")
	}
	if kind == authAdmin {
		if !s.isAdmin(tok) {
			return protocol.Errorf(protocol.CodeUnauthorized, "not the admin token")
		}
		c.admin = true
		return nil
	}
	if len(tok) != tokenLen || !strings.HasPrefix(tok, tokenPrefix) {
		return protocol.Errorf(protocol.CodeUnauthorized, "malformed token: want %s followed by 43 base64url characters", tokenPrefix)
	}
	var t storage.Token
	var found bool
	err := s.view(context.Background(), func(tx storage.Tx) error {
		var err error
		t, found, err = tx.Token(storage.HashToken(tok))
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return protocol.Errorf(protocol.CodeUnauthorized, "unknown token")
	}
	c.user, c.device = t.User, t.Device
	if faultsEnabled && fault("shared-namespace") {
		c.user = "shared"
	}
	c.replica = changelog.ReplicaID(t.User + "/" + t.Device)
	return nil
}

// writeError writes a msgpack protocol.Error with its code's status.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, e *protocol.Error) {
	if faultsEnabled && fault("wrong-codes") && e.Code == protocol.CodeInvalidID {
		e = protocol.Errorf(protocol.CodeMalformed, "%s", e.Message)
	}
	body, err := protocol.Marshal(e)
	if err != nil {
		panic("bug: cannot encode an error body: " + err.Error())
	}
	ctx.Response.ResetBody()
	ctx.Response.Header.Del(protocol.HeaderNextCursor) // a page's only (SP-6.1-10)
	ctx.SetStatusCode(e.Code.HTTPStatus())
	ctx.SetContentType(protocol.ContentType)
	if e.Code == protocol.CodeRateLimited || e.Code == protocol.CodeUnavailable {
		secs := e.RetryAfterSeconds
		if secs < 1 {
			secs = 1
		}
		ctx.Response.Header.Set(protocol.HeaderRetryAfter, strconv.Itoa(secs))
	}
	ctx.SetBody(body)
}

// handleTransportError answers requests fasthttp could not parse: a body
// over MaxRequestBodySize is payload_too_large, anything else malformed.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	var e *protocol.Error
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		e = protocol.Errorf(protocol.CodePayloadTooLarge, "request body is over the limit of %d bytes", s.cfg.Limits.MaxBodyBytes)
	} else {
		e = protocol.Errorf(protocol.CodeMalformed, "cannot parse the HTTP request: %v", err)
	}
	s.writeError(ctx, e)
	ctx.SetConnectionClose()
	s.log.Warn("request", "remote", ctx.RemoteAddr().String(), "status", e.Code.HTTPStatus(), "code", e.Code, "err", err.Error())
}
