package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/syncprint/syncprint/internal/wirecheck"
	"github.com/syncprint/syncprint/protocol"
)

// Collections, change info, cursors.

func init() {
	serverCase(Case{
		ID: "server/collections/lists-written-collections", Level: MUST,
		Reqs: []string{"SP-6-1", "SP-2-5", "SP-3-11"},
		Desc: "/v1/collections lists the user's collections holding items, by name, with rule and head",
		Procedure: `
			Write 2 items to a fresh collection X and a tombstone (deleted at once, no item
			before) to a fresh collection Y; name a third fresh collection Z in a change-info
			request only. POST /v1/collections {}. Assert: X (head 2) and Y (head 1) are listed
			with the rule Info announces for them, Z is not; names are in increasing byte order
			without duplicates.`,
	}, func(t *T) {
		x, y, z := t.NewCollection(), t.NewCollection(), t.NewCollection()
		t.Put(UserA, x, "a", 0, 0, "1")
		t.Put(UserA, x, "b", 0, 0, "2")
		res := t.Upload(UserA, y, Del("gone", 0, 0, t.HLC(0)))
		t.WantStatus(res[0], protocol.StatusApplied)
		t.Changes(UserA, z.Collection, "", 0)
		var resp protocol.CollectionsResponse
		t.OK(t.Do(Request{Path: protocol.PathCollections, As: UserA, Body: []byte{0x80}}), &resp)
		names := make([]string, len(resp.Collections))
		got := map[string]protocol.Collection{}
		for i, c := range resp.Collections {
			names[i] = c.Name
			got[c.Name] = c
		}
		t.Check(sort.StringsAreSorted(names), "collections in increasing byte order", "%v", names)
		for i := 1; i < len(names); i++ {
			t.Check(names[i] != names[i-1], "no collection twice", "%q twice", names[i])
		}
		for _, w := range []struct {
			ns   Namespace
			head uint64
		}{{x, 2}, {y, 1}} {
			c, ok := got[w.ns.Collection]
			t.Check(ok, fmt.Sprintf("collection %s listed", w.ns.Collection), "not listed")
			t.Equal("head of "+w.ns.Collection, w.head, c.Head)
			t.Equal("rule of "+w.ns.Collection, t.info.RuleFor(w.ns.Collection), c.Rule)
		}
		_, listed := got[z.Collection]
		t.Check(!listed, fmt.Sprintf("an empty collection (%s) not listed", z.Collection), "listed")
	})

	serverCase(Case{
		ID: "server/collections/listed-in-info", Level: MUST,
		Reqs: []string{"SP-3-15", "SP-6-1", "SP-10-8"},
		Desc: "with info-collections, Info lists the caller's collections and conflicts_seq as /v1/collections does",
		Procedure: `
			Skip unless Info announces info-collections. Write an item to a fresh collection X.
			GET /v1/info with the token, then POST /v1/collections {}, and again GET /v1/info
			(nothing is written meanwhile). Assert: both Infos list exactly the collections of the
			listing, in the same order with the same rules and heads, X among them with head 1,
			and carry its conflicts_seq. GET /v1/info without a token: no collections, and
			conflicts_seq 0.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureInfoCollections)
		x := t.NewCollection()
		t.Put(UserA, x, "a", 0, 0, "1")
		info := func(who Who) protocol.Info {
			var m protocol.Info
			t.OK(t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, As: who}), &m)
			return m
		}
		before := info(UserA)
		var list protocol.CollectionsResponse
		t.OK(t.Post(UserA, protocol.PathCollections, protocol.CollectionsRequest{}), &list)
		after := info(UserA)
		for i, in := range []protocol.Info{before, after} {
			same := slices.Equal(in.Collections, list.Collections) && in.ConflictsSeq == list.ConflictsSeq
			t.Check(same, fmt.Sprintf("collections and conflicts_seq of Info %d those of POST /v1/collections", i+1),
				"Info %v seq %d, the listing %v seq %d", in.Collections, in.ConflictsSeq, list.Collections, list.ConflictsSeq)
		}
		var listed bool
		for _, c := range after.Collections {
			if c.Name == x.Collection {
				listed = true
				t.Equal("head of "+x.Collection+" in Info", uint64(1), c.Head)
				t.Equal("rule of "+x.Collection+" in Info", t.info.RuleFor(x.Collection), c.Rule)
			}
		}
		t.Check(listed, "the collection just written ("+x.Collection+") listed in Info", "not listed: %v", after.Collections)
		anon := info(NoAuth)
		t.Check(len(anon.Collections) == 0 && anon.ConflictsSeq == 0, "no collections and conflicts_seq 0 in an Info without a token",
			"%d collections, conflicts_seq %d", len(anon.Collections), anon.ConflictsSeq)
	})

	serverCase(Case{
		ID: "server/handshake/info-short-with-its-tag", Level: MUST,
		Reqs: []string{"SP-3-16", "SP-3-15"},
		Desc: "with info-tag, Info has a tag per caller, and a request that sends it back gets the short form",
		Procedure: `
			Skip unless Info announces info-tag. GET /v1/info as user A, as user B and without a
			token. Assert: each has a tag of 1 to 64 characters from A-Z a-z 0-9 - _, the three
			tags differ. GET /v1/info as A with Syncprint-Info-Tag: A's tag. Assert: the body is
			a map whose keys are server_time and tag and at most collections and conflicts_seq
			(no versions), its tag is A's, and with info-collections its collections and
			conflicts_seq are those of A's full Info (nothing was written meanwhile). GET
			/v1/info as A with B's tag, and as B with A's tag. Assert: full Infos (versions
			listed), each with its caller's own tag.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureInfoTag)
		t.Put(UserA, t.NewCollection(), "a", 0, 0, "1")
		get := func(who Who, tag string) (protocol.Info, []string) {
			var m protocol.Info
			req := Request{Method: http.MethodGet, Path: protocol.PathInfo, As: who}
			if tag != "" {
				req.Header = map[string]string{protocol.HeaderInfoTag: tag}
			}
			r := t.Do(req)
			t.OK(r, &m)
			keys, err := wirecheck.TopKeys(r.Body)
			t.Check(err == nil, "a body that is a msgpack map", "%v", err)
			return m, keys
		}
		a, _ := get(UserA, "")
		b, _ := get(UserB, "")
		anon, _ := get(NoAuth, "")
		for _, in := range []struct {
			who string
			tag string
		}{{"A", a.Tag}, {"B", b.Tag}, {"no token", anon.Tag}} {
			t.Check(protocol.ValidInfoTag(in.tag), "a tag of 1 to 64 characters from A-Z a-z 0-9 - _ in the Info of "+in.who, "tag %q", in.tag)
		}
		t.Check(a.Tag != b.Tag && a.Tag != anon.Tag && b.Tag != anon.Tag, "the tags of two callers and of no caller differ",
			"A %q, B %q, no token %q", a.Tag, b.Tag, anon.Tag)

		short, keys := get(UserA, a.Tag)
		allowed := map[string]bool{"server_time": true, "tag": true, "collections": true, "conflicts_seq": true}
		only := slices.Contains(keys, "server_time") && slices.Contains(keys, "tag")
		for _, k := range keys {
			only = only && allowed[k]
		}
		t.Check(only, "the answer to A's own tag holds server_time and tag, and at most collections and conflicts_seq", "keys %v", keys)
		t.Equal("tag of the short Info", a.Tag, short.Tag)
		if t.HasFeature(protocol.FeatureInfoCollections) {
			t.Check(slices.Equal(short.Collections, a.Collections) && short.ConflictsSeq == a.ConflictsSeq,
				"the short Info's collections and conflicts_seq are those of the full one", "short %v seq %d, full %v seq %d",
				short.Collections, short.ConflictsSeq, a.Collections, a.ConflictsSeq)
		}
		for _, in := range []struct {
			who       Who
			name      string
			sent, own string
		}{{UserA, "A with B's tag", b.Tag, a.Tag}, {UserB, "B with A's tag", a.Tag, b.Tag}} {
			full, _ := get(in.who, in.sent)
			t.Check(len(full.Versions) > 0 && full.Tag == in.own, "a full Info with its caller's tag to "+in.name,
				"versions %v, tag %q, want %q", full.Versions, full.Tag, in.own)
		}
	})

	serverCase(Case{
		ID: "server/changes/last-page-cursor-at-head", Level: MUST,
		Reqs: []string{"SP-6.1-9", "SP-6.3-9"},
		Desc: "with info-collections, a page with more false returns the cursor of the head",
		Procedure: `
			Skip unless Info announces info-collections. Write "x", "y", "z", then "x" again to
			a fresh collection (head 4). Read the change info with limit 2: the second page (x)
			has more false. Send an exchange uploading a new item with that page's cursor. Assert: the
			response's cursor differs from the request's (the page's cursor was the cursor of
			the head, so the exchange advanced it, SP-6.3-9), and a change-info request with it
			returns an empty page.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureInfoCollections)
		ns := t.NewCollection()
		vx := t.Put(UserA, ns, "x", 0, 0, "1")
		t.Put(UserA, ns, "y", 0, 0, "2")
		t.Put(UserA, ns, "z", 0, 0, "3")
		t.Put(UserA, ns, "x", vx, vx, "4")
		p1 := t.Changes(UserA, ns.Collection, "", 2)
		t.Check(p1.More, "more after the first page of 2", "more false with %d entries", len(p1.Changes))
		p2 := t.Changes(UserA, ns.Collection, p1.Cursor, 2)
		t.Check(!p2.More, "no more after the second page", "more true")
		x := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: p2.Cursor, Uploads: []protocol.Upload{Up(ns.ID("w"), 0, 0, t.HLC(0), "5")}})
		t.Check(x.Cursor != p2.Cursor, "the exchange advanced the last page's cursor (it was the cursor of the head)", "echoed %q", x.Cursor)
		p3 := t.Changes(UserA, ns.Collection, x.Cursor, 0)
		t.Check(len(p3.Changes) == 0 && !p3.More, "nothing after the advanced cursor", "%d entries", len(p3.Changes))
	})

	serverCase(Case{
		ID: "server/changes/empty-collection", Level: MUST,
		Reqs: []string{"SP-6.1-2", "SP-2-5", "SP-6.1-1"},
		Desc: "a collection never written is empty, not an error, and its cursor is valid",
		Procedure: `
			POST /v1/changes {collection: fresh, cursor: ""}. Assert: 200, no changes, more
			false, head 0, a non-empty cursor; that cursor, sent back, gives the same empty page.`,
	}, func(t *T) {
		ns := t.NewCollection()
		p := t.Changes(UserA, ns.Collection, "", 0)
		t.Check(len(p.Changes) == 0 && !p.More && p.Head == 0, "no changes, more false, head 0", "%d changes, more %v, head %d", len(p.Changes), p.More, p.Head)
		t.Check(p.Cursor != "", "a cursor (of version 0)", `cursor ""`)
		p2 := t.Changes(UserA, ns.Collection, p.Cursor, 0)
		t.Check(len(p2.Changes) == 0 && !p2.More && p2.Head == 0, "the same empty page for the returned cursor", "%d changes, head %d", len(p2.Changes), p2.Head)
	})

	serverCase(Case{
		ID: "server/changes/paging", Level: MUST,
		Reqs: []string{"SP-6.1-1", "SP-6.1-2", "SP-2-6"},
		Desc: "pages of change info honour limit, more and the cursor, in increasing version order",
		Procedure: `
			Write 7 items one by one to a fresh collection (versions 1..7). Read with limit 3 from
			"": pages of 3, 3 and 1 entries, more true, true, false; then the last cursor gives an
			empty page with more false and the same cursor back. Assert: versions 1..7 in order,
			each item once, head 7 on every page; limit 0 gives all 7 in one page (7 is below any
			default page size, read page by page).`,
	}, func(t *T) {
		if t.info.Limits.MaxPage < 3 {
			t.Skip("max_page %d is below the page size of 3 the case reads", t.info.Limits.MaxPage)
		}
		ns := t.NewCollection()
		for i := 0; i < 7; i++ {
			v := t.Put(UserA, ns, fmt.Sprintf("item-%d", i), 0, 0, fmt.Sprint(i))
			t.Equal(fmt.Sprintf("version of the write number %d", i+1), uint64(i+1), v)
		}
		cursor := ""
		var versions []uint64
		for i, want := range []struct {
			n    int
			more bool
		}{{3, true}, {3, true}, {1, false}} {
			p := t.Changes(UserA, ns.Collection, cursor, 3)
			t.Check(len(p.Changes) == want.n && p.More == want.more, fmt.Sprintf("page %d: %d entries, more %v", i+1, want.n, want.more), "%d entries, more %v", len(p.Changes), p.More)
			t.Equal(fmt.Sprintf("head on page %d", i+1), uint64(7), p.Head)
			for _, c := range p.Changes {
				versions = append(versions, c.Version)
			}
			cursor = p.Cursor
		}
		t.Equal("versions across the pages", []uint64{1, 2, 3, 4, 5, 6, 7}, versions)
		p := t.Changes(UserA, ns.Collection, cursor, 3)
		t.Check(len(p.Changes) == 0 && !p.More, "an empty last page with more false", "%d entries, more %v", len(p.Changes), p.More)
		t.Equal("cursor of an empty page (the request's)", cursor, p.Cursor)
		all, _, _ := t.PullAll(UserA, ns.Collection, "")
		t.Equal("versions read with limit 0 (the server's page size)", []uint64{1, 2, 3, 4, 5, 6, 7}, versionsOf(all))
	})

	serverCase(Case{
		ID: "server/changes/next-cursor-header", Level: MUST,
		Reqs: []string{"SP-6.1-10"},
		Desc: "a Syncprint-Next-Cursor header, where a page has one, is the page's cursor; only a page with more has one, and only from a server with next-cursor",
		Procedure: `
			Write 5 items to a fresh collection and read its change info in pages of 2 from "",
			without and with content; read an empty collection's page; send a cursor of
			another collection (invalid_cursor). Assert: every answer with the header
			Syncprint-Next-Cursor is a page with more true and entries, from a server whose Info
			lists next-cursor, and the header's value is its body's cursor byte for byte; the
			last pages, the empty page and the error carry no such header.`,
	}, func(t *T) {
		if t.info.Limits.MaxPage < 2 {
			t.Skip("max_page %d is below the page size of 2 the case reads", t.info.Limits.MaxPage)
		}
		ns, other := t.NewCollection(), t.NewCollection()
		for i := 0; i < 5; i++ {
			t.Put(UserA, ns, fmt.Sprintf("item-%d", i), 0, 0, fmt.Sprint(i))
		}
		t.Put(UserA, other, "o", 0, 0, "o")
		page := func(req protocol.ChangesRequest, what string) protocol.ChangesResponse {
			r := t.Post(UserA, protocol.PathChanges, req)
			var p protocol.ChangesResponse
			t.OK(r, &p)
			h := r.Header.Values(protocol.HeaderNextCursor)
			if p.More && len(p.Changes) > 0 {
				t.Check(len(h) == 0 || len(h) == 1 && h[0] == p.Cursor, what+": no "+protocol.HeaderNextCursor+" header, or one with the body's cursor",
					"header %q, body cursor %q", h, p.Cursor)
				t.Check(len(h) == 0 || slices.Contains(t.info.Features, protocol.FeatureNextCursor), what+": the header from a server that lists next-cursor only",
					"header %q, features %v", h, t.info.Features)
			} else {
				t.Check(len(h) == 0, what+" (more false or no entries): no "+protocol.HeaderNextCursor+" header", "header %q", h)
			}
			return p
		}
		for _, content := range []bool{false, true} {
			cursor := ""
			for i := 0; i < 4; i++ {
				p := page(protocol.ChangesRequest{Collection: ns.Collection, Cursor: cursor, Limit: 2, Content: content}, fmt.Sprintf("page %d (content %v)", i+1, content))
				cursor = p.Cursor
				if !p.More {
					break
				}
			}
		}
		page(protocol.ChangesRequest{Collection: t.NewCollection().Collection}, "an empty collection's page")
		first := page(protocol.ChangesRequest{Collection: other.Collection}, "another collection's page")
		r := t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: first.Cursor})
		t.WantError(r, protocol.CodeInvalidCursor)
		t.Check(len(r.Header.Values(protocol.HeaderNextCursor)) == 0, "an error answer: no "+protocol.HeaderNextCursor+" header", "header %q", r.Header.Values(protocol.HeaderNextCursor))
	})

	serverCase(Case{
		ID: "server/changes/next-cursor-header-sent", Level: MUST,
		Reqs: []string{"SP-6.1-10"},
		Desc: "with next-cursor, a page with more to come names the next page's cursor in the header Syncprint-Next-Cursor",
		Procedure: `
			Skip unless Info announces next-cursor. Write 3 items to a fresh collection and read
			its first page with limit 2, without and with content. Assert: the header
			Syncprint-Next-Cursor is there, once, with the body's cursor.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureNextCursor)
		if t.info.Limits.MaxPage < 2 {
			t.Skip("max_page %d is below the page size of 2 the case reads", t.info.Limits.MaxPage)
		}
		ns := t.NewCollection()
		for i := 0; i < 3; i++ {
			t.Put(UserA, ns, fmt.Sprintf("item-%d", i), 0, 0, fmt.Sprint(i))
		}
		for _, content := range []bool{false, true} {
			r := t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Limit: 2, Content: content})
			var p protocol.ChangesResponse
			t.OK(r, &p)
			t.Check(p.More, "a first page of 2 of 3 entries with more true", "more %v", p.More)
			h := r.Header.Values(protocol.HeaderNextCursor)
			t.Check(len(h) == 1 && h[0] == p.Cursor, fmt.Sprintf("%s: the body's cursor (content %v)", protocol.HeaderNextCursor, content), "header %q, body cursor %q", h, p.Cursor)
		}
	})

	serverCase(Case{
		ID: "server/changes/entry-fields", Level: MUST,
		Reqs: []string{"SP-6.1-1", "SP-2-3", "SP-4.2-2", "SP-3-6", "SP-12-2", "SP-5-5", "SP-5-1"},
		Desc: "a change-info entry carries ID, version, fingerprint, HLC, deletion mark, the writer's replica and size",
		Procedure: `
			Upload "x" (content "hello, world\n", a chosen HLC) and an empty-content item "e" to a
			fresh collection, then delete "x"'s sibling "d". Read the change info. Assert for each
			entry: fp is the BLAKE3 fingerprint of SP-4.2 of the uploaded state, hlc the uploaded
			HLC, replica = Info.replica of the uploading token (never anything from the body),
			size the content length (0 for the tombstone and the empty item), deleted as uploaded.`,
	}, func(t *T) {
		ns := t.NewCollection()
		h := t.HLC(-1000)
		res := t.Upload(UserA, ns, Up("x", 0, 0, h, "hello, world\n"), Up("e", 0, 0, h+1, ""), Del("d", 0, 0, h+2))
		for _, r := range res {
			t.WantStatus(r, protocol.StatusApplied)
			t.Check(r.HLC == h || r.HLC == h+1 || r.HLC == h+2, "the applied result's hlc = the uploaded HLC (not clamped) [SP-5-5]", "hlc %d", r.HLC)
		}
		p := t.Changes(UserA, ns.Collection, "", 0)
		t.Equal("number of entries", 3, len(p.Changes))
		want := map[string]struct {
			fp      []byte
			hlc     uint64
			deleted bool
			size    uint32
		}{
			"x": {FP("x", false, []byte("hello, world\n")), h, false, 13},
			"e": {FP("e", false, nil), h + 1, false, 0},
			"d": {FP("d", true, nil), h + 2, true, 0},
		}
		for _, c := range p.Changes {
			w := want[c.ID]
			t.Check(bytes.Equal(c.FP, w.fp), fmt.Sprintf("fp of %q = %x", c.ID, w.fp), "%x", c.FP)
			t.Equal("hlc of "+c.ID, w.hlc, c.HLC)
			t.Equal("deleted of "+c.ID, w.deleted, c.Deleted)
			t.Equal("size of "+c.ID, w.size, c.Size)
			t.Equal("replica of "+c.ID, t.info.Replica, c.Replica)
		}
	})

	serverCase(Case{
		ID: "server/changes/content", Level: MUST,
		Reqs: []string{"SP-6.1-8", "SP-6.1-1"},
		Desc: "a page asked for with content carries each entry's content at its index, nil for a tombstone; one asked for without carries none",
		Procedure: `
			Upload "x" (content "hello, world\n"), an empty-content item "e" and a tombstone "d" to
			a fresh collection; rewrite "x" ("hello again"). Read the change info with content
			true. Assert: contents has one element per entry; each item's is the content of its
			listed version (its fingerprint is the entry's fp, its length the entry's size), the
			empty item's is empty and not nil, the tombstone's is nil. Read it page by page with
			limit 1 and content true: each page carries its entry's content. Read it without
			content: no contents key.`,
	}, func(t *T) {
		ns := t.NewCollection()
		h := t.HLC(-1000)
		res := t.Upload(UserA, ns, Up("x", 0, 0, h, "hello, world\n"), Up("e", 0, 0, h+1, ""), Del("d", 0, 0, h+2))
		for _, r := range res {
			t.WantStatus(r, protocol.StatusApplied)
		}
		t.Put(UserA, ns, "x", res[0].Version, res[0].Version, "hello again")
		want := map[string][]byte{"x": []byte("hello again"), "e": {}, "d": nil}
		check := func(what string, p protocol.ChangesResponse) {
			t.Equal(what+": one content per entry", len(p.Changes), len(p.Contents))
			for i, c := range p.Changes {
				if i >= len(p.Contents) {
					break
				}
				got := p.Contents[i]
				t.Check(bytes.Equal(got, want[c.ID]) && (got == nil) == (want[c.ID] == nil),
					fmt.Sprintf("%s: content of %q = %q (nil: %v)", what, c.ID, want[c.ID], want[c.ID] == nil), "%q (nil: %v)", got, got == nil)
				fp := FP(c.ID, c.Deleted, got)
				t.Check(bytes.Equal(fp, c.FP), fmt.Sprintf("%s: the content of %q is that of its listed version", what, c.ID), "fingerprint %x, entry %x", fp, c.FP)
				t.Equal(what+": size of "+c.ID, uint32(len(got)), c.Size)
			}
		}
		var all protocol.ChangesResponse
		t.OK(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Content: true}), &all)
		t.Equal("entries", 3, len(all.Changes))
		check("one page", all)
		cursor := ""
		for i := 0; i < 3; i++ {
			var p protocol.ChangesResponse
			t.OK(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: cursor, Limit: 1, Content: true}), &p)
			t.Equal(fmt.Sprintf("page %d: entries", i+1), 1, len(p.Changes))
			check(fmt.Sprintf("page %d", i+1), p)
			cursor = p.Cursor
		}
		r := t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection})
		var plain protocol.ChangesResponse
		t.OK(r, &plain)
		t.Check(plain.Contents == nil && !bytes.Contains(r.Body, []byte("contents")), "no contents unless asked", "contents %v", plain.Contents)
	})

	serverCase(Case{
		ID: "server/changes/rewritten-item-listed-once", Level: MUST,
		Reqs: []string{"SP-6.1-2", "SP-2-6"},
		Desc: "an item is listed once, with its current version; an item changed after a page moves to a later page",
		Procedure: `
			Write a, b, c (versions 1-3). Read a page with limit 2 (a, b). Edit a (version 4).
			Read on from the page's cursor. Assert: the second page lists c (3) and a (4), in
			version order; a full read from "" lists b, c, a with versions 2, 3, 4 and no
			version 1.`,
	}, func(t *T) {
		ns := t.NewCollection()
		va := t.Put(UserA, ns, "a", 0, 0, "a1")
		t.Put(UserA, ns, "b", 0, 0, "b1")
		t.Put(UserA, ns, "c", 0, 0, "c1")
		p := t.Changes(UserA, ns.Collection, "", 2)
		t.Equal("IDs of the first page", []string{"a", "b"}, ids(p.Changes))
		t.Put(UserA, ns, "a", va, va, "a2")
		p2 := t.Changes(UserA, ns.Collection, p.Cursor, 0)
		t.Equal("IDs of the next page", []string{"c", "a"}, ids(p2.Changes))
		t.Equal("versions of the next page", []uint64{3, 4}, versionsOf(p2.Changes))
		all := t.Changes(UserA, ns.Collection, "", 0)
		t.Equal("IDs of a full read", []string{"b", "c", "a"}, ids(all.Changes))
		t.Equal("versions of a full read", []uint64{2, 3, 4}, versionsOf(all.Changes))
	})

	serverCase(Case{
		ID: "server/changes/cursor-form", Level: MUST,
		Reqs: []string{"SP-6.1-3"},
		Desc: "cursors are at most 256 bytes of printable ASCII",
		Procedure: `
			Collect the cursors of an empty page, of a page after writes and of an exchange.
			Assert: each is 1 to 256 bytes, every byte in 0x21-0x7E.`,
	}, func(t *T) {
		ns := t.NewCollection()
		c0 := t.Changes(UserA, ns.Collection, "", 0).Cursor
		t.Put(UserA, ns, "a", 0, 0, "x")
		c1 := t.Changes(UserA, ns.Collection, c0, 0).Cursor
		c2 := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Cursor: c1, Uploads: []protocol.Upload{Up("b", 0, 0, t.HLC(0), "y")}}).Cursor
		for _, c := range []string{c0, c1, c2} {
			ok := len(c) > 0 && len(c) <= 256
			for i := 0; i < len(c); i++ {
				ok = ok && c[i] >= 0x21 && c[i] <= 0x7e
			}
			t.Check(ok, "a cursor of 1 to 256 printable ASCII bytes", "%q", c)
		}
	})

	serverCase(Case{
		ID: "server/changes/invalid-cursor", Level: MUST,
		Reqs: []string{"SP-6.1-4", "SP-6.1-5", "SP-12-4", "SP-9-3"},
		Desc: "forged, altered, foreign-collection and foreign-user cursors are invalid_cursor",
		Procedure: `
			Write one item to fresh collections X and Y (and, as user B, to X under B's name).
			Take X's cursor after the write. POST /v1/changes with: "garbage"; X's cursor with
			one character changed (each of the last 4 positions, alternately); X's cursor for Y;
			X's cursor by user B for B's X; a cursor of 300 "a". Assert: invalid_cursor (400)
			every time; X's cursor itself still works.`,
	}, func(t *T) {
		t.Need(UserB)
		x, y := t.NewCollection(), t.NewCollection()
		t.Put(UserA, x, "a", 0, 0, "1")
		t.Put(UserA, y, "a", 0, 0, "1")
		t.Put(UserB, x, "a", 0, 0, "1")
		cur := t.Changes(UserA, x.Collection, "", 0).Cursor
		bad := []string{"garbage", strings.Repeat("a", 300)}
		for i := 1; i <= 4 && i <= len(cur); i++ {
			b := []byte(cur)
			if b[len(b)-i] == '0' {
				b[len(b)-i] = '1'
			} else {
				b[len(b)-i] = '0'
			}
			bad = append(bad, string(b))
		}
		for _, c := range bad {
			t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: x.Collection, Cursor: c}), protocol.CodeInvalidCursor)
		}
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: y.Collection, Cursor: cur}), protocol.CodeInvalidCursor)
		t.WantError(t.Post(UserB, protocol.PathChanges, protocol.ChangesRequest{Collection: x.Collection, Cursor: cur}), protocol.CodeInvalidCursor)
		t.Changes(UserA, x.Collection, cur, 0)
	})

	serverCase(Case{
		ID: "server/changes/validation-order", Level: MUST,
		Reqs: []string{"SP-6.1-1", "SP-2-1"},
		Desc: "change-info requests are validated collection, then limit, then cursor",
		Procedure: `
			POST /v1/changes with (an invalid collection, limit max_page+1, a garbage cursor):
			invalid_collection; (a valid collection, limit max_page+1, a garbage cursor):
			too_many_items; (valid, limit max_page, garbage cursor): invalid_cursor.`,
	}, func(t *T) {
		ns := t.NewCollection()
		mp := t.info.Limits.MaxPage
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: "Bad Name", Cursor: "garbage", Limit: mp + 1}), protocol.CodeInvalidCollection)
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: "garbage", Limit: mp + 1}), protocol.CodeTooManyItems)
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: "garbage", Limit: mp}), protocol.CodeInvalidCursor)
	})

	serverCase(Case{
		ID: "server/validate/collection-names", Level: MUST,
		Reqs: []string{"SP-2-1"},
		Desc: "collection names outside a-z 0-9 . _ - (1 to 64 bytes, first a letter or digit) are invalid_collection",
		Procedure: `
			POST /v1/changes and /v1/exchange naming "", "Notes", "-x", ".x", "a b", "a/b", "é",
			65 "a" and "a\x00". Assert: invalid_collection (400) each time. Then names that are
			valid ("0", 64 "a", "a.b_c-d") are accepted (200).`,
	}, func(t *T) {
		for _, c := range []string{"", "Notes", "-x", ".x", "_x", "a b", "a/b", "é", strings.Repeat("a", 65), "a\x00"} {
			t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: c}), protocol.CodeInvalidCollection)
			t.WantError(t.Post(UserA, protocol.PathExchange, protocol.ExchangeRequest{Collection: c, BatchID: NewBatchID()}), protocol.CodeInvalidCollection)
		}
		for _, c := range []string{"0" + RandomName(6), strings.Repeat("a", 52) + RandomName(12), "a.b_c-d" + RandomName(6)} {
			t.OK(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: c}), nil)
		}
	})
}

func ids(cs []protocol.ChangeInfo) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func versionsOf(cs []protocol.ChangeInfo) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.Version
	}
	return out
}

var refCursor = regexp.MustCompile(`^1\.([0-9a-f]{16})\.(0|[1-9][0-9]*)\.([0-9a-f]{16})$`)

func init() {
	serverCase(Case{
		ID: "server/changes/cursor-of-another-epoch", Level: MUST,
		Reqs:  []string{"SP-6.1-5", "SP-6.1-4", "SP-9-3"},
		Needs: []string{"the reference cursor format 1.<epoch>.<version>.<mac>"},
		Desc:  "a well-formed cursor of another epoch is cursor_expired, whatever its MAC; a malformed one invalid_cursor",
		Procedure: `
			Only for a server whose cursors have the reference format (else skipped): take a
			cursor of a fresh collection and replace its epoch by another 16 hex characters.
			POST /v1/changes and a watch (when announced) with it: cursor_expired (410). With
			the version field "01" (a leading zero): invalid_cursor (400).`,
	}, func(t *T) {
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "x")
		cur := t.Changes(UserA, ns.Collection, "", 0).Cursor
		m := refCursor.FindStringSubmatch(cur)
		if m == nil {
			t.Skip("the server's cursors do not have the reference format (%d bytes)", len(cur))
		}
		other := "0123456789abcdef"
		if m[1] == other {
			other = "fedcba9876543210"
		}
		expired := "1." + other + "." + m[2] + "." + m[3]
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: expired}), protocol.CodeCursorExpired)
		if t.HasFeature(protocol.FeatureWatch) {
			t.WantError(t.Post(UserA, protocol.PathWatch, protocol.WatchRequest{Cursors: map[string]string{ns.Collection: expired}, TimeoutMillis: 1}), protocol.CodeCursorExpired)
		}
		bad := "1." + m[1] + ".0" + m[2] + "." + m[3]
		t.WantError(t.Post(UserA, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: bad}), protocol.CodeInvalidCursor)
	})
}
