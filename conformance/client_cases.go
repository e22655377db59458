package conformance

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncprint/syncprint/protocol"
)

// Client-mode cases: the scripted server plays a script, the driver works
// the client under test.

const cColl = "notes"

// exchanges returns the decoded exchange requests so far.
func (ct *CT) exchanges() []protocol.ExchangeRequest {
	var out []protocol.ExchangeRequest
	for _, r := range ct.srv.requests(protocol.PathExchange) {
		out = append(out, r.Exchange())
	}
	return out
}

func uploadedIDs(xs []protocol.ExchangeRequest) []string {
	var out []string
	for _, x := range xs {
		for _, u := range x.Uploads {
			out = append(out, u.ID)
		}
	}
	return out
}

func downloadedIDs(xs []protocol.ExchangeRequest) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.Downloads...)
	}
	return out
}

func init() {
	clientCase(Case{
		ID: "client/session/handshake-and-headers", Level: MUST,
		Reqs: []string{"SP-3-4", "SP-3-2", "SP-3-6", "SP-3-8", "SP-3-9"},
		Desc: "a session starts with GET /v1/info; every other request carries version 1, a Bearer token and no content coding",
		Procedure: `
			Put one item and sync. Assert: the first request is GET /v1/info; every other request
			is a POST with Syncprint-Version: 1, Authorization "Bearer " + the token, and no
			Content-Encoding (other than identity); the item reaches the server.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "hello")
		ct.MustSync()
		rs := ct.srv.requests("")
		ct.Check(len(rs) > 0 && rs[0].Method == http.MethodGet && rs[0].Path == protocol.PathInfo, "GET /v1/info first", "%s", describeRequests(rs))
		for _, r := range rs[1:] {
			ct.Check(r.Method == http.MethodPost, "POST for "+r.Path, "%s", r.Method)
			ct.Check(r.Header.Get(protocol.HeaderVersion) == "1", "Syncprint-Version: 1 on "+r.Path, "%q", r.Header.Get(protocol.HeaderVersion))
			ct.Check(r.Header.Get("Authorization") == "Bearer "+clientToken, "Authorization: Bearer <token> on "+r.Path, "another Authorization header")
			ce := r.Header.Get("Content-Encoding")
			ct.Check(ce == "" || strings.EqualFold(ce, "identity"), "no Content-Encoding on "+r.Path, "%q", ce)
		}
		it, ok := ct.srv.item(cColl, "a")
		ct.Check(ok && string(it.Content) == "hello", "the item on the server", "%s", brief(it))
	})

	clientCase(Case{
		ID: "client/session/refuses-incompatible-server", Level: MUST,
		Reqs: []string{"SP-3-9"},
		Desc: "a client whose version the server does not speak sends nothing after the handshake and reports it",
		Procedure: `
			The scripted server announces versions [2]. Put an item and sync. Assert: the session
			ends with an error and the client sent no request other than GET /v1/info.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Versions = []int{2}
		ct.srv.mu.Unlock()
		ct.Put(cColl, "a", "x")
		r := ct.Sync()
		ct.Check(!r.OK, "the sync to fail (server too new)", "it succeeded")
		for _, q := range ct.srv.requests("") {
			ct.Check(q.Path == protocol.PathInfo, "no request but GET /v1/info", "%s %s", q.Method, q.Path)
		}
	})

	clientCase(Case{
		ID: "client/session/follows-a-new-info", Level: MUST,
		Reqs: []string{"SP-3-4", "SP-3-16", "SP-3-17"},
		Desc: "after the server is reconfigured, a session keeps to its new Info, even with a change-info request sent beside Info",
		Procedure: `
			The scripted server lists info-tag. Put an item and sync. The server is reconfigured:
			max_page 2 (its Info and tag change), and it answers a change-info request over it with
			too_many_items. Another device writes 5 items; wait 1.2 s (a client that asks for its
			first page beside Info after a pause, SP-3-17, does so now) and sync. Assert: the sync
			succeeds and the client holds the 5 items; no change-info request that arrived after
			Info was answered asks for more than 2 entries (Info's answer waits up to 0.5 s for a
			change-info request sent beside it, so that one sent after is one the client sent with
			Info in hand).`,
	}, func(ct *CT) {
		ct.srv.announce(protocol.FeatureInfoTag)
		ct.Put(cColl, "mine", "M")
		ct.MustSync()
		ct.srv.mu.Lock()
		ct.srv.info.Limits.MaxPage, ct.srv.pageSize = 2, 2
		ct.srv.mu.Unlock()
		for i := range 5 {
			ct.srv.write(cColl, fmt.Sprintf("n%d", i), fmt.Sprintf("theirs %d", i), false)
		}
		time.Sleep(1200 * time.Millisecond)
		// Info's answer waits (half a second at most) for a change-info
		// request sent beside it, so that every request that arrives after
		// it was answered was sent after the client had it.
		paged := make(chan struct{})
		var once sync.Once
		ct.srv.setHook(func(r *sRequest) *sResponse {
			switch r.Path {
			case protocol.PathChanges:
				once.Do(func() { close(paged) })
			case protocol.PathInfo:
				select {
				case <-paged:
				case <-time.After(500 * time.Millisecond):
				}
			}
			return nil
		})
		n := len(ct.srv.requests(""))
		r := ct.Sync()
		ct.srv.setHook(nil)
		ct.Check(r.OK, "the sync to succeed under the new Info", "%s", r.Error)
		rs := ct.srv.requests("")[n:]
		var info time.Time
		for _, q := range rs {
			if q.Path == protocol.PathInfo && info.IsZero() {
				info = q.Answered
			}
		}
		ct.Check(!info.IsZero(), "GET /v1/info in the session", "%s", describeRequests(rs))
		for _, q := range rs {
			if q.Path != protocol.PathChanges || !q.At.After(info) {
				continue
			}
			var req protocol.ChangesRequest
			_ = protocol.Unmarshal(q.Body, &req)
			ct.Check(req.Limit <= 2, "every page asked for after Info within its max_page of 2 [SP-3-4]", "limit %d", req.Limit)
		}
		for i := range 5 {
			got, ok := ct.Get(cColl, fmt.Sprintf("n%d", i))
			ct.Check(ok && got == fmt.Sprintf("theirs %d", i), fmt.Sprintf("the client holds n%d", i), "found %v, %q", ok, got)
		}
	})

	clientCase(Case{
		ID: "client/sync/moves-only-what-differs", Level: MUST,
		Reqs: []string{"SP-6.2-2", "SP-6.2-3", "SP-7-3", "SP-6.6-1", "SP-6.2-4"},
		Desc: "the client uploads only its changes and downloads only what it lacks; equal fingerprints move nothing",
		Procedure: `
			The server holds "same" = "A" and "theirs" = "T" (written by another device). The
			client puts "same" = "A" (the same content, offline) and "mine" = "M", then syncs.
			Assert: the exchanges upload exactly "mine" (base 0, seen 0, its fingerprint) and
			download exactly "theirs"; afterwards the client holds "theirs" = "T" and the server
			"mine" = "M". A second sync uploads and downloads nothing.`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "same", "A", false)
		ct.srv.write(cColl, "theirs", "T", false)
		ct.Put(cColl, "same", "A")
		ct.Put(cColl, "mine", "M")
		ct.MustSync()
		xs := ct.exchanges()
		ct.Equal("uploaded IDs", []string{"mine"}, uploadedIDs(xs))
		ct.Equal("downloaded IDs", []string{"theirs"}, downloadedIDs(xs))
		for _, x := range xs {
			for _, u := range x.Uploads {
				ct.Check(u.Base == 0 && u.Seen == 0 && bytes.Equal(u.FP, FP("mine", false, []byte("M"))) && string(u.Content) == "M",
					"the upload of mine with base 0, seen 0, its fp and content [SP-6.2-4]", "%s", brief(u))
			}
		}
		got, ok := ct.Get(cColl, "theirs")
		ct.Check(ok && got == "T", `the client holds theirs = "T"`, "found %v, %q", ok, got)
		it, _ := ct.srv.item(cColl, "mine")
		ct.Equal("server content of mine", "M", string(it.Content))
		n := len(xs)
		ct.MustSync()
		xs = ct.exchanges()[n:]
		ct.Check(len(uploadedIDs(xs))+len(downloadedIDs(xs)) == 0, "a second sync moves nothing", "uploads %v, downloads %v", uploadedIDs(xs), downloadedIDs(xs))
	})

	clientCase(Case{
		ID: "client/sync/refuses-corrupted-download", Level: MUST,
		Reqs: []string{"SP-6.5-1", "SP-4.2-5", "SP-6.5-6"},
		Desc: "a downloaded item whose content does not match its fingerprint is not stored and the cursor does not advance",
		Procedure: `
			The server holds "x" = "good". Its first exchange answer carries "x" with content
			"evil" (fingerprint of "good"). Assert: the client does not hold "evil" after that
			sync. The next sync (answers no longer corrupted) pulls the change info from the old
			cursor again (it did not store the corrupted session's cursor) and then holds "good".`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "good", false)
		var once sync.Once
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathExchange {
				return nil
			}
			var resp *sResponse
			once.Do(func() {
				ct.srv.mu.Lock()
				a := ct.srv.answer(r)
				ct.srv.mu.Unlock()
				var x protocol.ExchangeResponse
				if protocol.Unmarshal(a.Body, &x) == nil {
					for i := range x.Items {
						x.Items[i].Content = []byte("evil")
					}
					resp = okResp(x)
				}
			})
			return resp
		})
		r := ct.Sync()
		got, found := ct.Get(cColl, "x")
		ct.Check(!(found && got == "evil"), "the corrupted content not stored", "the client holds %q (sync ok=%v)", got, r.OK)
		if r.OK {
			ct.Logf("the session reported success although a download was refused")
		}
		ct.resyncFromOldCursor(map[string]string{"x": "good"})
	})

	clientCase(Case{
		ID: "client/sync/refuses-corrupted-page-content", Level: MUST,
		Reqs: []string{"SP-6.1-8", "SP-4.2-5", "SP-6.5-6"},
		Desc: "content that came with the change info and does not match its fingerprint is not stored, nor anything of its page, and the cursor does not advance",
		Procedure: `
			The server offers content with the change info (SP-6.1-8) and holds "x" = "good" and
			"y" = "fine". A client with nothing local syncs; if it asks for content, the first
			page that carries it has "x" with content "evil" (fingerprint of "good"). Assert: the
			client holds neither "evil" nor "y" after that sync; the next sync (no longer
			corrupted) pulls from the old cursor again and then holds "good" and "fine". A client
			that never asks for content must hold "good" and "fine" after the first sync.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.offerContent = true
		ct.srv.mu.Unlock()
		ct.srv.write(cColl, "x", "good", false)
		ct.srv.write(cColl, "y", "fine", false)
		var once sync.Once
		var asked atomic.Bool
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathChanges {
				return nil
			}
			var resp *sResponse
			ct.srv.mu.Lock()
			a := ct.srv.answer(r)
			ct.srv.mu.Unlock()
			var x protocol.ChangesResponse
			if a.Status != 200 || protocol.Unmarshal(a.Body, &x) != nil || x.Contents == nil {
				return nil // answered as usual
			}
			once.Do(func() {
				asked.Store(true)
				for i := range x.Changes {
					if x.Changes[i].ID == "x" {
						x.Contents[i] = []byte("evil")
					}
				}
				resp = okResp(x)
			})
			return resp
		})
		r := ct.Sync()
		if !asked.Load() {
			// Nothing corrupted: the client downloaded in exchanges.
			ct.srv.setHook(nil)
			ct.Logf("the client did not ask for content with the change info")
			for id, want := range map[string]string{"x": "good", "y": "fine"} {
				got, found := ct.Get(cColl, id)
				ct.Check(found && got == want, fmt.Sprintf("the client holds %q = %q", id, want), "found %v, %q (sync ok=%v)", found, got, r.OK)
			}
			return
		}
		got, found := ct.Get(cColl, "x")
		ct.Check(!(found && got == "evil"), "the corrupted content not stored", "the client holds %q (sync ok=%v)", got, r.OK)
		_, foundY := ct.Get(cColl, "y")
		ct.Check(!foundY, "nothing of the refused page stored", `the client holds "y"`)
		ct.resyncFromOldCursor(map[string]string{"x": "good", "y": "fine"})
	})

	clientCase(Case{
		ID: "client/sync/replans-on-stale", Level: MUST,
		Reqs: []string{"SP-6.5-3", "SP-6.6-1", "SP-6.2-2", "SP-10-7", "SP-7-10"},
		Desc: "a stale upload is re-planned with the server's current version, never resent unchanged",
		Procedure: `
			The server holds "x" = "base"; the client syncs it, then edits "x" = "mine". When the
			client's upload of x arrives, another device first writes "theirs" (so the upload is
			stale, current = the new version). Assert: the client does not upload x again with
			the old seen; under server-wins it downloads x in a later round of the same session
			(or uploads with seen = the new version, which the server rejects); afterwards it
			holds "theirs" and its local conflict log holds "mine".`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "base", false)
		ct.MustSync()
		ct.Put(cColl, "x", "mine")
		var once sync.Once
		var newV uint64
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange && len(r.Exchange().Uploads) > 0 {
				once.Do(func() { newV = ct.srv.write(cColl, "x", "theirs", false).Version })
			}
			return nil
		})
		n := len(ct.exchanges())
		ct.MustSync()
		xs := ct.exchanges()[n:]
		stales := 0
		for _, x := range xs {
			for _, u := range x.Uploads {
				if u.ID == "x" && u.Seen != newV {
					stales++
				}
			}
		}
		ct.Check(stales == 1, "exactly one upload of x with the old seen (the one answered stale)", "%d", stales)
		ct.Check(len(xs) >= 2, "another exchange after the stale result, in the same session", "%d exchanges", len(xs))
		got, _ := ct.Get(cColl, "x")
		ct.Equal("the client's x (server-wins)", "theirs", got)
		d := ct.Dump(cColl)
		found := false
		for _, c := range d.Conflicts {
			found = found || c.ID == "x" && c.content() == "mine"
		}
		ct.Check(found, `"mine" in the client's local conflict log [SP-10-7]`, "conflicts %+v", d.Conflicts)
	})

	clientCase(Case{
		ID: "client/retry/honours-retry-after", Level: MUST,
		Reqs: []string{"SP-9-8", "SP-6.4-4", "SP-9-4", "SP-6.6-3", "SP-9-5"},
		Desc: "after unavailable with Retry-After the client waits that long and resends identical bytes",
		Procedure: `
			The client puts "a" and syncs. The first exchange is answered unavailable (503) with
			Retry-After: 2. Assert: if the client retries (it may instead give up and end the
			session with an error), it sends the exchange again no sooner than 2 s later, with a
			byte-identical body (same batch ID), and the session succeeds.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "x")
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange && r.N == 1 {
				e := errResp(protocol.CodeUnavailable, "try later")
				e.Header = map[string]string{"Retry-After": "2"}
				return e
			}
			return nil
		})
		r := ct.Sync()
		rs := ct.srv.requests(protocol.PathExchange)
		if len(rs) < 2 {
			// A client may give up at once rather than wait (SP-9-8).
			ct.Check(!r.OK, "a session that did not retry to end with an error", "it succeeded with %d exchange(s)", len(rs))
			ct.Logf("the client gave up instead of retrying after Retry-After")
			return
		}
		gap := rs[1].At.Sub(rs[0].At)
		ct.Check(gap >= 2*time.Second-50*time.Millisecond, "at least 2 s (Retry-After) between the attempts", "%v", gap)
		ct.Check(bytes.Equal(rs[0].Body, rs[1].Body), "identical bytes (same batch ID) [SP-6.4-4]", "a different body")
		ct.Check(r.OK, "the session to succeed after the retry", "error: %s", r.Error)
	})

	clientCase(Case{
		ID: "client/retry/backoff-after-internal", Level: MUST,
		Reqs: []string{"SP-9-8", "SP-9-4", "SP-6.4-4"},
		Desc: "after internal (500) without Retry-After the client backs off at least 1 s and resends identical bytes",
		Procedure: `
			The first exchange is answered internal (500) without Retry-After. Assert: a retry,
			if any, has an identical body and comes no sooner than 1 s later, and the session then
			succeeds; without a retry the session ends with an error.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "x")
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange && r.N == 1 {
				e := errResp(protocol.CodeInternal, "oops")
				e.Header = nil
				return e
			}
			return nil
		})
		r := ct.Sync()
		rs := ct.srv.requests(protocol.PathExchange)
		if len(rs) < 2 {
			ct.Check(!r.OK, "a session that did not retry to end with an error", "it succeeded with %d exchange(s)", len(rs))
			ct.Logf("the client did not retry after internal")
			return
		}
		gap := rs[1].At.Sub(rs[0].At)
		ct.Check(gap >= time.Second-50*time.Millisecond, "at least 1 s of backoff", "%v", gap)
		ct.Check(bytes.Equal(rs[0].Body, rs[1].Body), "identical bytes", "a different body")
		ct.Check(r.OK, "the session to succeed after the retry", "error: %s", r.Error)
	})

	clientCase(Case{
		ID: "client/retry/no-retry-of-final-errors", Level: MUST,
		Reqs: []string{"SP-9-4", "SP-9-9", "SP-9-6"},
		Desc: "a final error is not retried unchanged; an unknown code below 500 is final",
		Procedure: `
			Every exchange is answered malformed_request (400). Sync. Then every exchange is
			answered with an unknown code "no_such_code" and status 418. Assert: each session ends
			with an error and no exchange body is ever sent twice.`,
	}, func(ct *CT) {
		ct.Put(cColl, "a", "x")
		for _, resp := range []*sResponse{errResp(protocol.CodeMalformed, "no"), {Status: 418, Body: mustMarshal(protocol.Error{Code: "no_such_code", Message: "?"})}} {
			resp := resp
			ct.srv.setHook(func(r *sRequest) *sResponse {
				if r.Path == protocol.PathExchange {
					return resp
				}
				return nil
			})
			r := ct.Sync()
			ct.Check(!r.OK, "the session to end with an error", "it succeeded")
		}
		seen := map[string]int{}
		for _, r := range ct.srv.requests(protocol.PathExchange) {
			seen[string(r.Body)]++
		}
		for _, n := range seen {
			ct.Check(n == 1, "no exchange body sent twice", "a body sent %d times", n)
		}
	})

	clientCase(Case{
		ID: "client/sync/undecodable-response-not-applied", Level: MUST,
		Reqs: []string{"SP-4.1-8"},
		Desc: "a 200 response that does not decode is a protocol error: nothing applied, the request not retried",
		Procedure: `
			The server holds "x" = "v". The first exchange answer is 200 with the body "garbage".
			Assert: the session ends with an error, the client does not hold x, and that exchange
			body is not sent again in the session.`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "v", false)
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange {
				return &sResponse{Status: 200, Body: []byte("garbage")}
			}
			return nil
		})
		r := ct.Sync()
		ct.Check(!r.OK, "the session to end with an error", "it succeeded")
		_, found := ct.Get(cColl, "x")
		ct.Check(!found, "nothing applied", "the client holds x")
		rs := ct.srv.requests(protocol.PathExchange)
		ct.Check(len(rs) == 1, "the request not retried", "%d exchanges", len(rs))
	})

	clientCase(Case{
		ID: "client/offline/edits-survive-restart", Level: MUST,
		Reqs: []string{"SP-5-4", "SP-6.2-1"},
		Desc: "offline edits survive a client restart and are uploaded with the HLC of the edit",
		Procedure: `
			Put "a" and delete "b" (created and synced first) offline; restart the client; wait
			1.2 s; sync. Assert: the exchange uploads "a" (content) and the deletion of "b"; the
			HLC of "a" is from the time of the edit (before the restart), not of the upload.`,
	}, func(ct *CT) {
		ct.Put(cColl, "b", "to delete")
		ct.MustSync()
		n := len(ct.exchanges())
		before := time.Now()
		ct.Put(cColl, "a", "offline edit")
		ct.Delete(cColl, "b")
		after := time.Now()
		ct.Restart()
		time.Sleep(1200 * time.Millisecond)
		ct.MustSync()
		var ups []protocol.Upload
		for _, x := range ct.exchanges()[n:] {
			ups = append(ups, x.Uploads...)
		}
		got := map[string]protocol.Upload{}
		for _, u := range ups {
			got[u.ID] = u
		}
		a, okA := got["a"]
		b, okB := got["b"]
		ct.Check(okA && string(a.Content) == "offline edit", "the offline edit of a uploaded", "%s", brief(ups))
		ct.Check(okB && b.Deleted, "the offline deletion of b uploaded", "%s", brief(ups))
		ms := int64(a.HLC >> 16)
		ct.Check(ms >= before.UnixMilli()-1000 && ms <= after.UnixMilli()+500, "the HLC of the edit (stamped when it was made) [SP-5-4]",
			"HLC at %s, the edit was made at %s", time.UnixMilli(ms).Format("15:04:05.000"), before.Format("15:04:05.000"))
	})

	clientCase(Case{
		ID: "client/sync/edit-during-sync-kept", Level: MUST,
		Reqs: []string{"SP-6.2-5", "SP-6.5-3"},
		Desc: "an edit made while an exchange is in flight is not lost: it stays pending and is uploaded next",
		Procedure: `
			Put "x" = "v1" and start a sync in the background. The server holds its exchange
			answer until the harness has put "x" = "v2" through the driver, then answers (v1
			applied). After the session, sync again. Assert: the client holds "v2", and the
			server ends with "v2" (uploaded with base = the version of v1).`,
	}, func(ct *CT) {
		ct.Put(cColl, "x", "v1")
		arrived := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange && len(r.Exchange().Uploads) > 0 {
				once.Do(func() {
					close(arrived)
					select {
					case <-release:
					case <-time.After(30 * time.Second):
					}
				})
			}
			return nil
		})
		ct.SyncBackground()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			close(release)
			ct.Fail("the client to send an exchange with the upload", "none within 10 s")
		}
		ct.Put(cColl, "x", "v2")
		close(release)
		ct.Wait()
		ct.MustSync()
		got, _ := ct.Get(cColl, "x")
		ct.Equal("the client's x", "v2", got)
		it, _ := ct.srv.item(cColl, "x")
		ct.Equal("the server's x", "v2", string(it.Content))
	})

	clientCase(Case{
		ID: "client/sync/applies-remote-deletion", Level: MUST,
		Reqs: []string{"SP-6.5-4", "SP-2-7", "SP-6.2-3"},
		Desc: "a deletion made on another device removes the local copy",
		Procedure: `
			The server holds "x"; the client syncs it; another device deletes it. Sync. Assert:
			the client no longer holds x (get: not found).`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "soon gone", false)
		ct.MustSync()
		_, found := ct.Get(cColl, "x")
		ct.Check(found, "x downloaded", "not found")
		ct.srv.write(cColl, "x", "", true)
		ct.MustSync()
		_, found = ct.Get(cColl, "x")
		ct.Check(!found, "x deleted locally", "still found")
	})

	clientCase(Case{
		ID: "client/sync/pulls-when-info-head-moved", Level: MUST,
		Reqs: []string{"SP-6.1-9", "SP-3-15"},
		Desc: "a client that may skip the pull when Info shows nothing new still pulls when the head moved",
		Procedure: `
			The server announces info-collections (Info lists the collections with their heads,
			and a last page's cursor is the cursor of the head). It holds "a"; the client syncs
			it. Sync again, nothing changed (the client MAY skip the pull). Another device writes
			"b", and rewrites "a". Sync. Assert: the client holds b and the new a: it pulled,
			whatever it did when nothing had changed.`,
	}, func(ct *CT) {
		ct.srv.announce(protocol.FeatureInfoCollections)
		ct.srv.write(cColl, "a", "first", false)
		ct.MustSync()
		ct.MustSync()
		ct.srv.write(cColl, "b", "new on the server", false)
		ct.srv.write(cColl, "a", "second", false)
		ct.MustSync()
		got, found := ct.Get(cColl, "b")
		ct.Check(found && got == "new on the server", "b pulled after the head moved", "found %v, %q", found, got)
		got, _ = ct.Get(cColl, "a")
		ct.Equal("a after the head moved", "second", got)
	})

	clientCase(Case{
		ID: "client/sync/splits-by-announced-limits", Level: MUST,
		Reqs: []string{"SP-3-4", "SP-6.6-2", "SP-2-9"},
		Desc: "the client keeps every exchange within the announced limits",
		Procedure: `
			The server announces max_batch_items 2 and max_ids 2. The client puts 5 items and the
			server holds 5 others. Sync. Assert: no exchange has more than 2 uploads or 2
			downloads, all 10 items end on both sides, and the session succeeds.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Limits.MaxBatchItems = 2
		ct.srv.info.Limits.MaxIDs = 2
		ct.srv.mu.Unlock()
		for i := 0; i < 5; i++ {
			ct.Put(cColl, fmt.Sprintf("mine-%d", i), "m")
			ct.srv.write(cColl, fmt.Sprintf("theirs-%d", i), "t", false)
		}
		ct.MustSync()
		for _, x := range ct.exchanges() {
			ct.Check(len(x.Uploads) <= 2 && len(x.Downloads) <= 2, "at most 2 uploads and 2 downloads per exchange", "%d uploads, %d downloads", len(x.Uploads), len(x.Downloads))
		}
		for i := 0; i < 5; i++ {
			_, ok := ct.srv.item(cColl, fmt.Sprintf("mine-%d", i))
			ct.Check(ok, fmt.Sprintf("mine-%d on the server", i), "missing")
			_, found := ct.Get(cColl, fmt.Sprintf("theirs-%d", i))
			ct.Check(found, fmt.Sprintf("theirs-%d on the client", i), "missing")
		}
	})

	clientCase(Case{
		ID: "client/sync/restarts-pull-on-expired-cursor", Level: MUST,
		Reqs: []string{"SP-6.6-4", "SP-6.1-5", "SP-9-9"},
		Desc: "cursor_expired makes the client pull again from the beginning in the same session, keeping pending edits",
		Procedure: `
			Sync once (the client stores a cursor). Put "p". Answer every change-info request with
			a non-empty cursor by cursor_expired (410). Sync. Assert: in that session the client
			pulls again with cursor "", the session succeeds and "p" reaches the server.`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "1", false)
		ct.MustSync()
		ct.Put(cColl, "p", "pending")
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path != protocol.PathChanges {
				return nil
			}
			var req protocol.ChangesRequest
			if protocol.Unmarshal(r.Body, &req) == nil && req.Cursor != "" && req.Cursor != sCursor(req.Collection, 0) {
				return errResp(protocol.CodeCursorExpired, "another epoch")
			}
			return nil
		})
		n := len(ct.srv.requests(protocol.PathChanges))
		ct.MustSync()
		sawEmpty := false
		for _, r := range ct.srv.requests(protocol.PathChanges)[n:] {
			var req protocol.ChangesRequest
			_ = protocol.Unmarshal(r.Body, &req)
			sawEmpty = sawEmpty || req.Cursor == ""
		}
		ct.Check(sawEmpty, `a pull from "" after cursor_expired`, "none")
		it, ok := ct.srv.item(cColl, "p")
		ct.Check(ok && string(it.Content) == "pending", "the pending edit uploaded", "%s", brief(it))
	})
}

func init() {
	clientCase(Case{
		ID: "client/sync/pulls-every-page-first", Level: MUST,
		Reqs: []string{"SP-6.1-6", "SP-6.6-1"},
		Desc: "the client reads every change-info page of a segment before it plans and keeps the greatest version of each item",
		Procedure: `
			The scripted server pages change info 2 entries at a time and holds a, b, c, d (one
			segment: fewer than SegmentEntries items). When
			the client asks for the second page, another device edits a (a moves to the end of
			the history). Assert: every change-info request of the session comes before its first
			exchange, the pulls continue until more is false, a is downloaded once, and the client
			ends with the new content of a.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.pageSize = 2
		ct.srv.mu.Unlock()
		for _, id := range []string{"a", "b", "c", "d"} {
			ct.srv.write(cColl, id, id+"1", false)
		}
		var once sync.Once
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathChanges && r.N == 2 {
				once.Do(func() { ct.srv.write(cColl, "a", "a2", false) })
			}
			return nil
		})
		ct.MustSync()
		rs := ct.srv.requests("")
		firstX := -1
		lastC := -1
		for i, r := range rs {
			if r.Path == protocol.PathExchange && firstX < 0 {
				firstX = i
			}
			if r.Path == protocol.PathChanges {
				lastC = i
			}
		}
		ct.Check(firstX > lastC, "every change-info page read before the first exchange", "%s", describeRequests(rs))
		ct.Check(len(ct.srv.requests(protocol.PathChanges)) >= 3, "pages until more is false (at least 3 pages of 2)", "%d pulls", len(ct.srv.requests(protocol.PathChanges)))
		n := 0
		for _, id := range downloadedIDs(ct.exchanges()) {
			if id == "a" {
				n++
			}
		}
		ct.Equal("downloads of a", 1, n)
		got, _ := ct.Get(cColl, "a")
		ct.Equal("the client's a", "a2", got)
	})

	clientCase(Case{
		ID: "client/sync/stops-after-max-rounds", Level: MUST,
		Reqs: []string{"SP-6.6-5", "SP-2-8"},
		Desc: "a client runs at most MaxRounds (8) rounds for one collection in one session",
		Procedure: `
			The client edits "x" (synced before). Every exchange that uploads x is answered after
			another device wrote a newer x, so every upload is stale. Assert: the session ends,
			with at most 8 exchanges uploading x, and x stays pending locally.`,
	}, func(ct *CT) {
		ct.srv.write(cColl, "x", "base", false)
		ct.MustSync()
		ct.Put(cColl, "x", "mine")
		ct.srv.setHook(func(r *sRequest) *sResponse {
			if r.Path == protocol.PathExchange {
				for _, u := range r.Exchange().Uploads {
					if u.ID == "x" {
						ct.srv.write(cColl, "x", fmt.Sprint("theirs ", r.N), false)
					}
				}
			}
			return nil
		})
		n := len(ct.exchanges())
		ct.Sync()
		ups := 0
		for _, x := range ct.exchanges()[n:] {
			for _, u := range x.Uploads {
				if u.ID == "x" {
					ups++
				}
			}
		}
		ct.Check(ups >= 1 && ups <= 8, "between 1 and 8 exchanges uploading x (MaxRounds)", "%d", ups)
	})
}

func init() {
	clientCase(Case{
		ID: "client/sync/respects-max-body-bytes", Level: MUST,
		Reqs: []string{"SP-3-13", "SP-3-4", "SP-6.6-2", "SP-6.2-4"},
		Desc: "no request body exceeds max_body_bytes; an upload that cannot fit even alone stays pending",
		Procedure: `
			The scripted server announces max_body_bytes 3000 (max_item_bytes stays 1 MiB). The
			client puts "small" (100 bytes), "big" (5000 bytes, within max_item_bytes but too
			large for any body) and 40 items of 100 bytes, then syncs. Assert: no request body is
			over 3000 bytes; "small" and the 40 items reach the server (split over several
			exchanges); "big" does not, and stays pending locally.`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Limits.MaxBodyBytes = 3000
		ct.srv.mu.Unlock()
		ct.Put(cColl, "small", strings.Repeat("s", 100))
		ct.Put(cColl, "big", strings.Repeat("b", 5000))
		for i := 0; i < 40; i++ {
			ct.Put(cColl, fmt.Sprintf("n%02d", i), strings.Repeat("n", 100))
		}
		ct.Sync()
		for _, r := range ct.srv.requests("") {
			ct.Check(len(r.Body) <= 3000, "every request body within max_body_bytes (3000)", "%s of %d bytes", r.Path, len(r.Body))
		}
		_, ok := ct.srv.item(cColl, "small")
		ct.Check(ok, "small on the server", "missing")
		for i := 0; i < 40; i++ {
			_, ok := ct.srv.item(cColl, fmt.Sprintf("n%02d", i))
			ct.Check(ok, fmt.Sprintf("n%02d on the server", i), "missing")
		}
		_, ok = ct.srv.item(cColl, "big")
		ct.Check(!ok, "big not uploaded", "it reached the server")
		pending := false
		for _, it := range ct.Dump(cColl).Items {
			if it.ID == "big" {
				pending = it.Pending
			}
		}
		ct.Check(pending, "big still pending locally", "not pending")
	})
}

func mustMarshal(v any) []byte {
	b, err := protocol.Marshal(v)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return b
}

func init() {
	clientCase(Case{
		ID: "client/sync/no-rebase-on-replica-alone", Level: MUST,
		Reqs: []string{"SP-6.2-6", "SP-6.2-2", "SP-6.2-4"},
		Desc: "a version the server lists as written by the client's own replica, which this store never uploaded, is a concurrent change, not the base of a local edit",
		Procedure: `
			The server holds "s" = "real", written by the client's own replica ID (as an
			application reinstalled with its old token would find it), and announces
			client-wins for the collection (while deciding server-wins: a stale rule costs a
			round trip, never data, SP-3-11). The client, which never synced, puts "s" =
			"defaults" and syncs. Assert: the client uploads s (client-wins) and every upload
			of s carries base 0: the local edit derives from nothing this store uploaded, so
			the server sees a concurrent edit and keeps its own; the client ends with "real".`,
	}, func(ct *CT) {
		ct.srv.mu.Lock()
		ct.srv.info.Rules = map[string]protocol.Rule{cColl: protocol.ClientWins}
		ct.srv.mu.Unlock()
		ct.srv.writeAs(scriptedReplica, cColl, "s", "real", false)
		ct.Put(cColl, "s", "defaults")
		ct.MustSync()
		ups := 0
		for _, x := range ct.exchanges() {
			for _, u := range x.Uploads {
				if u.ID == "s" {
					ups++
					ct.Equal("base of the upload of s", uint64(0), u.Base)
				}
			}
		}
		ct.Check(ups > 0, "s uploaded (client-wins)", "never uploaded")
		got, _ := ct.Get(cColl, "s")
		ct.Equal("the client's s", "real", got)
	})
}

// resyncFromOldCursor ends a corrupting hook and syncs again: the session
// pulls the change info from the cursor the client held before the
// corrupted one (it stored nothing of it), and the client then holds want
// (ID -> content) in cColl.
func (ct *CT) resyncFromOldCursor(want map[string]string) {
	ct.srv.setHook(nil)
	before := len(ct.srv.requests(protocol.PathChanges))
	ct.MustSync()
	pulls := ct.srv.requests(protocol.PathChanges)[before:]
	ct.Check(len(pulls) > 0, "the next session pulls the change info", "no pull")
	if len(pulls) > 0 {
		var first protocol.ChangesRequest
		_ = protocol.Unmarshal(pulls[0].Body, &first)
		ct.Check(first.Cursor == "" || first.Cursor == sCursor(cColl, 0), "the pull starts from the old cursor (nothing stored from the corrupted session)", "cursor %q", first.Cursor)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		got, found := ct.Get(cColl, id)
		ct.Check(found && got == want[id], fmt.Sprintf("the client holds %q after a clean session", want[id]), "found %v, %q", found, got)
	}
}
