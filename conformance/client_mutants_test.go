package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/conformance"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// Client mutants: our clientd behind a faulty proxy that exists only in
// this test. The driver is `syncprint client-driver` with the init's
// server URL rewritten to the proxy, which forwards to the scripted
// server and breaks one client requirement on the way, so that, seen from
// the scripted server, the client misbehaves.

type clientMutant struct {
	name  string
	doc   string
	cases []string // client cases that must fail against it
	// edit rewrites a request before it is forwarded and/or its response
	// (resp is nil before forwarding); resend, when it returns n > 0,
	// sends the same request n more times.
	before func(cp *clientProxy, r *http.Request, body []byte) []byte
	after  func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int)
	// respHeader edits the response's header before it is sent on.
	respHeader func(h http.Header)
	// respBody, when set, rewrites the response's body, given its header
	// as the server sent it.
	respBody func(h http.Header, body []byte) []byte
}

type clientProxy struct {
	mt clientMutant
	hc *http.Client

	mu   sync.Mutex // guards seen
	seen map[string][]byte
}

func (cp *clientProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/up/")
	host, path, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		http.Error(w, "bad proxy path", http.StatusBadGateway)
		return
	}
	r.URL.Path = "/" + path
	body, _ := io.ReadAll(r.Body)
	if cp.mt.before != nil {
		body = cp.mt.before(cp, r, body)
	}
	send := func() (int, http.Header, []byte, error) {
		req, _ := http.NewRequest(r.Method, "http://"+host+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := cp.hc.Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b, nil
	}
	status, hdr, resp, err := send()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if cp.mt.after != nil {
		var again int
		status, resp, again = cp.mt.after(cp, r, body, status, resp)
		for i := 0; i < again; i++ {
			if s, h, b, err := send(); err == nil {
				status, hdr, resp = s, h, b
				if cp.mt.after != nil {
					status, resp, _ = cp.mt.after(cp, r, body, status, resp)
				}
			}
		}
	}
	if cp.mt.respBody != nil {
		resp = cp.mt.respBody(hdr, resp)
	}
	for k, v := range hdr {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	if cp.mt.respHeader != nil {
		cp.mt.respHeader(w.Header())
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

var clientMutants = []clientMutant{
	{name: "ignores-retry-after", doc: "retries at once after unavailable or internal", cases: []string{"client/retry/honours-retry-after", "client/retry/backoff-after-internal"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if status >= 500 && r.URL.Path == protocol.PathExchange {
				return status, resp, 1
			}
			return status, resp, 0
		}},
	{name: "retries-final-errors", doc: "sends a request again after a final error or an undecodable answer", cases: []string{"client/retry/no-retry-of-final-errors", "client/sync/undecodable-response-not-applied"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if r.URL.Path != protocol.PathExchange {
				return status, resp, 0
			}
			_, decodes := decode[map[string]any](resp)
			if status >= 400 && status < 500 || status == 200 && !decodes {
				cp.mu.Lock()
				defer cp.mu.Unlock()
				if cp.seen == nil {
					cp.seen = map[string][]byte{}
				}
				if _, done := cp.seen[string(body)]; !done {
					cp.seen[string(body)] = nil
					return status, resp, 1
				}
			}
			return status, resp, 0
		}},
	{name: "trusts-downloads", doc: "stores downloads without checking their fingerprints", cases: []string{"client/sync/refuses-corrupted-download"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if x, ok := decode[protocol.ExchangeResponse](resp); ok && status == 200 && r.URL.Path == protocol.PathExchange {
				for i := range x.Items {
					fp := fingerprint.Of(x.Items[i].ID, x.Items[i].Deleted, x.Items[i].Content)
					x.Items[i].FP = fp[:]
				}
				return status, encode(x), 0
			}
			return status, resp, 0
		}},
	{name: "trusts-page-content", doc: "stores content that came with the change info without checking its fingerprint", cases: []string{"client/sync/refuses-corrupted-page-content"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if x, ok := decode[protocol.ChangesResponse](resp); ok && status == 200 && r.URL.Path == protocol.PathChanges && x.Contents != nil {
				for i := range x.Changes {
					fp := fingerprint.Of(x.Changes[i].ID, x.Changes[i].Deleted, x.Contents[i])
					x.Changes[i].FP = fp[:]
				}
				return status, encode(x), 0
			}
			return status, resp, 0
		}},
	{name: "frozen-info-heads", doc: "a client that skips the pull whenever Info lists a collection at all, as if the head never moved (SP-6.1-9): seen through Info whose heads stay at their first value", cases: []string{"client/sync/pulls-when-info-head-moved"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			info, ok := decode[protocol.Info](resp)
			if !ok || status != 200 || r.URL.Path != protocol.PathInfo {
				return status, resp, 0
			}
			cp.mu.Lock()
			defer cp.mu.Unlock()
			if cp.seen == nil {
				cp.seen = map[string][]byte{}
			}
			for i, c := range info.Collections {
				key := "head/" + c.Name
				if h, ok := cp.seen[key]; ok {
					info.Collections[i].Head = binary.BigEndian.Uint64(h)
				} else {
					cp.seen[key] = binary.BigEndian.AppendUint64(nil, c.Head)
				}
			}
			return status, encode(info), 0
		}},
	{name: "ignores-server-versions", doc: "talks to a server that speaks no version it knows", cases: []string{"client/session/refuses-incompatible-server"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if info, ok := decode[protocol.Info](resp); ok && r.URL.Path == protocol.PathInfo {
				info.Versions = []int{1}
				return status, encode(info), 0
			}
			return status, resp, 0
		}},
	{name: "ignores-limits", doc: "plans with the default limits instead of the announced ones", cases: []string{"client/sync/splits-by-announced-limits", "client/sync/respects-max-body-bytes"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if info, ok := decode[protocol.Info](resp); ok && r.URL.Path == protocol.PathInfo {
				info.Limits = protocol.DefaultLimits()
				return status, encode(info), 0
			}
			return status, resp, 0
		}},
	{name: "keeps-the-held-info", doc: "keeps using the Info it holds after the server was reconfigured (SP-3-16, SP-3-17): seen through a short Info of the held tag in place of the server's new full Info", cases: []string{"client/session/follows-a-new-info"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			held := r.Header.Get(protocol.HeaderInfoTag)
			if info, ok := decode[protocol.Info](resp); ok && status == 200 && r.URL.Path == protocol.PathInfo && held != "" && info.Tag != held && !info.IsShort() {
				info.Tag = held
				return status, encode(info.Short()), 0
			}
			return status, resp, 0
		}},
	{name: "reads-one-page", doc: "plans after the first change-info page", cases: []string{"client/sync/pulls-every-page-first"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if p, ok := decode[protocol.ChangesResponse](resp); ok && status == 200 && r.URL.Path == protocol.PathChanges {
				p.More = false
				return status, encode(p), 0
			}
			return status, resp, 0
		}},
	{name: "resends-stale-uploads", doc: "sends a stale upload again unchanged instead of re-planning, again and again", cases: []string{"client/sync/replans-on-stale", "client/sync/stops-after-max-rounds"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if x, ok := decode[protocol.ExchangeResponse](resp); ok && status == 200 && r.URL.Path == protocol.PathExchange {
				for _, res := range x.Results {
					if res.Status == protocol.StatusStale {
						cp.mu.Lock()
						if cp.seen == nil {
							cp.seen = map[string][]byte{}
						}
						n := len(cp.seen["stale"])
						cp.seen["stale"] = append(cp.seen["stale"], 0)
						cp.mu.Unlock()
						if n < 1 {
							return status, resp, 9
						}
					}
				}
			}
			return status, resp, 0
		}},
	{name: "drops-deletions", doc: "never uploads local deletions", cases: []string{"client/offline/edits-survive-restart"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			if req, ok := decode[protocol.ExchangeRequest](body); ok && r.URL.Path == protocol.PathExchange {
				kept := []protocol.Upload{}
				for _, u := range req.Uploads {
					if !u.Deleted {
						kept = append(kept, u)
					}
				}
				req.Uploads = kept
				return encode(req)
			}
			return body
		}},
	{name: "ignores-remote-deletions", doc: "never learns of deletions made elsewhere", cases: []string{"client/sync/applies-remote-deletion"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if p, ok := decode[protocol.ChangesResponse](resp); ok && status == 200 && r.URL.Path == protocol.PathChanges {
				kept := []protocol.ChangeInfo{}
				for _, c := range p.Changes {
					if !c.Deleted {
						kept = append(kept, c)
					}
				}
				p.Changes = kept
				return status, encode(p), 0
			}
			return status, resp, 0
		}},
	{name: "downloads-everything", doc: "downloads every ID it uploads, whether it needs it or not", cases: []string{"client/sync/moves-only-what-differs"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			if req, ok := decode[protocol.ExchangeRequest](body); ok && r.URL.Path == protocol.PathExchange {
				for _, id := range []string{"same", "mine"} {
					if !contains(req.Downloads, id) {
						req.Downloads = append(req.Downloads, id)
					}
				}
				return encode(req)
			}
			return body
		}},
	{name: "no-version-header", doc: "sends no Syncprint-Version header", cases: []string{"client/session/handshake-and-headers"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			r.Header.Del(protocol.HeaderVersion)
			return body
		}},
	{name: "expired-cursor-is-fatal", doc: "treats cursor_expired as a final error", cases: []string{"client/sync/restarts-pull-on-expired-cursor"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if status == http.StatusGone {
				return http.StatusBadRequest, encode(protocol.Errorf(protocol.CodeMalformed, "mutant")), 0
			}
			return status, resp, 0
		}},
	{name: "loses-concurrent-edits", doc: "uploads the version it planned with, not the edit made during the exchange", cases: []string{"client/sync/edit-during-sync-kept"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			req, ok := decode[protocol.ExchangeRequest](body)
			if !ok || r.URL.Path != protocol.PathExchange {
				return body
			}
			cp.mu.Lock()
			defer cp.mu.Unlock()
			if cp.seen == nil {
				cp.seen = map[string][]byte{}
			}
			for i := range req.Uploads {
				u := &req.Uploads[i]
				if first, ok := cp.seen["up:"+u.ID]; ok {
					u.Content = first
					fp := fingerprint.Of(u.ID, u.Deleted, first)
					u.FP = fp[:]
				} else {
					cp.seen["up:"+u.ID] = u.Content
				}
			}
			return encode(req)
		}},
	{name: "rebases-on-replica", doc: "treats every version the server saw as the base of the local edit (a fast-forward whatever the rule)", cases: []string{"client/sync/no-rebase-on-replica-alone"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			req, ok := decode[protocol.ExchangeRequest](body)
			if !ok || r.URL.Path != protocol.PathExchange {
				return body
			}
			for i := range req.Uploads {
				req.Uploads[i].Base = req.Uploads[i].Seen
			}
			return encode(req)
		}},
	{name: "replans-conflict-against-current", doc: "re-plans a conflict result whose server item is missing against current, uploading again", cases: []string{"client/sync/conflict-without-server-item-is-downloaded"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			x, ok := decode[protocol.ExchangeResponse](resp)
			if !ok || status != 200 || r.URL.Path != protocol.PathExchange {
				return status, resp, 0
			}
			for i := range x.Results {
				if res := &x.Results[i]; res.Status == protocol.StatusConflict {
					// What the client then does is what a stale result with
					// current makes it do: plan against current.
					res.Status, res.Conflict = protocol.StatusStale, ""
				}
			}
			return status, encode(x), 0
		}},
	{name: "never-stores-cursor", doc: "pulls the change info from the beginning in every session", cases: []string{"client/sync/stores-cursor-when-nothing-can-be-sent"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			if req, ok := decode[protocol.ChangesRequest](body); ok && r.URL.Path == protocol.PathChanges {
				req.Cursor = ""
				return encode(req)
			}
			return body
		}},
	{name: "forgets-unanswered-exchanges", doc: "gives an exchange a new batch ID in every session, so one whose answer was lost is never sent again as itself", cases: []string{"client/sync/resends-unanswered-exchange", "client/sync/stops-when-resend-unanswered"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			cp.mu.Lock()
			defer cp.mu.Unlock()
			if cp.seen == nil {
				cp.seen = map[string][]byte{}
			}
			if r.URL.Path == protocol.PathInfo { // a session begins
				cp.seen["session"] = append(cp.seen["session"], 0)
				return body
			}
			req, ok := decode[protocol.ExchangeRequest](body)
			if !ok || r.URL.Path != protocol.PathExchange {
				return body
			}
			// Retries within a session keep their batch ID (identical bodies).
			key := fmt.Sprintf("batch:%d:%s", len(cp.seen["session"]), body)
			id, ok := cp.seen[key]
			if !ok {
				id = fmt.Appendf(nil, "mutant-%d-%d", len(cp.seen["session"]), len(cp.seen))
				cp.seen[key] = id
			}
			req.BatchID = string(id)
			return encode(req)
		}},
	{name: "restamps-after-expiry", doc: "stamps the items it marks pending after cursor_expired with a new HLC", cases: []string{"client/sync/expired-cursor-keeps-stored-hlc"},
		before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
			cp.mu.Lock()
			_, expired := cp.seen["expired"]
			cp.mu.Unlock()
			req, ok := decode[protocol.ExchangeRequest](body)
			if !expired || !ok || r.URL.Path != protocol.PathExchange {
				return body
			}
			for i := range req.Uploads {
				req.Uploads[i].HLC = uint64(time.Now().UnixMilli())<<16 | 1
			}
			return encode(req)
		},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			if status == http.StatusGone {
				cp.mu.Lock()
				if cp.seen == nil {
					cp.seen = map[string][]byte{}
				}
				cp.seen["expired"] = nil
				cp.mu.Unlock()
			}
			return status, resp, 0
		}},
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestEveryClientCaseFailsAgainstAClientMutant(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, mt := range clientMutants {
		for _, id := range mt.cases {
			c, ok := conformance.Lookup(id)
			require.True(t, ok, id)
			covered[id] = true
			// A fresh proxy per case: mutants may keep state.
			// The proxy forwards Accept-Encoding as the client sent it: its
			// own client neither adds gzip nor decodes it.
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.DisableCompression = true
			cp := &clientProxy{mt: mt, hc: &http.Client{Timeout: time.Minute, Transport: tr}}
			srv := httptest.NewServer(cp)
			addr := strings.TrimPrefix(srv.URL, "http://")
			driver := fmt.Sprintf(`sed -u 's#"server":"http://#"server":"http://%s/up/#' | %s client-driver`, addr, binPath)
			rep := conformance.RunClient(context.Background(), conformance.ClientConfig{Driver: driver, CaseTimeout: time.Minute}, []*conformance.Case{c}, nil)
			srv.Close()
			if res := rep.Results[0]; res.Verdict != conformance.Fail {
				t.Errorf("%s is %s against client mutant %s (%s); want FAIL\n%s", res.Case.ID, res.Verdict, mt.name, mt.doc, res.Details())
			}
		}
	}
	for _, c := range conformance.Select(conformance.ModeClient, nil) {
		if !covered[c.ID] {
			t.Errorf("no client mutant for %s", c.ID)
		}
	}
}
