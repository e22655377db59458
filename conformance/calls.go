package conformance

import (
	"fmt"
	"net/http"

	"github.com/syncprint/syncprint/protocol"
)

// Typed calls of server-mode cases. Each requires success and fails the
// case when the server answers otherwise.

// GetInfo fetches Info as who (NoAuth: without a token).
func (t *T) GetInfo(who Who) protocol.Info {
	r := t.Do(Request{Method: http.MethodGet, Path: protocol.PathInfo, As: who})
	var info protocol.Info
	t.OK(r, &info)
	return info
}

// Exchange posts an exchange as who and returns the response.
func (t *T) Exchange(who Who, req protocol.ExchangeRequest) protocol.ExchangeResponse {
	if req.BatchID == "" {
		req.BatchID = NewBatchID()
	}
	r := t.Post(who, protocol.PathExchange, req)
	var resp protocol.ExchangeResponse
	t.OK(r, &resp)
	if len(resp.Results) != len(req.Uploads) {
		t.Failf(fmt.Sprintf("one result per upload (%d) [SP-6.3-6]", len(req.Uploads)), "%d results", len(resp.Results))
	}
	for i, res := range resp.Results {
		if res.ID != req.Uploads[i].ID {
			t.Failf(fmt.Sprintf("result %d for upload %q, in request order [SP-6.3-6]", i, req.Uploads[i].ID), "result for %q", res.ID)
		}
	}
	return resp
}

// Upload sends uploads to ns as who and returns the results.
func (t *T) Upload(who Who, ns Namespace, ups ...protocol.Upload) []protocol.UploadResult {
	return t.Exchange(who, protocol.ExchangeRequest{Collection: ns.Collection, Uploads: ups}).Results
}

// Put uploads one edit and requires it applied; it returns the version.
func (t *T) Put(who Who, ns Namespace, id string, base, seen uint64, content string) uint64 {
	res := t.Upload(who, ns, Up(id, base, seen, t.HLC(0), content))[0]
	t.WantStatus(res, protocol.StatusApplied)
	return res.Version
}

// WantStatus requires an upload result's status.
func (t *T) WantStatus(res protocol.UploadResult, want protocol.UploadStatus) {
	if res.Status != want {
		t.Failf(fmt.Sprintf("upload %q: status %s", res.ID, want), "status %s (version %d)", res.Status, res.Version)
	}
}

// Changes reads one page.
func (t *T) Changes(who Who, coll, cursor string, limit int) protocol.ChangesResponse {
	r := t.Post(who, protocol.PathChanges, protocol.ChangesRequest{Collection: coll, Cursor: cursor, Limit: limit})
	var resp protocol.ChangesResponse
	t.OK(r, &resp)
	return resp
}

// PullAll reads every page from cursor and returns the entries, the last
// cursor and the head of the last page.
func (t *T) PullAll(who Who, coll, cursor string) ([]protocol.ChangeInfo, string, uint64) {
	var all []protocol.ChangeInfo
	for i := 0; ; i++ {
		if i > 10_000 {
			t.Errorf("more than 10000 pages in %s", coll)
		}
		p := t.Changes(who, coll, cursor, 0)
		all = append(all, p.Changes...)
		cursor = p.Cursor
		if !p.More || len(p.Changes) == 0 {
			return all, cursor, p.Head
		}
	}
}

// Download fetches items by ID and returns the response.
func (t *T) Download(who Who, ns Namespace, ids ...string) protocol.ExchangeResponse {
	return t.Exchange(who, protocol.ExchangeRequest{Collection: ns.Collection, Downloads: ids})
}

// Current returns the server's current item id (ok false when missing).
func (t *T) Current(who Who, ns Namespace, id string) (protocol.Item, bool) {
	resp := t.Download(who, ns, id)
	for _, it := range resp.Items {
		if it.ID == id {
			return it, true
		}
	}
	for _, m := range resp.Missing {
		if m == id {
			return protocol.Item{}, false
		}
	}
	t.Failf(fmt.Sprintf("%q in items or missing [SP-6.3-7]", id), "items %d, missing %v, deferred %v", len(resp.Items), resp.Missing, resp.Deferred)
	return protocol.Item{}, false
}

// Head returns a collection's head (from an empty exchange).
func (t *T) Head(who Who, coll string) uint64 {
	return t.Exchange(who, protocol.ExchangeRequest{Collection: coll}).Head
}

// HLC returns an HLC offsetMs milliseconds after the server_time of the
// run's Info. Values at or below the server's clock are never clamped by
// the skew rule (SP-7-6), whatever the skew between the machines.
func (t *T) HLC(offsetMs int64) uint64 {
	ms := int64(t.info.ServerTime>>16) + offsetMs
	return uint64(ms) << 16
}

// Conflicts lists the open conflict records of coll as who.
func (t *T) Conflicts(who Who, coll string) []protocol.Conflict {
	r := t.Post(who, protocol.PathConflicts, protocol.ConflictsRequest{Collection: coll})
	var resp protocol.ConflictsResponse
	t.OK(r, &resp)
	return resp.Conflicts
}

// ConflictsOf returns the open records of one item.
func (t *T) ConflictsOf(who Who, ns Namespace, id string) []protocol.Conflict {
	var out []protocol.Conflict
	for _, c := range t.Conflicts(who, ns.Collection) {
		if c.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// Unchanged requires that an item's current state is still want (or still
// missing when want is nil): the check that a refused request changed
// nothing.
func (t *T) Unchanged(who Who, ns Namespace, id string, want *protocol.Item) {
	got, ok := t.Current(who, ns, id)
	switch {
	case want == nil && ok:
		t.Failf(fmt.Sprintf("%q still absent: a refused request changes nothing [SP-9-2]", id), "version %d exists", got.Version)
	case want != nil && !ok:
		t.Failf(fmt.Sprintf("%q still at version %d [SP-9-2]", id, want.Version), "it is missing")
	case want != nil && got.Version != want.Version:
		t.Failf(fmt.Sprintf("%q still at version %d: a refused request changes nothing [SP-9-2]", id, want.Version), "version %d", got.Version)
	}
}

// SameHead requires that a fresh collection's head is still want.
func (t *T) SameHead(ns Namespace, want uint64) {
	if !ns.Fresh {
		return
	}
	if h := t.Head(UserA, ns.Collection); h != want {
		t.Failf(fmt.Sprintf("head of %s still %d: a refused request changes nothing [SP-9-2]", ns.Collection, want), "head %d", h)
	}
}
