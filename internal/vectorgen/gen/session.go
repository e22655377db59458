package gen

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/internal/reconcile"
	"github.com/syncprint/syncprint/protocol"
)

// SessionFile is the layout of session.json: the worked example of
// spec/PROTOCOL.md's appendix. Before and After say it in prose;
// ClientBefore, ServerBefore, ClientAfter and ServerAfter as data, so that
// a replay test needs no transcription.
type SessionFile struct {
	Comment      string                       `json:"comment"`
	Before       []string                     `json:"before"`
	ClientBefore SessionClient                `json:"client_before"`
	ServerBefore map[string]SessionServerColl `json:"server_before"`
	Requests     []SessionStep                `json:"requests"`
	Plan         []SessionPlan                `json:"plan"`
	After        []string                     `json:"after"`
	ClientAfter  SessionClient                `json:"client_after"`
	ServerAfter  map[string]SessionServerColl `json:"server_after"`
	Extra        map[string]any               `json:"extra,omitempty"`
}

// SessionClient is a client's state: its replica ID, its copy of the
// user's server conflict records and, per collection, its stored cursor,
// its items and its local conflict log.
type SessionClient struct {
	Replica         string                       `json:"replica"`
	ServerConflicts SessionConflictCopy          `json:"server_conflicts"`
	Collections     map[string]SessionClientColl `json:"collections"`
}

// SessionConflictCopy is a client's copy of the user's open server
// conflict records (SP-10-9): the records, and the conflicts_seq and epoch
// it had received before it listed them.
type SessionConflictCopy struct {
	ListedAtSeq uint64   `json:"listed_at_seq"`
	Epoch       string   `json:"epoch"`
	Records     []string `json:"records"`
}

// SessionClientColl is a client's state of one collection.
type SessionClientColl struct {
	Cursor         string                 `json:"cursor"`
	Items          []SessionClientItem    `json:"items"`
	LocalConflicts []SessionLocalConflict `json:"local_conflicts"`
}

// SessionClientItem is a client's item (SP-6.2-1, without the edit
// counter): its local version, base, seen and pending.
type SessionClientItem struct {
	ID         string `json:"id"`
	ContentHex string `json:"content_hex"`
	Deleted    bool   `json:"deleted"`
	FPHex      string `json:"fp_hex"`
	HLC        uint64 `json:"hlc"`
	Base       uint64 `json:"base"`
	Seen       uint64 `json:"seen"`
	Pending    bool   `json:"pending"`
}

// SessionLocalConflict is an entry of a client's local conflict log
// (SP-7-10): the losing local version and the server version that won.
type SessionLocalConflict struct {
	ID            string `json:"id"`
	ContentHex    string `json:"content_hex"`
	Deleted       bool   `json:"deleted"`
	FPHex         string `json:"fp_hex"`
	HLC           uint64 `json:"hlc"`
	Base          uint64 `json:"base"`
	ServerVersion uint64 `json:"server_version"`
}

// SessionServerColl is the server's state of one collection of the user:
// its head and each item's current version.
type SessionServerColl struct {
	Head  uint64              `json:"head"`
	Items []SessionServerItem `json:"items"`
}

// SessionServerItem is an item's current version on the server.
type SessionServerItem struct {
	ID         string `json:"id"`
	Version    uint64 `json:"version"`
	ContentHex string `json:"content_hex"`
	Deleted    bool   `json:"deleted"`
	FPHex      string `json:"fp_hex"`
	HLC        uint64 `json:"hlc"`
	Replica    string `json:"replica"`
}

// SessionStep is one HTTP round trip.
type SessionStep struct {
	Name          string          `json:"name"`
	Method        string          `json:"method"`
	Path          string          `json:"path"`
	Headers       []string        `json:"headers"`
	RequestHex    string          `json:"request_hex"`
	Request       json.RawMessage `json:"request"`
	Status        int             `json:"status"`
	ResponseHex   string          `json:"response_hex"`
	Response      json.RawMessage `json:"response"`
	ResponseBytes int             `json:"response_bytes"`
}

// SessionPlan is the client's plan for one item.
type SessionPlan struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Seen   uint64 `json:"seen"`
}

func genSession(files map[string][]byte) error {
	h := func(d uint64) uint64 { return uint64(hlcAt(d, 0)) }
	txt := func(s string) []byte { return []byte(s) }
	// The client's items before the session, from which the plan is made.
	type localItem struct {
		id, content      string
		hlc              uint64
		base, seen       uint64
		pending, deleted bool
	}
	before := []localItem{
		{id: "note-a", content: "Buy oat milk\n", hlc: h(3000), base: 1, seen: 1, pending: true},
		{id: "note-b", content: "Dentist Tuesday\n", hlc: h(3100), pending: true},
		{id: "note-c", content: "Call Bob\n", hlc: h(500), base: 2, seen: 2},
	}
	clientItem := func(l localItem) SessionClientItem {
		return SessionClientItem{ID: l.id, ContentHex: hex.EncodeToString(txt(l.content)), Deleted: l.deleted, FPHex: hex.EncodeToString(fpOf(l.id, l.deleted, txt(l.content))),
			HLC: l.hlc, Base: l.base, Seen: l.seen, Pending: l.pending}
	}
	serverItem := func(it protocol.Item) SessionServerItem {
		return SessionServerItem{ID: it.ID, Version: it.Version, ContentHex: hex.EncodeToString(it.Content), Deleted: it.Deleted, FPHex: hex.EncodeToString(it.FP), HLC: it.HLC, Replica: it.Replica}
	}
	f := SessionFile{
		Comment: "A complete sync session of alice/phone for collection notes (rule server-wins), spec/PROTOCOL.md appendix B. client_before, server_before, client_after and server_after give the states of before and after as data (content and fingerprints in hex, HLCs as integers). Generated by internal/vectorgen; do not edit.",
		Before: []string{
			"server notes: note-a v3 \"Buy milk and eggs\\n\" by alice/laptop (HLC +1 s); note-c v4 tombstone by alice/laptop (+2 s); head 4 (v1 and v2 were the earlier versions of note-a and note-c)",
			"phone: cursor = cursor of version 2; note-a base 1 seen 1 pending, edited to \"Buy oat milk\\n\" (+3 s); note-b created, base 0 seen 0 pending \"Dentist Tuesday\\n\" (+3.1 s); note-c base 2 seen 2 not pending \"Call Bob\\n\" (+0.5 s); its copy of the server conflict records is empty, listed when conflicts_seq was 1 under this epoch",
		},
		After: []string{
			"phone, one local transaction: fingerprints of note-a and note-c verified; \"Buy oat milk\\n\" moved to the local conflict log; note-a = server v3 (base 3, seen 3); note-c deleted (tombstone, base 4, seen 4); note-b base 5 seen 5, pending cleared; cursor = the exchange's cursor (version 5)",
			"server: note-b v5 by alice/phone; head 5",
			"no conflicts listing: the session's greatest conflicts_seq is 1, the number the phone's copy was listed at, under the same epoch (SP-10-9)",
		},
	}
	noRecords := SessionConflictCopy{ListedAtSeq: 1, Epoch: epoch, Records: []string{}}
	f.ClientBefore = SessionClient{Replica: phone, ServerConflicts: noRecords, Collections: map[string]SessionClientColl{coll: {Cursor: cursorAt(coll, 2), LocalConflicts: []SessionLocalConflict{}}}}
	for _, l := range before {
		cc := f.ClientBefore.Collections[coll]
		cc.Items = append(cc.Items, clientItem(l))
		f.ClientBefore.Collections[coll] = cc
	}
	token := exampleToken()
	hdrs := []string{"Authorization: Bearer " + token, "Syncprint-Version: 1", "Content-Type: application/msgpack"}
	step := func(name, method, path string, headers []string, req any, status int, resp any) error {
		s := SessionStep{Name: name, Method: method, Path: path, Headers: headers, Status: status}
		if req != nil {
			b, err := protocol.Marshal(Canonical(req))
			if err != nil {
				return err
			}
			s.RequestHex = hex.EncodeToString(b)
			if s.Request, err = Render(b); err != nil {
				return err
			}
		}
		b, err := protocol.Marshal(Canonical(resp))
		if err != nil {
			return err
		}
		s.ResponseHex = hex.EncodeToString(b)
		s.ResponseBytes = len(b)
		if s.Response, err = Render(b); err != nil {
			return err
		}
		f.Requests = append(f.Requests, s)
		return nil
	}

	// 1. Handshake.
	info := exampleInfo(true)
	info.Rules = map[string]protocol.Rule{"journal": protocol.LatestWins}
	info.ServerTime = h(4000)
	if err := step("handshake", "GET", protocol.PathInfo, []string{"Authorization: Bearer " + token}, nil, 200, info); err != nil {
		return err
	}
	rule := info.RuleFor(coll)

	// 2. List the user's collections.
	// alice has no conflict records and never had: the reference server's
	// conflicts sequence number starts at 1 [SP-10-8].
	colls := protocol.CollectionsResponse{Collections: []protocol.Collection{{Name: coll, Rule: rule, Head: 4}}, ConflictsSeq: 1}
	if err := step("list collections", "POST", protocol.PathCollections, hdrs, protocol.CollectionsRequest{}, 200, colls); err != nil {
		return err
	}

	// 3. Pull change info.
	remoteA := protocol.ChangeInfo{ID: "note-a", Version: 3, FP: fpOf("note-a", false, txt("Buy milk and eggs\n")), HLC: h(1000), Replica: laptop, Size: 18}
	remoteC := protocol.ChangeInfo{ID: "note-c", Version: 4, FP: fpOf("note-c", true, nil), HLC: h(2000), Deleted: true, Replica: laptop}
	changes := protocol.ChangesResponse{Changes: []protocol.ChangeInfo{remoteA, remoteC}, Cursor: cursorAt(coll, 4), Head: 4}
	if err := step("pull change info", "POST", protocol.PathChanges, hdrs, protocol.ChangesRequest{Collection: coll, Cursor: cursorAt(coll, 2)}, 200, changes); err != nil {
		return err
	}

	// 4. Plan every item with the reference planner.
	local := map[string]*reconcile.Local{}
	for _, l := range before {
		local[l.id] = &reconcile.Local{Side: reconcile.Side{Fingerprint: fingerprintOf(l.id, l.deleted, txt(l.content)), Deleted: l.deleted, HLC: changelog.HLC(l.hlc)},
			Base: changelog.Seq(l.base), Seen: changelog.Seq(l.seen), Pending: l.pending}
	}
	remote := map[string]*changelog.Entry{}
	for _, c := range changes.Changes {
		e, err := changelog.FromWire(c)
		if err != nil {
			return err
		}
		remote[c.ID] = &e
	}
	var uploads []protocol.Upload
	var downloads []string
	for _, id := range []string{"note-a", "note-b", "note-c"} {
		st := reconcile.PlanItem(rule, phone, id, local[id], remote[id])
		f.Plan = append(f.Plan, SessionPlan{ID: id, Action: st.Action.String(), Seen: uint64(st.Seen)})
		switch st.Action {
		case reconcile.Upload, reconcile.UploadConflict:
			l := local[id]
			uploads = append(uploads, protocol.Upload{ID: id, Base: uint64(l.Base), Seen: uint64(st.Seen), FP: l.Fingerprint.Bytes(), HLC: uint64(l.HLC), Content: txt("Dentist Tuesday\n")})
		case reconcile.Download, reconcile.DownloadKeepLocal:
			downloads = append(downloads, id)
		}
	}
	if len(uploads) != 1 || uploads[0].ID != "note-b" || len(downloads) != 2 {
		return fmt.Errorf("bug: session plan changed: %+v", f.Plan)
	}

	// 5. Exchange; the server arbitrates the upload with the reference arbiter.
	v := reconcile.Arbitrate(rule, reconcile.Incoming{Side: reconcile.Side{Fingerprint: local["note-b"].Fingerprint, HLC: local["note-b"].HLC, Replica: phone}}, nil)
	if v != reconcile.Apply {
		return fmt.Errorf("bug: session upload verdict %v", v)
	}
	req := protocol.ExchangeRequest{Collection: coll, BatchID: batchID, Cursor: cursorAt(coll, 4), Uploads: uploads, Downloads: downloads}
	resp := protocol.ExchangeResponse{
		Results: []protocol.UploadResult{{ID: "note-b", Status: v.Status(), Version: 5, HLC: uploads[0].HLC}},
		Items: []protocol.Item{
			{ID: "note-a", Version: 3, FP: remoteA.FP, HLC: remoteA.HLC, Replica: laptop, Content: txt("Buy milk and eggs\n")},
			{ID: "note-c", Version: 4, FP: remoteC.FP, HLC: remoteC.HLC, Deleted: true, Replica: laptop},
		},
		Cursor:       cursorAt(coll, 5),
		Head:         5,
		ConflictsSeq: 1,
	}
	if err := step("exchange", "POST", protocol.PathExchange, hdrs, req, 200, resp); err != nil {
		return err
	}

	// 6. The states before and after, as data.
	itemA, itemC := resp.Items[0], resp.Items[1]
	itemB := protocol.Item{ID: "note-b", Version: 5, FP: uploads[0].FP, HLC: resp.Results[0].HLC, Replica: phone, Content: uploads[0].Content}
	f.ServerBefore = map[string]SessionServerColl{coll: {Head: 4, Items: []SessionServerItem{serverItem(itemA), serverItem(itemC)}}}
	f.ServerAfter = map[string]SessionServerColl{coll: {Head: 5, Items: []SessionServerItem{serverItem(itemA), serverItem(itemB), serverItem(itemC)}}}
	fromServer := func(it protocol.Item) SessionClientItem {
		return SessionClientItem{ID: it.ID, ContentHex: hex.EncodeToString(it.Content), Deleted: it.Deleted, FPHex: hex.EncodeToString(it.FP), HLC: it.HLC, Base: it.Version, Seen: it.Version}
	}
	lost := f.ClientBefore.Collections[coll].Items[0] // note-a, download-keep-local
	f.ClientAfter = SessionClient{Replica: phone, ServerConflicts: noRecords, Collections: map[string]SessionClientColl{coll: {
		Cursor: resp.Cursor,
		Items:  []SessionClientItem{fromServer(itemA), fromServer(itemB), fromServer(itemC)},
		LocalConflicts: []SessionLocalConflict{{ID: lost.ID, ContentHex: lost.ContentHex, Deleted: lost.Deleted, FPHex: lost.FPHex, HLC: lost.HLC,
			Base: lost.Base, ServerVersion: itemA.Version}},
	}}}
	b, err := writeJSON(f)
	if err != nil {
		return err
	}
	files["session.json"] = b
	return nil
}
