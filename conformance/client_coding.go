package conformance

import (
	"fmt"
	"strings"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// Client-mode cases of the content codings (SP-3-8). Without an announced
// coding the client must send none: client/session/handshake-and-headers
// checks that (the scripted server announces no coding unless a case
// does).

// checkRequestCodings requires every request so far to be unencoded or in
// one of the codings allowed, decoded by the scripted server (status not
// malformed_request or payload_too_large because of it) and, decoded,
// within maxBody bytes. It returns how many requests each coding carried.
func (ct *CT) checkRequestCodings(allowed []string, maxBody int) map[string]int {
	used := map[string]int{}
	for _, r := range ct.srv.requests("") {
		ce := r.Header.Values("Content-Encoding")
		cc, err := coding.ParseContentEncoding(ce)
		ct.Check(err == nil && (cc == "" || contains(allowed, cc)), fmt.Sprintf("%s %s: no Content-Encoding or one coding of %s", r.Method, r.Path, show(allowed)),
			"Content-Encoding: %q", strings.Join(ce, ", "))
		ct.Check(cc == "" || r.Coding == cc, fmt.Sprintf("%s %s: a body that decodes in its Content-Encoding %s", r.Method, r.Path, cc),
			"it does not (answered %d)", r.Status)
		ct.Check(len(r.Body) <= maxBody, fmt.Sprintf("%s %s: a decoded body within max_body_bytes (%d) [SP-3-8]", r.Method, r.Path, maxBody), "%d bytes", len(r.Body))
		used[cc]++
	}
	return used
}

func init() {
	clientCase(Case{
		ID: "client/coding/requests-in-announced-codings", Level: MUST,
		Reqs: []string{"SP-3-8", "SP-3-13", "SP-3-4"},
		Desc: "request bodies are unencoded or in one announced coding that decodes, and decoded they stay within max_body_bytes",
		Procedure: `
			The scripted server announces zstd and gzip and max_body_bytes 16384; it decodes
			request bodies like a server (an unannounced coding, two codings or a body that does
			not decode: malformed_request; decoding to more than max_body_bytes:
			payload_too_large). The client puts 40 items of 1500 bytes of text (60 KB,
			compressible) and syncs. Assert: the session succeeds; every request's
			Content-Encoding is absent, identity, zstd or gzip, and its body decodes in it; no
			decoded body is over 16384 bytes; the 40 items reach the server intact. The report
			notes which codings the client used.`,
	}, func(ct *CT) {
		ct.srv.announce(coding.Zstd, coding.Gzip)
		ct.srv.mu.Lock()
		ct.srv.info.Limits.MaxBodyBytes = 16384
		ct.srv.mu.Unlock()
		want := map[string]string{}
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("doc-%02d", i)
			want[id] = strings.Repeat(fmt.Sprintf("line %d of a compressible document. ", i), 60)[:1500]
			ct.Put(cColl, id, want[id])
		}
		ct.MustSync()
		used := ct.checkRequestCodings([]string{coding.Zstd, coding.Gzip}, 16384)
		for id, content := range want {
			it, ok := ct.srv.item(cColl, id)
			ct.Check(ok && string(it.Content) == content, id+" on the server, intact", "found %v, %d bytes", ok, len(it.Content))
		}
		ct.Logf("requests by Content-Encoding (\"\" = none): %v", used)
	})

	clientCase(Case{
		ID: "client/coding/only-announced-codings", Level: MUST,
		Reqs: []string{"SP-3-8"},
		Desc: "the client encodes request bodies only in a coding the server announces",
		Procedure: `
			The scripted server announces gzip only (not zstd). The client puts 10 items of 2000
			bytes of text and syncs. Assert: the session succeeds; every request is unencoded or
			in gzip, decoding in it; the 10 items reach the server.`,
	}, func(ct *CT) {
		ct.srv.announce(coding.Gzip)
		for i := 0; i < 10; i++ {
			ct.Put(cColl, fmt.Sprintf("g%d", i), strings.Repeat("gzip only, please. ", 106)[:2000])
		}
		ct.MustSync()
		used := ct.checkRequestCodings([]string{coding.Gzip}, protocol.DefaultMaxBodyBytes)
		for i := 0; i < 10; i++ {
			_, ok := ct.srv.item(cColl, fmt.Sprintf("g%d", i))
			ct.Check(ok, fmt.Sprintf("g%d on the server", i), "missing")
		}
		ct.Logf("requests by Content-Encoding (\"\" = none): %v", used)
	})

	clientCase(Case{
		ID: "client/coding/decodes-responses", Level: MUST,
		Reqs: []string{"SP-3-8"},
		Desc: "a client decodes responses in the codings its Accept-Encoding accepted",
		Procedure: `
			The scripted server announces zstd and gzip and encodes every response, however
			small, in a coding the request's Accept-Encoding accepts, taking turns among them, in
			two frames (zstd) or members (gzip), split in the middle of the body. It
			holds 20 items of 2000 bytes; the client puts 3 and syncs. Skipped when no request
			accepts zstd or gzip. Assert: the session succeeds; the client holds the 20 items
			intact and the server the 3; when the client accepts both codings, both were used.`,
	}, func(ct *CT) {
		ct.srv.announce(coding.Zstd, coding.Gzip)
		ct.srv.mu.Lock()
		ct.srv.encodeAll = true
		ct.srv.mu.Unlock()
		want := map[string]string{}
		for i := 0; i < 20; i++ {
			id := fmt.Sprintf("srv-%02d", i)
			want[id] = strings.Repeat(fmt.Sprintf("server item %d. ", i), 150)[:2000]
			ct.srv.write(cColl, id, want[id], false)
		}
		for i := 0; i < 3; i++ {
			ct.Put(cColl, fmt.Sprintf("cli-%d", i), "from the client")
		}
		r := ct.Sync()
		accepted := map[string]bool{}
		used := map[string]int{}
		for _, q := range ct.srv.requests("") {
			for _, c := range definedCodings {
				if ae := strings.Join(q.Header.Values("Accept-Encoding"), ", "); ae != "" && acceptsCoding(ae, c) {
					accepted[c] = true
				}
			}
			used[q.RespCoding]++
		}
		if len(accepted) == 0 {
			ct.Skip("the client accepts neither zstd nor gzip (Accept-Encoding), so no response is encoded")
		}
		ct.Check(r.OK, "the session to succeed with encoded responses", "error: %s", r.Error)
		for id, content := range want {
			got, ok := ct.Get(cColl, id)
			ct.Check(ok && got == content, id+" on the client, intact", "found %v, %d bytes", ok, len(got))
		}
		for i := 0; i < 3; i++ {
			_, ok := ct.srv.item(cColl, fmt.Sprintf("cli-%d", i))
			ct.Check(ok, fmt.Sprintf("cli-%d on the server", i), "missing")
		}
		if accepted[coding.Zstd] && accepted[coding.Gzip] {
			ct.Check(used[coding.Zstd] > 0 && used[coding.Gzip] > 0, "responses in both codings", "responses by coding: %v", used)
		}
		ct.Logf("responses by Content-Encoding (\"\" = none): %v", used)
	})
}
