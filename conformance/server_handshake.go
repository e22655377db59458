package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/syncprint/syncprint/protocol"
)

// Handshake, versions, routing, authorisation.

func init() {
	serverCase(Case{
		ID: "server/handshake/info-without-token", Level: MUST,
		Reqs: []string{"SP-3-5", "SP-2-9", "SP-3-8", "SP-13-5", "SP-3-1"},
		Desc: "GET /v1/info needs no token and announces versions, limits, rules and features",
		Procedure: `
			GET /v1/info without Authorization and without Syncprint-Version.
			Assert: 200, Content-Type application/msgpack, a body that decodes as Info;
			versions ascending and containing 1; server and epoch non-empty; every limit a
			positive integer of at most 2^31-1 and max_id_bytes = 256; default_rule and every
			value of rules one of the four rules of section 7, every key of rules a valid
			collection name; max_skew_ms > 0; server_time > 0; user and replica empty.`,
	}, func(t *T) {
		info := t.GetInfo(NoAuth)
		t.Check(len(info.Versions) > 0 && sort.IntsAreSorted(info.Versions), "versions non-empty and ascending", "versions %v", info.Versions)
		has1 := false
		for _, v := range info.Versions {
			has1 = has1 || v == 1
		}
		t.Check(has1, "versions containing 1", "versions %v", info.Versions)
		t.Check(info.Server != "", "a non-empty server", "server %q", info.Server)
		t.Check(info.Epoch != "", "a non-empty epoch", "epoch %q", info.Epoch)
		l := info.Limits
		for name, v := range map[string]int{"max_item_bytes": l.MaxItemBytes, "max_batch_items": l.MaxBatchItems, "max_batch_bytes": l.MaxBatchBytes,
			"max_ids": l.MaxIDs, "max_page": l.MaxPage, "max_body_bytes": l.MaxBodyBytes, "watch_max_ms": l.WatchMaxMillis, "max_id_bytes": l.MaxIDBytes} {
			t.Check(v > 0 && v <= 1<<31-1, fmt.Sprintf("limits.%s a positive integer of at most 2^31-1 [SP-2-9]", name), "%d", v)
		}
		t.Equal("limits.max_id_bytes", 256, l.MaxIDBytes)
		t.Check(info.DefaultRule.Valid(), "default_rule one of the four rules [SP-13-5]", "%q", info.DefaultRule)
		for c, r := range info.Rules {
			t.Check(r.Valid(), "every announced rule one of the four rules [SP-13-5]", "rules[%q] = %q", c, r)
			t.Check(protocol.ValidateCollection(c) == nil, "every key of rules a collection name", "%q", c)
		}
		t.Check(info.MaxSkewMillis > 0, "max_skew_ms > 0", "%d", info.MaxSkewMillis)
		t.Check(info.ServerTime > 0, "server_time > 0", "%d", info.ServerTime)
		t.Check(info.User == "" && info.Replica == "", `user and replica "" without a token`, "user %q, replica %q", info.User, info.Replica)
	})

	serverCase(Case{
		ID: "server/handshake/info-with-token", Level: MUST,
		Reqs: []string{"SP-3-5", "SP-2-4", "SP-3-6"},
		Desc: "GET /v1/info with a valid token names the caller's user and replica ID",
		Procedure: `
			GET /v1/info with the token of user A, then of user B (and of device C of user A
			when given). Assert: user is a valid user name, replica is "user/device" with a
			valid device name; A and B are different users; C is A's user with another replica.`,
	}, func(t *T) {
		name := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
		check := func(who Who) protocol.Info {
			info := t.GetInfo(who)
			u, d, ok := strings.Cut(info.Replica, "/")
			t.Check(name.MatchString(info.User), "a user name of SP-2-4", "user %q for token %s", info.User, who)
			t.Check(ok && u == info.User && name.MatchString(d), `replica "user/device" [SP-2-4]`, "replica %q for user %q", info.Replica, info.User)
			return info
		}
		a, b := check(UserA), check(UserB)
		t.Check(a.User != b.User, "--token and --token-b of two different users", "both are user %q", a.User)
		if t.target.TokenC != "" {
			c := check(UserC)
			t.Check(c.User == a.User && c.Replica != a.Replica, "--token-c another device of the user of --token", "A %q, C %q", a.Replica, c.Replica)
		}
	})

	serverCase(Case{
		ID: "server/handshake/info-invalid-token", Level: MUST,
		Reqs: []string{"SP-3-5"},
		Desc: "GET /v1/info validates an Authorization header when one is sent",
		Procedure: `
			GET /v1/info with "Authorization: Bearer" and a well-formed token the server never
			issued. Assert: unauthorized (401).`,
	}, func(t *T) {
		r := t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, Auth: "Bearer " + fakeToken()})
		t.WantError(r, protocol.CodeUnauthorized)
	})

	serverCase(Case{
		ID: "server/handshake/info-ignores-version", Level: MUST,
		Reqs: []string{"SP-3-2"},
		Desc: "GET /v1/info ignores the Syncprint-Version header",
		Procedure: `
			GET /v1/info with Syncprint-Version: 999 and again with "abc". Assert: 200 both times.`,
	}, func(t *T) {
		for _, v := range []string{"999", "abc"} {
			t.OK(t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, Version: v}), nil)
		}
	})

	serverCase(Case{
		ID: "server/version/missing-header", Level: MUST,
		Reqs: []string{"SP-3-2", "SP-3-3"},
		Desc: "a request without Syncprint-Version is unsupported_version",
		Procedure: `
			POST /v1/collections and POST /v1/changes with a valid token and body but no
			Syncprint-Version header. Assert: unsupported_version (400).`,
	}, func(t *T) {
		for _, p := range []string{protocol.PathCollections, protocol.PathChanges} {
			body := t.Marshal(protocol.ChangesRequest{Collection: "notes"})
			if p == protocol.PathCollections {
				body = []byte{0x80}
			}
			t.WantError(t.Do(Request{Path: p, As: UserA, NoVersion: true, Body: body}), protocol.CodeUnsupportedVersion)
		}
	})

	serverCase(Case{
		ID: "server/version/newer-than-spoken", Level: MUST,
		Reqs: []string{"SP-3-2", "SP-3-9", "SP-13-1"},
		Desc: "a version greater than the greatest announced is unsupported_version",
		Procedure: `
			POST /v1/collections with Syncprint-Version = the greatest of Info.versions + 1, and
			with 4294967296 and 99999999999999999999 (not representable in 32 or 64 bits).
			Assert: unsupported_version (400) each time.`,
	}, func(t *T) {
		vs := t.info.Versions
		next := fmt.Sprint(vs[len(vs)-1] + 1)
		for _, v := range []string{next, "4294967296", "99999999999999999999"} {
			t.WantError(t.Do(Request{Path: protocol.PathCollections, As: UserA, Version: v, Body: []byte{0x80}}), protocol.CodeUnsupportedVersion)
		}
	})

	serverCase(Case{
		ID: "server/version/not-decimal", Level: MUST,
		Reqs: []string{"SP-3-2"},
		Desc: "a version header that is not a decimal integer is unsupported_version",
		Procedure: `
			POST /v1/collections with Syncprint-Version "abc", "1.0", "-1", "+1", "0x1", "1a",
			"1e0" and "1 1". Assert: unsupported_version (400) each time. Leading zeros and
			surrounding whitespace are allowed: "01", "0001" and " 1 " are version 1 (200).`,
	}, func(t *T) {
		for _, v := range []string{"abc", "1.0", "-1", "+1", "0x1", "1a", "1e0", "1 1"} {
			t.WantError(t.Do(Request{Path: protocol.PathCollections, As: UserA, Version: v, Body: []byte{0x80}}), protocol.CodeUnsupportedVersion)
		}
		for _, v := range []string{"01", "0001", " 1 "} {
			t.OK(t.Do(Request{Path: protocol.PathCollections, As: UserA, Version: v, Body: []byte{0x80}}), nil)
		}
	})

	serverCase(Case{
		ID: "server/version/too-old", Level: MUST,
		Reqs: []string{"SP-3-2", "SP-13-6"},
		Desc: "a version smaller than the smallest announced is version_too_old",
		Procedure: `
			POST /v1/collections with Syncprint-Version = the smallest of Info.versions - 1
			(0 for a version 1 server). Assert: version_too_old (400), not unsupported_version.`,
	}, func(t *T) {
		v := fmt.Sprint(t.info.Versions[0] - 1)
		t.WantError(t.Do(Request{Path: protocol.PathCollections, As: UserA, Version: v, Body: []byte{0x80}}), protocol.CodeVersionTooOld)
	})

	serverCase(Case{
		ID: "server/http/unknown-path", Level: MUST,
		Reqs: []string{"SP-3-1", "SP-3-3"},
		Desc: "paths outside the endpoint table are not_found, matched exactly",
		Procedure: `
			POST /v1/nope, /v1/exchange/ (trailing slash), /V1/exchange (case), /v2/info and
			GET /v1/info/ with a valid token and version. Assert: not_found (404) each time.`,
	}, func(t *T) {
		for _, p := range []string{"/v1/nope", "/v1/exchange/", "/V1/exchange", "/v2/info", "/"} {
			t.WantError(t.Do(Request{Path: p, As: UserA, Body: []byte{0x80}}), protocol.CodeNotFound)
		}
		t.WantError(t.Do(Request{Method: http.MethodGet, Path: "/v1/info/"}), protocol.CodeNotFound)
	})

	serverCase(Case{
		ID: "server/http/query-string-ignored", Level: MUST,
		Reqs: []string{"SP-3-1"},
		Desc: "a query string does not change the endpoint",
		Procedure: `
			GET /v1/info?x=1 and POST /v1/collections?y=2. Assert: 200 both times.`,
	}, func(t *T) {
		t.OK(t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo + "?x=1"}), nil)
		t.OK(t.Do(Request{Path: protocol.PathCollections + "?y=2", As: UserA, Body: []byte{0x80}}), nil)
	})

	serverCase(Case{
		ID: "server/http/wrong-method", Level: MUST,
		Reqs: []string{"SP-3-1", "SP-3-3"},
		Desc: "a known path with another method is method_not_allowed",
		Procedure: `
			GET /v1/exchange, PUT /v1/changes, POST /v1/info and DELETE /v1/collections.
			Assert: method_not_allowed (405) each time.`,
	}, func(t *T) {
		for _, m := range []struct{ method, path string }{{http.MethodGet, protocol.PathExchange}, {http.MethodPut, protocol.PathChanges}, {http.MethodPost, protocol.PathInfo}, {http.MethodDelete, protocol.PathCollections}} {
			t.WantError(t.Do(Request{Method: m.method, Path: m.path, As: UserA}), protocol.CodeMethodNotAllowed)
		}
	})

	serverCase(Case{
		ID: "server/http/allow-header", Level: SHOULD,
		Reqs: []string{"SP-3-1"},
		Desc: "method_not_allowed carries an Allow header naming the endpoint's method",
		Procedure: `
			GET /v1/exchange and POST /v1/info. Assert: 405 with Allow: POST and Allow: GET.`,
	}, func(t *T) {
		r := t.Do(Request{Method: http.MethodGet, Path: protocol.PathExchange, As: UserA})
		t.Check(strings.Contains(r.Header.Get("Allow"), "POST"), "Allow: POST", "Allow: %q", r.Header.Get("Allow"))
		r = t.Do(Request{Method: http.MethodPost, Path: protocol.PathInfo, Body: []byte{0x80}})
		t.Check(strings.Contains(r.Header.Get("Allow"), "GET"), "Allow: GET", "Allow: %q", r.Header.Get("Allow"))
	})

	serverCase(Case{
		ID: "server/http/content-type-not-checked", Level: MUST,
		Reqs: []string{"SP-3-8"},
		Desc: "a request is not rejected for its Content-Type",
		Procedure: `
			POST /v1/changes with Content-Type text/plain, then with application/json.
			Assert: 200 with a msgpack ChangesResponse both times.`,
	}, func(t *T) {
		ns := t.NewCollection()
		for _, ct := range []string{"text/plain", "application/json"} {
			r := t.Do(Request{Path: protocol.PathChanges, As: UserA, Header: map[string]string{"Content-Type": ct}, Body: t.Marshal(protocol.ChangesRequest{Collection: ns.Collection})})
			t.OK(r, &protocol.ChangesResponse{})
		}
	})

	serverCase(Case{
		ID: "server/http/content-encoding-refused", Level: MUST,
		Reqs: []string{"SP-3-8", "SP-3-3"},
		Desc: "a request whose Content-Encoding names a coding the server does not announce, or two codings, is malformed_request and applies nothing",
		Procedure: `
			Exchanges uploading "m" to a fresh collection, with a valid (unencoded) body and
			Content-Encoding br, BR, compress, x-custom, "zstd, gzip", and zstd and gzip when
			Info.features does not list them. Assert: malformed_request (400) each time and "m"
			never exists. With Content-Encoding identity, IDENTITY or empty: 200.`,
	}, func(t *T) {
		ns := t.NewCollection()
		codings := []string{"br", "BR", "compress", "x-custom", "zstd, gzip"}
		for _, c := range []string{"zstd", "gzip"} {
			if !t.HasFeature(c) {
				codings = append(codings, c, "identity, "+c)
			}
		}
		for _, ce := range codings {
			body := t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(), Uploads: []protocol.Upload{Up("m", 0, 0, t.HLC(0), "x")}})
			t.WantError(t.Do(Request{Path: protocol.PathExchange, As: UserA, Body: body, Header: map[string]string{"Content-Encoding": ce}}), protocol.CodeMalformed)
		}
		t.Unchanged(UserA, ns, "m", nil)
		for _, ce := range []string{"identity", "IDENTITY"} {
			t.OK(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: t.Marshal(protocol.ChangesRequest{Collection: ns.Collection}), Header: map[string]string{"Content-Encoding": ce}}), nil)
		}
	})

	serverCase(Case{
		ID: "server/auth/missing-or-bad-token", Level: MUST,
		Reqs: []string{"SP-3-6", "SP-3-3", "SP-9-1", "SP-9-2"},
		Desc: "every user endpoint answers a missing, foreign-scheme, malformed or unknown token with unauthorized",
		Procedure: `
			For /v1/collections, /v1/changes, /v1/exchange (and /v1/watch, /v1/conflicts when
			announced), each with a valid body and version: no Authorization header; "Basic
			dXNlcjpwYXNz"; "Bearer" with a token cut short; "Bearer" and a well-formed token the
			server never issued; "Bearer" and the token with one character changed.
			Assert: unauthorized (401) every time.`,
	}, func(t *T) {
		ns := t.NewCollection()
		bodies := map[string][]byte{
			protocol.PathCollections: {0x80},
			protocol.PathChanges:     t.Marshal(protocol.ChangesRequest{Collection: ns.Collection}),
			protocol.PathExchange:    t.Marshal(protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID()}),
		}
		if t.HasFeature(protocol.FeatureWatch) {
			bodies[protocol.PathWatch] = t.Marshal(protocol.WatchRequest{Cursors: map[string]string{}, TimeoutMillis: 1})
		}
		if t.HasFeature(protocol.FeatureConflicts) {
			bodies[protocol.PathConflicts] = t.Marshal(protocol.ConflictsRequest{})
		}
		tok := t.target.Token
		flipped := []byte(tok)
		flipped[len(flipped)-2] ^= 0x01
		if flipped[len(flipped)-2] == '-' || flipped[len(flipped)-2] == '_' {
			flipped[len(flipped)-2] = 'A'
		}
		auths := []string{"", "Basic dXNlcjpwYXNz", "Bearer " + tok[:len(tok)/2], "Bearer " + fakeToken(), "Bearer " + string(flipped), "Bearer"}
		for _, p := range sortedPaths(bodies) {
			for _, a := range auths {
				req := Request{Path: p, Body: bodies[p], Auth: a}
				if a == "" {
					req.As = NoAuth
				}
				t.WantError(t.Do(req), protocol.CodeUnauthorized)
			}
		}
	})

	serverCase(Case{
		ID: "server/auth/scheme-case-insensitive", Level: SHOULD,
		Reqs: []string{"SP-3-6"},
		Desc: "the Bearer scheme name is accepted in any case",
		Procedure: `
			POST /v1/collections with "bearer <token>" and "BEARER <token>". Assert: 200.`,
	}, func(t *T) {
		for _, s := range []string{"bearer ", "BEARER "} {
			t.OK(t.Do(Request{Path: protocol.PathCollections, Auth: s + t.target.Token, Body: []byte{0x80}}), nil)
		}
	})

	serverCase(Case{
		ID: "server/auth/token-form", Level: MUST,
		Reqs: []string{"SP-3-7"},
		Desc: "the tokens the server issued have the form sp_ + 43 base64url characters",
		Procedure: `
			Check the tokens given to the suite (issued by the server under test). Assert: each
			is "sp_" followed by 43 characters of A-Z a-z 0-9 - _ (46 in all).`,
	}, func(t *T) {
		re := regexp.MustCompile(`^sp_[A-Za-z0-9_-]{43}$`)
		for _, who := range []Who{UserA, UserB, UserC} {
			if tok := t.target.token(who); tok != "" {
				t.Check(re.MatchString(tok), "a token of SP-3-7", "the token of %s has %d characters and does not match sp_[A-Za-z0-9_-]{43}", who, len(tok))
			}
		}
	})

	serverCase(Case{
		ID: "server/auth/order-version-before-token", Level: MUST,
		Reqs: []string{"SP-3-3"},
		Desc: "the route is checked before the version, the version before the token, the token before the body",
		Procedure: `
			(1) POST /v1/nope with neither version nor token: not_found. (2) POST /v1/changes with
			neither version nor token: unsupported_version. (3) POST /v1/changes with the version,
			no token and a garbage body: unauthorized. (4) POST /v1/changes with version and
			token and a garbage body: malformed_request.`,
	}, func(t *T) {
		garbage := []byte("not msgpack")
		t.WantError(t.Do(Request{Path: "/v1/nope", NoVersion: true, Body: garbage}), protocol.CodeNotFound)
		t.WantError(t.Do(Request{Path: protocol.PathChanges, NoVersion: true, Body: garbage}), protocol.CodeUnsupportedVersion)
		t.WantError(t.Do(Request{Path: protocol.PathChanges, Body: garbage}), protocol.CodeUnauthorized)
		t.WantError(t.Do(Request{Path: protocol.PathChanges, As: UserA, Body: garbage}), protocol.CodeMalformed)
	})

	serverCase(Case{
		ID: "server/auth/user-token-at-admin-endpoint", Level: MUST,
		Reqs:  []string{"SP-11-1", "SP-3-10"},
		Needs: []string{"feature:admin-tokens"},
		Desc:  "a user token at /v1/admin/tokens is unauthorized and creates no token",
		Procedure: `
			When admin-tokens is announced: POST /v1/admin/tokens {user, device} with user A's
			token. Assert: unauthorized (401). When it is not announced the endpoint may be
			not_found; the case then accepts not_found or unauthorized.`,
	}, func(t *T) {
		r := t.Post(UserA, protocol.PathAdminTokens, protocol.TokenRequest{User: "cf" + RandomName(8), Device: "d"})
		if !t.HasFeature(protocol.FeatureAdmin) && r.Code() == protocol.CodeNotFound {
			t.WantError(r, protocol.CodeNotFound)
			return
		}
		t.WantError(r, protocol.CodeUnauthorized)
	})

	serverCase(Case{
		ID: "server/handshake/unannounced-feature", Level: MAY,
		Reqs: []string{"SP-3-10", "SP-13-4"},
		Desc: "endpoints of an unannounced feature are not_found; those of an announced one are served",
		Procedure: `
			For watch and conflicts: when announced, a valid request gets 200; when not, the case
			accepts not_found and notes it.`,
	}, func(t *T) {
		ns := t.NewCollection()
		for f, req := range map[string]struct {
			path string
			body any
		}{
			protocol.FeatureWatch:     {protocol.PathWatch, protocol.WatchRequest{Cursors: map[string]string{ns.Collection: ""}, TimeoutMillis: 1}},
			protocol.FeatureConflicts: {protocol.PathConflicts, protocol.ConflictsRequest{Collection: ns.Collection}},
		} {
			r := t.Post(UserA, req.path, req.body)
			if t.HasFeature(f) {
				t.OK(r, nil)
			} else if r.Status != http.StatusOK {
				t.WantError(r, protocol.CodeNotFound)
			}
		}
	})
}

// fakeToken returns a well-formed token no server issued.
func fakeToken() string { return "sp_" + strings.Repeat("A", 11) + RandomName(32) }

func sortedPaths(m map[string][]byte) []string {
	var ps []string
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func init() {
	serverCase(Case{
		ID: "server/encoding/canonical-responses", Level: SHOULD,
		Reqs: []string{"SP-4.1-2"},
		Desc: "the server's responses are in canonical form",
		Procedure: `
			Collect Info, a change-info page, an exchange response (with a tombstone, an applied
			and a stale result) and an error. Decode each and re-encode it canonically (keys in
			table order, shortest formats, empty containers, nil only for absent messages).
			Assert: the bytes are identical.`,
	}, func(t *T) {
		ns := t.NewCollection()
		v := t.Put(UserA, ns, "a", 0, 0, "x")
		check := func(what string, r *Response, v any) {
			if r.Status == http.StatusOK {
				t.OK(r, v)
			} else {
				pe := &protocol.Error{}
				t.Check(protocol.Unmarshal(r.Body, pe) == nil, "an Error body", "%x", r.Body)
				v = pe
			}
			again := t.Marshal(v)
			t.Check(bytes.Equal(again, r.Body), what+" in canonical form", "%s\nre-encoded: %s", renderMsgpack(r.Body), renderMsgpack(again))
		}
		check("Info", t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, As: UserA}), &protocol.Info{})
		check("ChangesResponse", t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection}), &protocol.ChangesResponse{})
		check("ExchangeResponse", t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: ns.Collection, BatchID: NewBatchID(),
			Uploads: []protocol.Upload{Del("a", v, v, t.HLC(0)), Up("b", 0, 9, t.HLC(0), "y")}, Downloads: []string{"a", "zz"}}), &protocol.ExchangeResponse{})
		check("Error", t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: "Bad"}), nil)
	})
}
