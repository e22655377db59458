package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncprint/syncprint/protocol"
)

// Conflict records and resolution (section 10).

// recordRules are the rules that make server conflict records, in order of
// preference, with the HLC offsets that make the client lose (manual) or
// win (the others) a concurrent edit.
var recordRules = []protocol.Rule{protocol.Manual, protocol.ClientWins, protocol.LatestWins}

// makeRecord creates an open conflict record of item id in a namespace
// whose rule makes records, and returns the namespace, the record and the
// item's current version. It skips when no such rule is announced or the
// server does not offer the conflicts feature.
func (t *T) makeRecord(name string) (Namespace, protocol.Conflict, uint64) {
	t.NeedFeature(protocol.FeatureConflicts)
	for _, r := range recordRules {
		ns, ok := t.tryWithRule(r)
		if !ok {
			continue
		}
		id := ns.ID(name)
		v1 := t.Put(UserA, ns, id, 0, 0, "base")
		srv := t.Upload(UserA, ns, Up(id, v1, v1, t.HLC(-20_000), "server side"))[0]
		t.WantStatus(srv, protocol.StatusApplied)
		res := t.Upload(UserA, ns, Up(id, v1, srv.Version, t.HLC(-10_000), "losing side"))[0]
		cur := res.Version
		recs := t.ConflictsOf(UserA, ns, id)
		if len(recs) != 1 {
			t.Failf(fmt.Sprintf("one open record of %q after a %s conflict", id, r), "%d records (upload status %s)", len(recs), res.Status)
		}
		return ns, recs[0], cur
	}
	t.Skip("no announced rule makes conflict records (manual, client-wins or latest-wins)")
	return Namespace{}, protocol.Conflict{}, 0
}

func (t *T) resolve(who Who, req protocol.ResolveRequest) *Response {
	return t.Post(who, protocol.PathResolve, req)
}

// collectionsSeq returns who's conflicts_seq from POST /v1/collections.
func (t *T) collectionsSeq(who Who) uint64 {
	var resp protocol.CollectionsResponse
	t.OK(t.Post(who, protocol.PathCollections, protocol.CollectionsRequest{}), &resp)
	return resp.ConflictsSeq
}

// seqNamespace returns a namespace whose rule makes conflict records, for
// the cases of SP-10-8; it skips when there is none, or when the server
// keeps no conflicts_seq (0 in the collections listing and in an
// exchange).
func (t *T) seqNamespace() Namespace {
	t.NeedFeature(protocol.FeatureConflicts)
	for _, r := range recordRules {
		if ns, ok := t.tryWithRule(r); ok {
			if t.collectionsSeq(UserA) == 0 && t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection}).ConflictsSeq == 0 {
				t.Skip("the server keeps no conflicts sequence number (SP-10-8 makes it a SHOULD): 0 in every response")
			}
			return ns
		}
	}
	t.Skip("no announced rule makes conflict records (manual, client-wins or latest-wins)")
	return Namespace{}
}

// recordByExchange makes a record of item name in ns, as makeRecord does,
// and returns the response of the exchange that stored it.
func (t *T) recordByExchange(who Who, ns Namespace, name string) protocol.ExchangeResponse {
	id := ns.ID(name)
	v1 := t.Put(who, ns, id, 0, 0, "base")
	srv := t.Upload(who, ns, Up(id, v1, v1, t.HLC(-20_000), "server side"))[0]
	t.WantStatus(srv, protocol.StatusApplied)
	return t.Exchange(who, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{Up(id, v1, srv.Version, t.HLC(-10_000), "losing side")}})
}

func init() {
	serverCase(Case{
		ID: "server/conflicts/record-fields", Level: MUST,
		Reqs:  []string{"SP-10-1", "SP-10-2", "SP-7-8", "SP-7-9"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a conflict record carries its ID, collection, item, reason, versions, fp, HLC, replica, content and creation time",
		Procedure: `
			Create a record by a concurrent edit under manual (else client-wins, else
			latest-wins). List the collection's records. Assert: conflict_id is 1 to 64 of
			A-Z a-z 0-9 - _; collection and id name the item; reason manual or overwritten; fp is
			the fingerprint of its id, deletion mark and content; replica is Info.replica;
			created_ms within a day of the server's time; a second record of another item is
			listed after the first (oldest first); listing with collection "" includes both.`,
	}, func(t *T) {
		ns, rec, _ := t.makeRecord("rf1")
		t.Check(regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`).MatchString(rec.ConflictID), "a conflict_id of SP-10-1", "%q", rec.ConflictID)
		t.Equal("collection", ns.Collection, rec.Collection)
		t.Check(rec.Reason == protocol.ReasonManual || rec.Reason == protocol.ReasonOverwritten, "reason manual or overwritten", "%q", rec.Reason)
		t.Check(bytes.Equal(rec.FP, FP(rec.ID, rec.Deleted, rec.Content)), "fp the fingerprint of the record's content", "fp %x for %q", rec.FP, rec.Content)
		t.Equal("replica", t.info.Replica, rec.Replica)
		now := t.info.ServerTime >> 16
		t.Check(rec.CreatedMillis+86_400_000 > now && rec.CreatedMillis < now+86_400_000, "created_ms about the server's time", "%d (server %d)", rec.CreatedMillis, now)
		_, rec2, _ := t.makeRecord("rf2")
		var order []string
		for _, c := range t.Conflicts(UserA, "") {
			if c.ConflictID == rec.ConflictID || c.ConflictID == rec2.ConflictID {
				order = append(order, c.ConflictID)
			}
		}
		t.Equal("records listed across collections, oldest first", []string{rec.ConflictID, rec2.ConflictID}, order)
	})

	serverCase(Case{
		ID: "server/conflicts/list-validation", Level: MUST,
		Reqs:  []string{"SP-10-2", "SP-2-1"},
		Needs: []string{"feature:conflicts"},
		Desc:  "listing conflicts validates the collection and lists nothing for an empty one",
		Procedure: `
			POST /v1/conflicts {collection: "Bad!"}: invalid_collection. {collection: fresh}:
			200 with no records.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureConflicts)
		t.WantError(t.Post(UserA, protocol.PathConflicts, protocol.ConflictsRequest{Collection: "Bad!"}), protocol.CodeInvalidCollection)
		t.Equal("records of a fresh collection", 0, len(t.Conflicts(UserA, t.NewCollection().Collection)))
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-close", Level: MUST,
		Reqs:  []string{"SP-10-3", "SP-10-4"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a resolution that only closes records deletes them and writes nothing",
		Procedure: `
			Create a record R. Resolve {close: [R]}. Assert: closed [R], result nil; R is no
			longer listed; the item is still at its version. Resolve again with close [R]:
			not_found with ids [R].`,
	}, func(t *T) {
		ns, rec, cur := t.makeRecord("rc")
		var resp protocol.ResolveResponse
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}}), &resp)
		t.Equal("closed", []string{rec.ConflictID}, resp.Closed)
		t.Check(resp.Result == nil, "result nil without put", "%s", brief(resp.Result))
		t.Equal("open records of the item", 0, len(t.ConflictsOf(UserA, ns, rec.ID)))
		t.Unchanged(UserA, ns, rec.ID, &protocol.Item{Version: cur})
		t.WantErrorIDs(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}}), protocol.CodeNotFound, rec.ConflictID)
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-put", Level: MUST,
		Reqs:  []string{"SP-10-4", "SP-2-6", "SP-7-6", "SP-6.3-10"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a resolution with a put closes the records and writes the put as a new version, whatever the rule",
		Procedure: `
			Create a record R of item I at version v. Resolve {close: [R], put: a merge with
			seen = v and put.id ""}. Assert: closed [R]; result applied with version > v and the
			put's HLC; I's current version is the merge, written by the caller; no new record.
			Then a put equal to the current state: unchanged with the current version.`,
	}, func(t *T) {
		ns, rec, cur := t.makeRecord("rp")
		put := Up("", 0, cur, t.HLC(-1000), "merged")
		put.FP = FP(rec.ID, false, []byte("merged"))
		var resp protocol.ResolveResponse
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &put}), &resp)
		t.Equal("closed", []string{rec.ConflictID}, resp.Closed)
		t.Check(resp.Result != nil && resp.Result.Status == protocol.StatusApplied && resp.Result.Version > cur && resp.Result.HLC == put.HLC,
			fmt.Sprintf("result applied, version > %d, hlc = the put's", cur), "%s", brief(resp.Result))
		it, _ := t.Current(UserA, ns, rec.ID)
		t.Check(it.Version == resp.Result.Version && string(it.Content) == "merged" && it.Replica == t.info.Replica, "the merge is current", "%s", brief(it))
		t.Equal("open records of the item", 0, len(t.ConflictsOf(UserA, ns, rec.ID)))
		same := Up(rec.ID, 0, it.Version, t.HLC(0), "merged")
		resp = protocol.ResolveResponse{}
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Put: &same}), &resp)
		t.Check(resp.Result != nil && resp.Result.Status == protocol.StatusUnchanged && resp.Result.Version == it.Version,
			"result unchanged with the current version", "%s", brief(resp.Result))
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-batch-replay", Level: MUST,
		Reqs:  []string{"SP-10-10", "SP-6.4-2", "SP-6.4-1"},
		Needs: []string{"feature:conflicts", "feature:resolve-batch", "rule:manual|client-wins|latest-wins"},
		Desc:  "a resolution with a batch_id sent again gets its first answer and changes nothing; the batch ID with another body is batch_id_reused",
		Procedure: `
			Skip unless Info lists resolve-batch. Create a record R of item I at version v.
			Resolve {close: [R], put: a merge with seen = v, batch_id: B}: 200. Send the same
			bytes again: 200 with the first answer byte for byte; I is still at the version of
			the first result, with the merge. Send batch_id B with another body (the put's
			content changed): batch_id_reused. A batch_id that is not 16 to 64 of A-Z a-z 0-9 -
			_: malformed_request.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureResolveBatch)
		ns, rec, cur := t.makeRecord("rb")
		put := Up(rec.ID, 0, cur, t.HLC(-1000), "merged once")
		req := protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &put, BatchID: NewBatchID()}
		first := t.resolve(UserA, req)
		var resp protocol.ResolveResponse
		t.OK(first, &resp)
		t.Check(resp.Result != nil && resp.Result.Status == protocol.StatusApplied, "the first resolution applied", "%s", brief(resp.Result))
		again := t.resolve(UserA, req)
		t.Equal("status of the same resolution sent again", 200, again.Status)
		t.Check(bytes.Equal(again.Body, first.Body), "the first answer, byte for byte", "first %x, again %x", first.Body, again.Body)
		if resp.Result != nil {
			it, _ := t.Current(UserA, ns, rec.ID)
			t.Check(it.Version == resp.Result.Version && string(it.Content) == "merged once", "the item still at the first result's version", "%s", brief(it))
		}
		other := put
		other.Content = []byte("merged twice")
		other.FP = FP(rec.ID, false, other.Content)
		changed := req
		changed.Put = &other
		t.WantError(t.resolve(UserA, changed), protocol.CodeBatchReused)
		bad := req
		bad.BatchID = "not a batch id!"
		t.WantError(t.resolve(UserA, bad), protocol.CodeMalformed)
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-stale-base", Level: MUST,
		Reqs:  []string{"SP-10-3", "SP-9-2"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a resolution whose put.seen is not the current version is stale_base and closes nothing",
		Procedure: `
			Create a record R of item I at version v. Resolve {close: [R], put with seen = v-1}.
			Assert: stale_base (409); R still open; I still at v. A put of a new item with seen 0
			and no close is applied (seen 0 = the server holds none).`,
	}, func(t *T) {
		ns, rec, cur := t.makeRecord("rs")
		put := Up(rec.ID, 0, cur-1, t.HLC(0), "late")
		t.WantError(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &put}), protocol.CodeStaleBase)
		t.Equal("open records of the item", 1, len(t.ConflictsOf(UserA, ns, rec.ID)))
		t.Unchanged(UserA, ns, rec.ID, &protocol.Item{Version: cur})
		fresh := ns.ID("rs-new")
		np := Up(fresh, 0, 0, t.HLC(0), "new")
		var resp protocol.ResolveResponse
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: fresh, Put: &np}), &resp)
		t.Check(resp.Result != nil && resp.Result.Status == protocol.StatusApplied, "a put of a new item applied", "%s", brief(resp.Result))
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-validation", Level: MUST,
		Reqs:  []string{"SP-10-3", "SP-9-7", "SP-4.2-5", "SP-4.2-3"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "resolutions are validated in the order of SP-10-3 and a failure closes and writes nothing",
		Procedure: `
			With an open record R of item I: bad collection: invalid_collection; id "a\x01":
			invalid_id; close of max_ids+1 IDs: too_many_items; close [R, R]: duplicate_id;
			put.id "other": malformed_request; put with a 31-byte fp: malformed_request; a
			tombstone put with content: malformed_request; content over max_item_bytes:
			item_too_large; a wrong fp: fingerprint_mismatch; close [R, unknown]: not_found
			with ids [unknown]; close R under another item's ID: not_found. Neither close nor put:
			200, nothing closed. After all of them R is open and I unchanged.`,
	}, func(t *T) {
		ns, rec, cur := t.makeRecord("rv")
		good := func() *protocol.Upload { u := Up(rec.ID, 0, cur, t.HLC(0), "fix"); return &u }
		withFP := func(fp []byte) *protocol.Upload { u := good(); u.FP = fp; return u }
		otherID := good()
		otherID.ID = ns.ID("other")
		otherID.FP = FP(otherID.ID, false, otherID.Content)
		tomb := Del(rec.ID, 0, cur, t.HLC(0))
		tomb.Content = []byte("x")
		big := Up(rec.ID, 0, cur, t.HLC(0), strings.Repeat("z", t.info.Limits.MaxItemBytes+1))
		many := make([]string, t.info.Limits.MaxIDs+1)
		for i := range many {
			many[i] = fmt.Sprintf("c%d", i)
		}
		unknown := "cf" + RandomName(20)
		for _, c := range []struct {
			name string
			req  protocol.ResolveRequest
			code protocol.Code
		}{
			{"bad collection", protocol.ResolveRequest{Collection: "Bad!", ID: rec.ID, Close: []string{rec.ConflictID}}, protocol.CodeInvalidCollection},
			{"bad id", protocol.ResolveRequest{Collection: ns.Collection, ID: "a\x01", Close: []string{rec.ConflictID}}, protocol.CodeInvalidID},
			{"too many", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: many}, protocol.CodeTooManyItems},
			{"duplicate", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID, rec.ConflictID}}, protocol.CodeDuplicateID},
			{"put.id differs", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: otherID}, protocol.CodeMalformed},
			{"short fp", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: withFP(make([]byte, 31))}, protocol.CodeMalformed},
			{"tombstone with content", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &tomb}, protocol.CodeMalformed},
			{"too large", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &big}, protocol.CodeItemTooLarge},
			{"wrong fp", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: withFP(FP(rec.ID, false, []byte("nope")))}, protocol.CodeFingerprintMismatch},
			{"unknown record", protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID, unknown}, Put: good()}, protocol.CodeNotFound},
			{"record of another item", protocol.ResolveRequest{Collection: ns.Collection, ID: ns.ID("not-the-item"), Close: []string{rec.ConflictID}}, protocol.CodeNotFound},
		} {
			t.Logf("resolve: %s", c.name)
			e := t.WantError(t.resolve(UserA, c.req), c.code)
			if c.name == "unknown record" {
				t.Equal("ids of not_found", []string{unknown}, e.IDs)
			}
		}
		var resp protocol.ResolveResponse
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID}), &resp)
		t.Check(len(resp.Closed) == 0 && resp.Result == nil, "a resolution without close and put does nothing", "%s", brief(resp))
		t.Equal("open records of the item", 1, len(t.ConflictsOf(UserA, ns, rec.ID)))
		t.Unchanged(UserA, ns, rec.ID, &protocol.Item{Version: cur})
	})

	serverCase(Case{
		ID: "server/conflicts/records-per-user", Level: MUST,
		Reqs:  []string{"SP-10-2", "SP-2-5", "SP-10-3"},
		Needs: []string{"feature:conflicts", "token-b", "rule:manual|client-wins|latest-wins"},
		Desc:  "another user cannot list or close a user's records: they answer like missing ones; any device of the user can",
		Procedure: `
			User A creates record R. User B lists the collection (R absent) and every collection
			(R absent); B resolves {close: [R]}: not_found with ids [R], exactly as for a random
			record ID. With --token-c, device C of user A lists R and closes it.`,
	}, func(t *T) {
		t.Need(UserB)
		ns, rec, _ := t.makeRecord("pu")
		for _, coll := range []string{ns.Collection, ""} {
			for _, c := range t.Conflicts(UserB, coll) {
				t.Check(c.ConflictID != rec.ConflictID, "A's record not listed for B", "listed")
			}
		}
		fake := rec.ConflictID[:len(rec.ConflictID)-1] + map[bool]string{true: "A", false: "B"}[strings.HasSuffix(rec.ConflictID, "B")]
		eB := t.WantError(t.resolve(UserB, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}}), protocol.CodeNotFound)
		t.Equal("ids of B's not_found", []string{rec.ConflictID}, eB.IDs)
		eF := t.WantError(t.resolve(UserB, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{fake}}), protocol.CodeNotFound)
		t.Equal("ids of not_found for a random record", []string{fake}, eF.IDs)
		t.Equal("open records of A's item", 1, len(t.ConflictsOf(UserA, ns, rec.ID)))
		if t.target.TokenC != "" {
			found := false
			for _, c := range t.Conflicts(UserC, ns.Collection) {
				found = found || c.ConflictID == rec.ConflictID
			}
			t.Check(found, "device C of the same user lists A's record", "not listed")
			t.OK(t.resolve(UserC, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}}), nil)
		}
	})

	serverCase(Case{
		ID: "server/conflicts/seq-moves-with-records", Level: MUST,
		Reqs:  []string{"SP-10-8"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a server that keeps a conflicts_seq increases it when a record of the user is stored or closed, and never sends 0",
		Procedure: `
			Read conflicts_seq S from POST /v1/collections; when it is 0 and so is that of an
			empty exchange, the server keeps none (SP-10-8 makes it a SHOULD): SKIP. Assert S
			!= 0. Make a record by a concurrent edit (manual, else client-wins, else
			latest-wins): the response of the exchange that stored it says S1 > S, and the
			collections listing then says S1 too. Resolve {close: [the record]}: the
			collections listing says S2 > S1.`,
	}, func(t *T) {
		ns := t.seqNamespace()
		s := t.collectionsSeq(UserA)
		t.Check(s != 0, "conflicts_seq of the collections listing never 0 when the server keeps one", "0, while an exchange's is not")
		made := t.recordByExchange(UserA, ns, "sm")
		t.Check(made.ConflictsSeq > s, fmt.Sprintf("conflicts_seq of the exchange that stored a record above %d", s), "%d (status %s)", made.ConflictsSeq, made.Results[0].Status)
		s1 := t.collectionsSeq(UserA)
		t.Equal("conflicts_seq of the collections listing after the record: that of the exchange that stored it", made.ConflictsSeq, s1)
		recs := t.ConflictsOf(UserA, ns, ns.ID("sm"))
		if len(recs) != 1 {
			t.Failf("one open record of the concurrent edit", "%d records", len(recs))
		}
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: recs[0].ID, Close: []string{recs[0].ConflictID}}), nil)
		s2 := t.collectionsSeq(UserA)
		t.Check(s2 > s1, fmt.Sprintf("conflicts_seq after closing a record above %d", s1), "%d", s2)
	})

	serverCase(Case{
		ID: "server/conflicts/seq-starts-at-one", Level: MUST,
		Reqs:  []string{"SP-10-8"},
		Needs: []string{"--admin-token", "feature:admin-tokens", "feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a server that keeps a conflicts_seq answers 1 for a user who never had a record, and never 1 once one was stored",
		Procedure: `
			With the admin token, issue a token of a fresh user. POST /v1/collections with it
			(SKIP when conflicts_seq is 0: the server keeps none): conflicts_seq 1; with
			info-collections, Info with it says 1 too. Create a record of the first user's:
			the first user's conflicts_seq is then not 1.`,
	}, func(t *T) {
		t.Need(Admin)
		t.NeedFeature(protocol.FeatureAdmin)
		t.NeedFeature(protocol.FeatureConflicts)
		tok := "Bearer " + t.issueToken("cs-"+RandomName(10), "d1").Token
		var cr protocol.CollectionsResponse
		t.OK(t.Do(Request{Path: protocol.PathCollections, Auth: tok, Body: []byte{0x80}}), &cr)
		if cr.ConflictsSeq == 0 {
			t.Skip("the server keeps no conflicts sequence number (SP-10-8 makes it a SHOULD): 0 in the collections listing")
		}
		t.Equal("conflicts_seq of a user who never had a record", uint64(protocol.FirstConflictsSeq), cr.ConflictsSeq)
		if slices.Contains(t.info.Features, protocol.FeatureInfoCollections) {
			var info protocol.Info
			t.OK(t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, Auth: tok}), &info)
			t.Equal("Info.conflicts_seq of a user who never had a record", uint64(protocol.FirstConflictsSeq), info.ConflictsSeq)
		}
		t.makeRecord("cs")
		t.Check(t.collectionsSeq(UserA) != protocol.FirstConflictsSeq, "conflicts_seq not 1 once a record was stored", "1")
	})

	serverCase(Case{
		ID: "server/conflicts/seq-still-otherwise", Level: MUST,
		Reqs:  []string{"SP-10-8"},
		Needs: []string{"feature:conflicts", "rule:manual|client-wins|latest-wins"},
		Desc:  "a server that keeps a conflicts_seq does not change it for what stores or closes no record of the user",
		Procedure: `
			Read conflicts_seq S from POST /v1/collections (SKIP as in seq-moves-with-records
			when the server keeps none). Assert that every one of these answers S, or leaves
			the collections listing at S: an exchange applying an upload of a new item (its
			response), a download-only exchange (its response), the same upload resent
			(unchanged), a stale upload, a listing of the records, a resolution answered
			not_found, a resolution that closes nothing and writes a put, and, with --token-b,
			a record stored for another user.`,
	}, func(t *T) {
		ns := t.seqNamespace()
		s := t.collectionsSeq(UserA)
		id := ns.ID("ss")
		up := Up(id, 0, 0, t.HLC(0), "new")
		x := t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{up}})
		t.WantStatus(x.Results[0], protocol.StatusApplied)
		v := x.Results[0].Version
		t.Equal("conflicts_seq of an exchange that applied an upload without a record", s, x.ConflictsSeq)
		t.Equal("conflicts_seq of a download-only exchange", s, t.Download(UserA, ns, id).ConflictsSeq)
		same := Up(id, v, v, t.HLC(0), "new")
		t.Equal("conflicts_seq of an unchanged upload", s, t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{same}}).ConflictsSeq)
		t.Equal("conflicts_seq of a stale upload", s, t.Exchange(UserA, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: []protocol.Upload{up}}).ConflictsSeq)
		t.Conflicts(UserA, "")
		t.WantError(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: id, Close: []string{"cf" + RandomName(20)}}), protocol.CodeNotFound)
		put := Up(id, v, v, t.HLC(0), "put")
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: id, Put: &put}), nil)
		if t.target.TokenB != "" {
			nsB, _ := t.tryWithRule(ns.Rule)
			b := t.recordByExchange(UserB, nsB, "ss-b")
			t.Check(len(t.ConflictsOf(UserB, nsB, nsB.ID("ss-b"))) == 1, "user B's concurrent edit stored a record", "%s", brief(b.Results[0]))
		}
		t.Equal("conflicts_seq after requests that stored or closed no record of the user", s, t.collectionsSeq(UserA))
	})

	serverCase(Case{
		ID: "server/conflicts/resolve-wakes-watch", Level: MUST,
		Reqs:  []string{"SP-10-4", "SP-8-3"},
		Needs: []string{"feature:conflicts", "feature:watch", "rule:manual|client-wins|latest-wins"},
		Desc:  "a resolution that writes wakes the user's watches",
		Procedure: `
			Create record R of item I at version v. Watch every collection at its head (timeout
			20 s); after 500 ms resolve with a put (seen v). Assert: the watch answers within 5 s
			of the resolution, listing the collection.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		ns, rec, cur := t.makeRecord("ww")
		ch := t.startWatch(UserA, t.headCursors(UserA), 20_000)
		select {
		case w := <-ch:
			t.Failf("the watch to wait", "it answered after %v: %s", w.end.Sub(w.start), renderMsgpack(bodyOf(w)))
		case <-time.After(500 * time.Millisecond):
		}
		put := Up(rec.ID, 0, cur, t.HLC(0), "resolved")
		at := time.Now()
		t.OK(t.resolve(UserA, protocol.ResolveRequest{Collection: ns.Collection, ID: rec.ID, Close: []string{rec.ConflictID}, Put: &put}), nil)
		changed, w := t.watchChanged(ch)
		t.Check(contains(changed, ns.Collection) && w.end.Sub(at) < 5*time.Second, fmt.Sprintf("%s in changed within 5 s", ns.Collection), "changed %v after %v", changed, w.end.Sub(at))
	})
}
