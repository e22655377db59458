package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/conformance"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// The suite tests itself: deliberately broken servers (mutants) must fail
// it. Each mutant here is our real server behind a faulty proxy that
// exists only in this test: it rewrites requests or responses so that,
// seen from outside, the server ignores its rule, skips fingerprint
// checks, applies stale uploads, leaks another user's items,
// double-applies a retried exchange, answers with wrong codes, and so on.

// exchange is a forwarded request and its response, for mutants to edit.
type exchange struct {
	req    *http.Request
	body   []byte
	status int
	header http.Header
	resp   []byte
	// hangUp closes the connection without an answer (a crashed server).
	hangUp bool
}

// mutant rewrites a request before it is forwarded (before) and/or the
// response after (after); answer, when it returns true, answers without
// forwarding.
type mutant struct {
	name   string
	doc    string
	before func(m *proxy, x *exchange)
	after  func(m *proxy, x *exchange)
}

type proxy struct {
	upstream string
	tg       conformance.Target
	hc       *http.Client

	mu      sync.Mutex // guards batches
	batches map[string][]byte
}

func (p *proxy) ServeHTTP(mt mutant, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	x := &exchange{req: r, body: body}
	if mt.before != nil {
		mt.before(p, x)
	}
	if x.hangUp {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if x.status == 0 {
		req, _ := http.NewRequestWithContext(r.Context(), x.req.Method, p.upstream+x.req.URL.RequestURI(), bytes.NewReader(x.body))
		req.Header = x.req.Header.Clone()
		resp, err := p.hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		x.resp, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		x.status, x.header = resp.StatusCode, resp.Header
		if mt.after != nil {
			mt.after(p, x)
		}
	}
	for k, v := range x.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(x.status)
	_, _ = w.Write(x.resp)
}

func decode[T any](b []byte) (T, bool) {
	var v T
	return v, protocol.Unmarshal(b, &v) == nil
}

func encode(v any) []byte {
	b, err := protocol.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// onExchange rewrites decodable exchange requests.
func onExchange(f func(p *proxy, x *exchange, req *protocol.ExchangeRequest)) func(*proxy, *exchange) {
	return func(p *proxy, x *exchange) {
		if x.req.URL.Path != protocol.PathExchange {
			return
		}
		if req, ok := decode[protocol.ExchangeRequest](x.body); ok {
			f(p, x, &req)
			x.body = encode(req)
		}
	}
}

// currentVersions downloads the current versions of ids with the
// request's credentials.
func (p *proxy) currentVersions(x *exchange, coll string, ids []string) map[string]uint64 {
	body := encode(protocol.ExchangeRequest{Collection: coll, BatchID: conformance.NewBatchID(), Downloads: ids})
	req, _ := http.NewRequest(http.MethodPost, p.upstream+protocol.PathExchange, bytes.NewReader(body))
	req.Header = x.req.Header.Clone()
	out := map[string]uint64{}
	resp, err := p.hc.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if r, ok := decode[protocol.ExchangeResponse](b); ok {
		for _, it := range r.Items {
			out[it.ID] = it.Version
		}
	}
	return out
}

func setErr(x *exchange, code protocol.Code) {
	x.status = code.HTTPStatus()
	x.header = http.Header{"Content-Type": {protocol.ContentType}}
	x.resp = encode(protocol.Errorf(code, "mutant"))
}

var mutants = []mutant{
	{name: "non-standard-tokens", doc: "the tokens the server issues are not of the form sp_ + 43 base64url characters",
		before: func(p *proxy, x *exchange) {
			if a := x.req.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer tok") && strings.HasSuffix(a, "x") {
				x.req.Header.Set("Authorization", "Bearer sp_"+strings.TrimSuffix(strings.TrimPrefix(a, "Bearer tok"), "x"))
			}
		}},
	{name: "ignores-the-rule", doc: "every upload is treated as based on the current version, so it is applied whatever the rule",
		before: onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
			var ids []string
			for _, u := range req.Uploads {
				ids = append(ids, u.ID)
			}
			cur := p.currentVersions(x, req.Collection, ids)
			for i := range req.Uploads {
				if v, ok := cur[req.Uploads[i].ID]; ok && req.Uploads[i].Seen == v {
					req.Uploads[i].Base = v
				}
			}
		})},
	{name: "applies-stale-uploads", doc: "an upload whose seen is not the current version is decided anyway",
		before: onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
			var ids []string
			for _, u := range req.Uploads {
				ids = append(ids, u.ID)
			}
			cur := p.currentVersions(x, req.Collection, ids)
			for i := range req.Uploads {
				req.Uploads[i].Seen = cur[req.Uploads[i].ID]
			}
		})},
	{name: "skips-fingerprint-checks", doc: "uploads and puts with a wrong fingerprint are accepted",
		before: func(p *proxy, x *exchange) {
			switch x.req.URL.Path {
			case protocol.PathExchange:
				onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
					for i := range req.Uploads {
						u := &req.Uploads[i]
						if len(u.FP) == 32 {
							fp := fingerprint.Of(u.ID, u.Deleted, u.Content)
							u.FP = fp[:]
						}
					}
				})(p, x)
			case protocol.PathResolve:
				if req, ok := decode[protocol.ResolveRequest](x.body); ok && req.Put != nil && len(req.Put.FP) == 32 {
					id := req.Put.ID
					if id == "" {
						id = req.ID
					}
					fp := fingerprint.Of(id, req.Put.Deleted, req.Put.Content)
					req.Put.FP = fp[:]
					x.body = encode(req)
				}
			}
		}},
	{name: "leaks-another-users-items", doc: "the second user's requests run as the first user",
		before: func(p *proxy, x *exchange) {
			if x.req.Header.Get("Authorization") == "Bearer "+p.tg.TokenB {
				x.req.Header.Set("Authorization", "Bearer "+p.tg.Token)
			}
		}},
	{name: "double-applies-retries", doc: "the batch ID is not honoured: a retried exchange is applied again",
		before: onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
			if protocol.ValidateBatchID(req.BatchID) == nil {
				req.BatchID = conformance.NewBatchID()
			}
		})},
	{name: "wrong-error-codes", doc: "invalid_id, duplicate_id, too_many_items and invalid_cursor are answered as malformed_request",
		after: func(p *proxy, x *exchange) {
			if e, ok := decode[protocol.Error](x.resp); ok && x.status != 200 {
				switch e.Code {
				case protocol.CodeInvalidID, protocol.CodeDuplicateID, protocol.CodeTooManyItems, protocol.CodeInvalidCursor, protocol.CodeCursorExpired, protocol.CodeStaleBase, protocol.CodeNotFound:
					setErr(x, protocol.CodeMalformed)
				}
			}
		}},
	{name: "wrong-status-codes", doc: "every error is sent with status 400",
		after: func(p *proxy, x *exchange) {
			if x.status != 200 {
				x.status = 400
			}
		}},
	{name: "other-error-codes", doc: "fingerprint_mismatch, item_too_large, payload_too_large, batch_id_reused, unauthorized and unsupported_version become other codes",
		after: func(p *proxy, x *exchange) {
			if e, ok := decode[protocol.Error](x.resp); ok && x.status != 200 {
				swap := map[protocol.Code]protocol.Code{
					protocol.CodeFingerprintMismatch: protocol.CodeMalformed, protocol.CodeItemTooLarge: protocol.CodePayloadTooLarge,
					protocol.CodePayloadTooLarge: protocol.CodeItemTooLarge, protocol.CodeBatchReused: protocol.CodeMalformed,
					protocol.CodeUnauthorized: protocol.CodeNotFound, protocol.CodeUnsupportedVersion: protocol.CodeVersionTooOld,
					protocol.CodeVersionTooOld: protocol.CodeUnsupportedVersion, protocol.CodeInvalidCollection: protocol.CodeMalformed,
					protocol.CodeMethodNotAllowed: protocol.CodeNotFound, protocol.CodeNotFound: protocol.CodeMethodNotAllowed,
				}
				if c, ok := swap[e.Code]; ok {
					setErr(x, c)
				}
			}
		}},
	{name: "no-version-check", doc: "the Syncprint-Version header is ignored",
		before: func(p *proxy, x *exchange) { x.req.Header.Set(protocol.HeaderVersion, "1") }},
	{name: "no-authentication", doc: "requests without a valid token run as the first user",
		before: func(p *proxy, x *exchange) {
			a := x.req.Header.Get("Authorization")
			if a != "Bearer "+p.tg.Token && a != "Bearer "+p.tg.TokenB && a != "Bearer "+p.tg.TokenC && x.req.URL.Path != protocol.PathInfo {
				x.req.Header.Set("Authorization", "Bearer "+p.tg.Token)
			}
		}},
	{name: "cursors-not-checked", doc: "a change-info or watch cursor the server cannot parse reads from the beginning",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathChanges {
				if req, ok := decode[protocol.ChangesRequest](x.body); ok && req.Cursor != "" && !strings.HasPrefix(req.Cursor, "1.") {
					req.Cursor = ""
					x.body = encode(req)
				}
			}
		},
		after: func(p *proxy, x *exchange) {
			if e, ok := decode[protocol.Error](x.resp); ok && x.status != 200 && (e.Code == protocol.CodeInvalidCursor || e.Code == protocol.CodeCursorExpired) && x.req.URL.Path == protocol.PathChanges {
				x.status, x.resp = 200, encode(protocol.ChangesResponse{Changes: []protocol.ChangeInfo{}, Cursor: ""})
			}
		}},
	{name: "deaf-watch", doc: "a watch never answers before its timeout, and then with changed empty",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathWatch {
				return
			}
			req, ok := decode[protocol.WatchRequest](x.body)
			if !ok || len(req.Cursors) > 10000 {
				return
			}
			for name := range req.Cursors {
				if protocol.ValidateCollection(name) != nil {
					return
				}
			}
			d := time.Duration(req.TimeoutMillis) * time.Millisecond
			if d <= 0 || d > 2*time.Second {
				d = 2 * time.Second // deaf, and quick about it
			}
			time.Sleep(d)
			x.status, x.header, x.resp = 200, http.Header{"Content-Type": {protocol.ContentType}}, encode(protocol.WatchResponse{Changed: []string{}})
		}},
	{name: "ignores-page-limit", doc: "change-info pages ignore the requested limit",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathChanges {
				if req, ok := decode[protocol.ChangesRequest](x.body); ok && req.Limit > 0 && req.Limit < 100 {
					req.Limit = 0
					x.body = encode(req)
				}
			}
		}},
	{name: "info-tag-ignored", doc: "Info announces info-tag but a request that sends its tag back gets the full Info (SP-3-16)",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathInfo {
				x.req.Header.Del(protocol.HeaderInfoTag)
			}
		}},
	{name: "info-tag-for-everyone", doc: "Info's tag does not depend on the caller: every caller gets the same one (SP-3-16)",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathInfo && x.req.Header.Get(protocol.HeaderInfoTag) == sharedTag {
				sharedTags.Lock()
				x.req.Header.Set(protocol.HeaderInfoTag, sharedTags.real[x.req.Header.Get("Authorization")])
				sharedTags.Unlock()
			}
		},
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathInfo || x.status != 200 {
				return
			}
			if r, ok := decode[protocol.Info](x.resp); ok && r.Tag != "" {
				sharedTags.Lock()
				sharedTags.real[x.req.Header.Get("Authorization")] = r.Tag
				sharedTags.Unlock()
				if r.IsShort() {
					x.resp = encode(&protocol.InfoShort{ServerTime: r.ServerTime, Tag: sharedTag, Collections: r.Collections, ConflictsSeq: r.ConflictsSeq})
				} else {
					r.Tag = sharedTag
					x.resp = encode(r)
				}
			}
		}},
	{name: "info-collections-behind", doc: "Info announces info-collections but leaves out the last collection of its list (SP-3-15)",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathInfo {
				return
			}
			if r, ok := decode[protocol.Info](x.resp); ok && x.status == 200 && len(r.Collections) > 0 {
				r.Collections = r.Collections[:len(r.Collections)-1]
				x.resp = encode(r)
			}
		}},
	{name: "last-page-cursor-behind", doc: "a last page (more false) after the first returns the request's cursor instead of one past its entries (SP-6.1-9)",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathChanges || x.status != 200 {
				return
			}
			req, ok := decode[protocol.ChangesRequest](x.body)
			if r, ok2 := decode[protocol.ChangesResponse](x.resp); ok && ok2 && req.Cursor != "" && !r.More && len(r.Changes) > 0 {
				r.Cursor = req.Cursor
				x.resp = encode(r)
			}
		}},
	{name: "next-cursor-header-astray", doc: "every change-info page names a next cursor in Syncprint-Next-Cursor: the request's, also on a last page (SP-6.1-10)",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathChanges || x.status != 200 {
				return
			}
			if req, ok := decode[protocol.ChangesRequest](x.body); ok {
				x.header.Set(protocol.HeaderNextCursor, req.Cursor+"x")
			}
		}},
	{name: "no-next-cursor-header", doc: "change-info pages never name the next page's cursor in a header, though Info lists next-cursor (SP-6.1-10)",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathChanges {
				x.header.Del(protocol.HeaderNextCursor)
			}
		}},
	{name: "conflicts-seq-starts-at-two", doc: "a user who never had a record gets conflicts_seq 2, not 1 (SP-10-8)",
		after: func(p *proxy, x *exchange) {
			if x.status != 200 {
				return
			}
			switch x.req.URL.Path {
			case protocol.PathCollections:
				if r, ok := decode[protocol.CollectionsResponse](x.resp); ok && r.ConflictsSeq == protocol.FirstConflictsSeq {
					r.ConflictsSeq++
					x.resp = encode(r)
				}
			case protocol.PathInfo:
				if r, ok := decode[protocol.Info](x.resp); ok && !r.IsShort() && r.ConflictsSeq == protocol.FirstConflictsSeq {
					r.ConflictsSeq++
					x.resp = encode(r)
				}
			}
		}},
	{name: "resolve-batch-ignored", doc: "a resolution's batch_id is ignored, so a resolution sent again is processed anew (SP-10-10)",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathResolve {
				return
			}
			if req, ok := decode[protocol.ResolveRequest](x.body); ok && req.BatchID != "" && protocol.ValidateBatchID(req.BatchID) == nil {
				req.BatchID = ""
				x.body = encode(req)
			}
		}},
	{name: "no-page-content", doc: "change-info pages never carry the contents asked for (SP-6.1-8)",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathChanges {
				return
			}
			if r, ok := decode[protocol.ChangesResponse](x.resp); ok && x.status == 200 && r.Contents != nil {
				r.Contents = nil
				x.resp = encode(r)
			}
		}},
	{name: "hides-tombstones", doc: "deletions are left out of the change info and of downloads",
		after: func(p *proxy, x *exchange) {
			switch x.req.URL.Path {
			case protocol.PathChanges:
				if r, ok := decode[protocol.ChangesResponse](x.resp); ok && x.status == 200 {
					kept := []protocol.ChangeInfo{}
					for _, c := range r.Changes {
						if !c.Deleted {
							kept = append(kept, c)
						}
					}
					r.Changes = kept
					x.resp = encode(r)
				}
			case protocol.PathExchange:
				if r, ok := decode[protocol.ExchangeResponse](x.resp); ok && x.status == 200 {
					kept := []protocol.Item{}
					for _, it := range r.Items {
						if it.Deleted {
							r.Missing = append(r.Missing, it.ID)
						} else {
							kept = append(kept, it)
						}
					}
					r.Items = kept
					x.resp = encode(r)
				}
			}
		}},
	{name: "loses-the-loser", doc: "rejected and conflict uploads come back without the server's item, and conflict records are not listed",
		after: func(p *proxy, x *exchange) {
			switch x.req.URL.Path {
			case protocol.PathExchange:
				if r, ok := decode[protocol.ExchangeResponse](x.resp); ok && x.status == 200 {
					req, _ := decode[protocol.ExchangeRequest](x.body)
					asked := map[string]bool{}
					for _, id := range req.Downloads {
						asked[id] = true
					}
					kept := []protocol.Item{}
					for _, it := range r.Items {
						if asked[it.ID] {
							kept = append(kept, it)
						}
					}
					r.Items = kept
					x.resp = encode(r)
				}
			case protocol.PathConflicts:
				if x.status == 200 {
					x.resp = encode(protocol.ConflictsResponse{Conflicts: []protocol.Conflict{}})
				}
			}
		}},
	{name: "no-byte-budget", doc: "downloads are never deferred",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathExchange {
				return
			}
			if r, ok := decode[protocol.ExchangeResponse](x.resp); ok && x.status == 200 && len(r.Deferred) > 0 {
				r.Missing = append(r.Missing, r.Deferred...)
				r.Deferred = []string{}
				x.resp = encode(r)
			}
		}},
	{name: "unbounded-integers", doc: "a page limit above the spec's int range wraps instead of being refused (too_many_items, or 500 for a negative wrap)",
		before: func(p *proxy, x *exchange) {
			if x.req.URL.Path != protocol.PathChanges {
				return
			}
			limit, huge := hugeLimit(x.body)
			switch {
			case huge && limit >= 1<<63:
				setErr(x, protocol.CodeInternal)
			case huge:
				setErr(x, protocol.CodeTooManyItems)
			}
		}},
	{name: "lenient-decoder", doc: "bodies that do not decode are answered as if they were empty requests",
		before: func(p *proxy, x *exchange) {
			if x.req.Method == http.MethodPost && x.req.URL.Path != protocol.PathInfo {
				var m map[string]any
				if protocol.Unmarshal(x.body, &m) != nil {
					x.body = []byte{0x80}
				}
			}
		}},
	{name: "accepts-content-coding", doc: "Content-Encoding is ignored",
		before: func(p *proxy, x *exchange) { x.req.Header.Del("Content-Encoding") }},
	{name: "routes-loosely", doc: "paths match case-insensitively with a trailing slash, and any method is accepted",
		before: func(p *proxy, x *exchange) {
			path := strings.TrimSuffix(strings.ToLower(x.req.URL.Path), "/")
			if strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v2/") {
				path = "/v1/" + strings.TrimPrefix(strings.TrimPrefix(path, "/v1/"), "/v2/")
			}
			if path == "/v1/nope" || path == "" {
				path = protocol.PathInfo
			}
			x.req.URL.Path = path
			if path == protocol.PathInfo {
				x.req.Method = http.MethodGet
			} else {
				x.req.Method = http.MethodPost
			}
		}},
	{name: "bad-info", doc: "Info announces an unknown rule, a zero limit and no versions",
		after: func(p *proxy, x *exchange) {
			if x.req.URL.Path == protocol.PathInfo && x.status == 200 {
				if info, ok := decode[protocol.Info](x.resp); ok {
					info.Limits.MaxPage = 0
					info.Versions = []int{}
					x.resp = encode(info)
				}
			}
		}},
	{name: "no-clamp-reported", doc: "the HLC reported for an applied upload is the uploaded one, even when clamped; server_time stays behind",
		after: func(p *proxy, x *exchange) {
			switch x.req.URL.Path {
			case protocol.PathExchange:
				req, ok1 := decode[protocol.ExchangeRequest](x.body)
				r, ok2 := decode[protocol.ExchangeResponse](x.resp)
				if ok1 && ok2 && x.status == 200 {
					for i := range r.Results {
						if r.Results[i].Status == protocol.StatusApplied && i < len(req.Uploads) {
							r.Results[i].HLC = req.Uploads[i].HLC
						}
					}
					x.resp = encode(r)
				}
			case protocol.PathInfo:
				if info, ok := decode[protocol.Info](x.resp); ok {
					info.ServerTime = uint64(time.Now().Add(-time.Hour).UnixMilli()) << 16
					x.resp = encode(info)
				}
			}
		}},
	{name: "wrong-versions", doc: "applied results report the version before the write, and heads are off by one",
		after: func(p *proxy, x *exchange) {
			switch x.req.URL.Path {
			case protocol.PathExchange:
				if r, ok := decode[protocol.ExchangeResponse](x.resp); ok && x.status == 200 {
					for i := range r.Results {
						if r.Results[i].Status == protocol.StatusApplied {
							r.Results[i].Version--
						}
					}
					if r.Head > 0 {
						r.Head++
					}
					x.resp = encode(r)
				}
			case protocol.PathCollections:
				if r, ok := decode[protocol.CollectionsResponse](x.resp); ok && x.status == 200 {
					for i := range r.Collections {
						r.Collections[i].Head++
					}
					x.resp = encode(r)
				}
			}
		}},
}

func init() {
	mutants = append(mutants,
		mutant{name: "strict-bearer-scheme", doc: "the Bearer scheme is matched case-sensitively",
			before: func(p *proxy, x *exchange) {
				if a := x.req.Header.Get("Authorization"); a != "" && !strings.HasPrefix(a, "Bearer ") {
					x.req.Header.Set("Authorization", "Basic x")
				}
			}},
		mutant{name: "unprintable-cursors", doc: "cursors carry a tab and are longer than 256 bytes",
			before: func(p *proxy, x *exchange) {
				suffix := "\t" + strings.Repeat("~", 250)
				switch x.req.URL.Path {
				case protocol.PathChanges:
					if r, ok := decode[protocol.ChangesRequest](x.body); ok && strings.HasSuffix(r.Cursor, suffix) {
						r.Cursor = strings.TrimSuffix(r.Cursor, suffix)
						x.body = encode(r)
					}
				case protocol.PathExchange:
					if r, ok := decode[protocol.ExchangeRequest](x.body); ok && strings.HasSuffix(r.Cursor, suffix) {
						r.Cursor = strings.TrimSuffix(r.Cursor, suffix)
						x.body = encode(r)
					}
				}
			},
			after: func(p *proxy, x *exchange) {
				if x.status != 200 {
					return
				}
				switch x.req.URL.Path {
				case protocol.PathChanges:
					if r, ok := decode[protocol.ChangesResponse](x.resp); ok {
						r.Cursor += "\t" + strings.Repeat("~", 250)
						x.resp = encode(r)
					}
				case protocol.PathExchange:
					if r, ok := decode[protocol.ExchangeResponse](x.resp); ok && r.Cursor != "" {
						r.Cursor += "\t" + strings.Repeat("~", 250)
						x.resp = encode(r)
					}
				}
			}},
		mutant{name: "no-cursor-for-empty-pages", doc: "an empty first page returns the cursor \"\"",
			after: func(p *proxy, x *exchange) {
				if x.req.URL.Path == protocol.PathChanges && x.status == 200 {
					req, _ := decode[protocol.ChangesRequest](x.body)
					if r, ok := decode[protocol.ChangesResponse](x.resp); ok && req.Cursor == "" && len(r.Changes) == 0 {
						r.Cursor = ""
						x.resp = encode(r)
					}
				}
			}},
		mutant{name: "non-canonical-responses", doc: "responses use map16 headers where a fixmap would do",
			after: func(p *proxy, x *exchange) {
				if len(x.resp) > 0 && x.resp[0]&0xf0 == 0x80 {
					x.resp = append([]byte{0xde, 0, x.resp[0] & 0x0f}, x.resp[1:]...)
				}
			}},
		mutant{name: "batch-ids-global", doc: "idempotency records are shared by all users",
			before: onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.batches == nil {
					p.batches = map[string][]byte{}
				}
				key := req.BatchID + string(x.body)
				if b, ok := p.batches[key]; ok && !bytes.HasPrefix([]byte(x.req.Header.Get("Authorization")), []byte("Bearer "+p.tg.Token)) {
					x.status, x.header, x.resp = 200, http.Header{"Content-Type": {protocol.ContentType}}, b
				}
			}),
			after: func(p *proxy, x *exchange) {
				if x.req.URL.Path == protocol.PathExchange && x.status == 200 {
					req, _ := decode[protocol.ExchangeRequest](x.body)
					p.mu.Lock()
					defer p.mu.Unlock()
					if p.batches == nil {
						p.batches = map[string][]byte{}
					}
					p.batches[req.BatchID+string(x.body)] = x.resp
				}
			}},
		mutant{name: "picky-http", doc: "GET /v1/info checks the version header; requests need Content-Type msgpack and no query string",
			before: func(p *proxy, x *exchange) {
				switch {
				case x.req.URL.Path == protocol.PathInfo && x.req.Header.Get(protocol.HeaderVersion) != "" && x.req.Header.Get(protocol.HeaderVersion) != "1":
					setErr(x, protocol.CodeUnsupportedVersion)
				case x.req.Method == http.MethodPost && x.req.Header.Get("Content-Type") != protocol.ContentType:
					setErr(x, protocol.CodeMalformed)
				case x.req.URL.RawQuery != "":
					setErr(x, protocol.CodeNotFound)
				}
			}},
		mutant{name: "announced-but-not-served", doc: "watch and conflicts are announced but answered not_found",
			before: func(p *proxy, x *exchange) {
				if x.req.URL.Path == protocol.PathWatch || x.req.URL.Path == protocol.PathConflicts {
					setErr(x, protocol.CodeNotFound)
				}
			}},
		mutant{name: "rate-limits-without-retry-after", doc: "a change-info body sent more than 5 times is rate_limited, without Retry-After",
			before: func(p *proxy, x *exchange) {
				if x.req.URL.Path != protocol.PathChanges {
					return
				}
				p.mu.Lock()
				if p.batches == nil {
					p.batches = map[string][]byte{}
				}
				key := "rate:" + string(x.body)
				p.batches[key] = append(p.batches[key], 0)
				n := len(p.batches[key])
				p.mu.Unlock()
				if n > 5 {
					setErr(x, protocol.CodeRateLimited)
				}
			}},
		mutant{name: "first-duplicate-key-wins", doc: "a repeated key in a request map is read with its first occurrence",
			before: func(p *proxy, x *exchange) {
				k := append([]byte{0xaa}, "collection"...)
				if bytes.Count(x.body, k) > 1 {
					setErr(x, protocol.CodeInvalidCollection)
				}
			}},
		mutant{name: "canonical-requests-only", doc: "request bodies that are not canonical are refused as malformed",
			before: func(p *proxy, x *exchange) {
				var v any
				switch x.req.URL.Path {
				case protocol.PathChanges:
					v = &protocol.ChangesRequest{}
				case protocol.PathExchange:
					v = &protocol.ExchangeRequest{}
				default:
					return
				}
				if protocol.Unmarshal(x.body, v) == nil && !bytes.Equal(encode(v), x.body) {
					setErr(x, protocol.CodeMalformed)
				}
			}},
		mutant{name: "lenient-uploads", doc: "bad batch IDs, fingerprints of the wrong length and tombstones with content are repaired instead of refused",
			before: onExchange(func(p *proxy, x *exchange, req *protocol.ExchangeRequest) {
				if protocol.ValidateCollection(req.Collection) == nil && protocol.ValidateBatchID(req.BatchID) != nil {
					req.BatchID = conformance.NewBatchID()
				}
				for i := range req.Uploads {
					u := &req.Uploads[i]
					if len(u.FP) != 32 || u.Deleted && len(u.Content) > 0 {
						if u.Deleted {
							u.Content = []byte{}
						}
						fp := fingerprint.Of(u.ID, u.Deleted, u.Content)
						u.FP = fp[:]
					}
				}
			})},
		mutant{name: "lenient-names", doc: "user and device names outside SP-2-4 are repaired instead of refused",
			before: func(p *proxy, x *exchange) {
				if x.req.URL.Path != protocol.PathAdminTokens {
					return
				}
				if req, ok := decode[protocol.TokenRequest](x.body); ok {
					for _, n := range []*string{&req.User, &req.Device} {
						if protocol.ValidateName(*n) != nil {
							*n = "repaired"
						}
					}
					x.body = encode(req)
				}
			}},
		mutant{name: "reissues-same-token", doc: "a second token request for the same user and device returns the first token",
			after: func(p *proxy, x *exchange) {
				if x.req.URL.Path != protocol.PathAdminTokens || x.status != 200 {
					return
				}
				req, _ := decode[protocol.TokenRequest](x.body)
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.batches == nil {
					p.batches = map[string][]byte{}
				}
				key := "token:" + req.User + "/" + req.Device
				if b, ok := p.batches[key]; ok {
					x.resp = b
				} else {
					p.batches[key] = x.resp
				}
			}},
		mutant{name: "impatient-watch", doc: "a watch with nothing to report answers at once",
			before: func(p *proxy, x *exchange) {
				if x.req.URL.Path == protocol.PathWatch {
					if req, ok := decode[protocol.WatchRequest](x.body); ok {
						req.TimeoutMillis = 1
						x.body = encode(req)
					}
				}
			}},
	)
}

// notKilledYet are cases no mutant here makes fail; each is a gap in the
// mutants, not in the case.
var notKilledYet = map[string]string{}

// proxyTarget puts a mutant's proxy in front of tg.
func proxyTarget(t *testing.T, tg conformance.Target, mt mutant) conformance.Target {
	t.Helper()
	// The proxy forwards Accept-Encoding as the case sent it (or not at
	// all): its client neither adds gzip nor decodes it.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	p := &proxy{upstream: tg.URL, tg: tg, hc: &http.Client{Timeout: 90 * time.Second, Transport: tr}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.ServeHTTP(mt, w, r) }))
	t.Cleanup(srv.Close)
	mtg := tg
	mtg.URL = srv.URL
	return mtg
}

func mutantByName(name string) (mutant, bool) {
	for _, m := range mutants {
		if m.name == name {
			return m, true
		}
	}
	return mutant{}, false
}

// TestEveryCaseFailsAgainstItsMutant runs each case against the mutant
// that killer names for it and requires FAIL: the suite cannot pass by
// accident. (TestMutantMatrix, with SYNCPRINT_MUTANT_MATRIX=1, runs every
// case against every mutant and prints a new killer table.)
func TestEveryCaseFailsAgainstItsMutant(t *testing.T) {
	t.Parallel()
	tg := startServe(t, ourServerArgs...)
	groups := map[string][]*conformance.Case{}
	for _, c := range conformance.Select(conformance.ModeServer, nil) {
		if _, known := knownDeviations[c.ID]; known {
			continue
		}
		if why, ok := notKilledYet[c.ID]; ok {
			t.Logf("%s: no mutant yet (%s)", c.ID, why)
			continue
		}
		name, ok := killer[c.ID]
		if !ok {
			t.Errorf("%s has no mutant in killer: run SYNCPRINT_MUTANT_MATRIX=1 go test -run TestMutantMatrix ./conformance and update the table", c.ID)
			continue
		}
		groups[name] = append(groups[name], c)
	}
	used := map[string]bool{}
	for _, name := range sortedNames(groups) {
		mt, ok := mutantByName(name)
		require.True(t, ok, "killer names an unknown mutant %q", name)
		used[name] = true
		rep := conformance.RunServer(context.Background(), conformance.Config{Target: proxyTarget(t, mutantTarget(tg, mt), mt), CaseTimeout: 30 * time.Second}, groups[name], nil)
		for _, res := range rep.Results {
			if res.Verdict != conformance.Fail {
				t.Errorf("%s is %s against mutant %s (%s); want FAIL\n%s", res.Case.ID, res.Verdict, name, mt.doc, res.Details())
			}
		}
	}
	for _, m := range mutants {
		if !used[m.name] {
			t.Logf("mutant %s is the designated killer of no case", m.name)
		}
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mutantTarget gives the suite the tokens a mutant shows (see
// non-standard-tokens).
func mutantTarget(tg conformance.Target, mt mutant) conformance.Target {
	if mt.name == "non-standard-tokens" {
		for _, p := range []*string{&tg.Token, &tg.TokenB, &tg.TokenC} {
			*p = "tok" + strings.TrimPrefix(*p, "sp_") + "x"
		}
	}
	return tg
}

func TestMutantMatrix(t *testing.T) {
	if os.Getenv("SYNCPRINT_MUTANT_MATRIX") == "" {
		t.Skip("set SYNCPRINT_MUTANT_MATRIX=1 to run every case against every mutant (a few minutes)")
	}
	// SYNCPRINT_MUTANT_RUN=server/coding,... restricts the matrix to some
	// cases (prefixes or globs, as --run), to find the killers of new ones.
	var patterns []string
	if run := os.Getenv("SYNCPRINT_MUTANT_RUN"); run != "" {
		patterns = strings.Split(run, ",")
	}
	var live []*conformance.Case
	for _, c := range conformance.Select(conformance.ModeServer, patterns) {
		if _, known := knownDeviations[c.ID]; !known {
			live = append(live, c)
		}
	}
	// SYNCPRINT_MUTANT_ONLY=name,... runs only those mutants.
	var only map[string]bool
	if names := os.Getenv("SYNCPRINT_MUTANT_ONLY"); names != "" {
		only = map[string]bool{}
		for _, n := range strings.Split(names, ",") {
			only[n] = true
		}
	}
	tg := startServe(t, ourServerArgs...)
	kills := map[string][]string{} // mutant -> cases it fails
	for _, mt := range mutants {
		if only != nil && !only[mt.name] {
			continue
		}
		start := time.Now()
		rep := conformance.RunServer(context.Background(), conformance.Config{Target: proxyTarget(t, mutantTarget(tg, mt), mt), CaseTimeout: 30 * time.Second}, live, nil)
		for _, res := range rep.Results {
			if res.Verdict == conformance.Fail {
				kills[mt.name] = append(kills[mt.name], res.Case.ID)
			}
		}
		if len(kills[mt.name]) == 0 && patterns == nil && only == nil {
			t.Errorf("mutant %s (%s) passes the whole suite", mt.name, mt.doc)
		}
		t.Logf("mutant %-31s fails %3d cases (%v)", mt.name, len(kills[mt.name]), time.Since(start).Round(100*time.Millisecond))
	}
	// Designate for each case the most specific mutant that kills it.
	names := sortedNames(kills)
	sort.SliceStable(names, func(i, j int) bool { return len(kills[names[i]]) < len(kills[names[j]]) })
	table := map[string]string{}
	for _, name := range names {
		for _, id := range kills[name] {
			if _, ok := table[id]; !ok {
				table[id] = name
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("var killer = map[string]string{\n")
	for _, id := range sortedNames(table) {
		fmt.Fprintf(&sb, "\t%q: %q,\n", id, table[id])
	}
	sb.WriteString("}\n")
	t.Log("\n" + sb.String())
	for _, c := range live {
		if _, ok := table[c.ID]; !ok {
			t.Errorf("no mutant makes %s fail", c.ID)
		}
	}
	for _, mt := range mutants {
		if ids := kills[mt.name]; len(ids) > 0 && len(ids) < 10 {
			t.Logf("mutant %s fails %v", mt.name, ids)
		}
	}
}

// hugeLimit reports a changes request's limit when it is over the spec's
// int range (2^31-1).
func hugeLimit(body []byte) (uint64, bool) {
	var req protocol.ChangesRequest
	if protocol.Unmarshal(body, &req) == nil {
		return 0, false // decodes: the limit is in range or absent
	}
	// Find the "limit" key's uint64 by hand: the map did not decode into
	// the typed request because the value is out of range.
	i := bytes.Index(body, []byte("\xa5limit"))
	if i < 0 || i+7 >= len(body) {
		return 0, false
	}
	v := body[i+6:]
	switch v[0] {
	case 0xce:
		if len(v) >= 5 {
			return uint64(v[1])<<24 | uint64(v[2])<<16 | uint64(v[3])<<8 | uint64(v[4]), true
		}
	case 0xcf:
		if len(v) >= 9 {
			var n uint64
			for _, c := range v[1:9] {
				n = n<<8 | uint64(c)
			}
			return n, true
		}
	}
	return 0, false
}

// sharedTag is the tag the mutant info-tag-for-everyone gives every
// caller; sharedTags.real maps an Authorization header to the caller's real
// tag, which it sends the server in its place.
const sharedTag = "the-same-for-everyone"

var sharedTags = struct {
	sync.Mutex
	real map[string]string
}{real: map[string]string{}}
