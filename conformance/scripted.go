package conformance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// scripted is the server of client mode: a small, correct server-wins
// implementation of the protocol that records every request and lets a
// case replace any answer (a hook) to play its script.
type scripted struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	rec  *recorder
	user string

	mu       sync.Mutex // guards every field below
	info     protocol.Info
	colls    map[string]*sColl
	batches  map[string]sBatch
	log      []sRequest
	hook     func(r *sRequest) *sResponse
	pageSize int // default change-info page; 0 means 1000
	// offerContent honours a change-info request's content (SP-6.1-8).
	// Off by default, as a server that predates it: the other cases
	// exercise downloads in exchanges whether or not a client asks.
	offerContent bool
	// encodeAll encodes every response in a coding the request accepts,
	// taking turns among them, in two frames or members; otherwise, like
	// the reference server, responses of coding.MinSize bytes or more are
	// encoded in the first.
	// Either way only in codings Info.features lists (announce).
	encodeAll bool
	turn      int // encodeAll's next coding
	// dec decodes request bodies, bounded by decLimit (max_body_bytes).
	dec      *coding.Decoder
	decLimit int
	// conflictsSeq is the conflicts_seq of the collections listing and of
	// exchanges (SP-10-8); 0, the default, plays a server that keeps none.
	conflictsSeq uint64
}

type sColl struct {
	head  uint64
	items map[string]*protocol.Item
}

type sBatch struct {
	hash [32]byte
	body []byte
}

// sRequest is one request the scripted server received.
type sRequest struct {
	Method, Path string
	Header       http.Header
	// Body is the body decoded from its content coding (SP-3-8); RawBody
	// is the body as received, in Coding ("" for none).
	Body, RawBody []byte
	Coding        string
	// At is when the request arrived, Answered when its answer was ready.
	At, Answered time.Time
	// N counts the requests to the same path, from 1.
	N int
	// Status is the answer's HTTP status, RespCoding its content coding.
	Status     int
	RespCoding string
}

// sResponse is a scripted answer.
type sResponse struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Exchange decodes an exchange request body (zero value if it does not
// decode).
func (r *sRequest) Exchange() protocol.ExchangeRequest {
	var x protocol.ExchangeRequest
	_ = protocol.Unmarshal(r.Body, &x)
	return x
}

const scriptedReplica = "conform/driver"

func newScripted(rec *recorder) (*scripted, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &scripted{ln: ln, url: "http://" + ln.Addr().String(), rec: rec, user: "conform", colls: map[string]*sColl{}, batches: map[string]sBatch{}}
	s.info = protocol.Info{Versions: []int{1}, Server: "syncprint-conformance-scripted/" + SuiteVersion, Epoch: "5c417b7ed0000001",
		Limits: protocol.DefaultLimits(), Rules: map[string]protocol.Rule{}, DefaultRule: protocol.ServerWins, MaxSkewMillis: protocol.DefaultMaxSkewMillis,
		Features: []string{}, User: s.user, Replica: scriptedReplica}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *scripted) close() {
	_ = s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dec != nil {
		s.dec.Close()
	}
}

// setHook sets the function that may replace answers.
func (s *scripted) setHook(h func(r *sRequest) *sResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// requests returns the requests so far to path ("" for all).
func (s *scripted) requests(path string) []sRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sRequest
	for _, r := range s.log {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// write stores a version written by another device and returns it.
func (s *scripted) write(coll, id string, content string, deleted bool) protocol.Item {
	return s.writeAs("conform/other", coll, id, content, deleted)
}

// writeAs stores a version written by replica and returns it.
func (s *scripted) writeAs(replica, coll, id string, content string, deleted bool) protocol.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.coll(coll)
	c.head++
	var cont []byte
	if !deleted {
		cont = []byte(content)
	}
	it := &protocol.Item{ID: id, Version: c.head, FP: FP(id, deleted, cont), HLC: nowHLC(), Deleted: deleted, Replica: replica, Content: cont}
	if cont == nil {
		it.Content = []byte{}
	}
	c.items[id] = it
	return *it
}

// item returns the server's current item.
func (s *scripted) item(coll, id string) (protocol.Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.coll(coll)
	it, ok := c.items[id]
	if !ok {
		return protocol.Item{}, false
	}
	return *it, true
}

func (s *scripted) coll(name string) *sColl {
	c, ok := s.colls[name]
	if !ok {
		c = &sColl{items: map[string]*protocol.Item{}}
		s.colls[name] = c
	}
	return c
}

func nowHLC() uint64 { return uint64(time.Now().UnixMilli()) << 16 }

func (s *scripted) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(hr.Body, 64<<20))
	s.mu.Lock()
	n := 1
	for _, r := range s.log {
		if r.Path == hr.URL.Path {
			n++
		}
	}
	req := &sRequest{Method: hr.Method, Path: hr.URL.Path, Header: hr.Header.Clone(), Body: body, RawBody: body, At: time.Now(), N: n}
	resp := s.decodeBody(req)
	hook := s.hook
	s.mu.Unlock()
	if resp == nil && hook != nil {
		resp = hook(req)
	}
	if resp == nil {
		s.mu.Lock()
		resp = s.answer(req)
		s.mu.Unlock()
	}
	plain := resp.Body
	s.mu.Lock()
	resp, req.RespCoding = s.encodeResponse(req, resp)
	req.Status, req.Answered = resp.Status, time.Now()
	s.log = append(s.log, *req)
	s.mu.Unlock()
	e := Entry{Method: hr.Method, Path: hr.URL.Path, As: "client under test", Headers: map[string]string{}, Status: resp.Status, RespHdrs: map[string]string{}}
	for _, k := range []string{protocol.HeaderVersion, "Content-Encoding", "Accept-Encoding"} {
		if v := hr.Header.Get(k); v != "" {
			e.Headers[k] = v
		}
	}
	if len(body) > 0 {
		e.Request = renderMsgpack(req.Body)
		if req.Coding != "" {
			e.Request = fmt.Sprintf("[%s, %d bytes] %s", req.Coding, len(body), e.Request)
		}
	}
	e.Response = renderMsgpack(plain)
	for k, v := range resp.Header {
		w.Header().Set(k, v)
		e.RespHdrs[k] = v
	}
	s.rec.add(e)
	w.Header().Set("Content-Type", protocol.ContentType)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// announce adds content codings (or other features) to Info.features.
func (s *scripted) announce(features ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.Features = append(s.info.Features, features...)
}

// codings returns the content codings Info.features lists (s.mu held).
func (s *scripted) codings() []string {
	var out []string
	for _, c := range definedCodings {
		if slices.Contains(s.info.Features, c) {
			out = append(out, c)
		}
	}
	return out
}

// decodeBody removes the request's content coding like a server (SP-3-8,
// step 6 of SP-3-3): a coding Info.features does not list, or two, is
// malformed_request, and so is a body that does not decode; one that
// decodes to more than max_body_bytes is payload_too_large. It returns
// the error answer, or nil with req.Body decoded (s.mu held).
func (s *scripted) decodeBody(req *sRequest) *sResponse {
	cc, err := coding.ParseContentEncoding(req.Header.Values("Content-Encoding"))
	if err == nil && cc != "" && !slices.Contains(s.codings(), cc) {
		err = fmt.Errorf("%q is not in Info.features", cc)
	}
	if err != nil {
		return errResp(protocol.CodeMalformed, "Content-Encoding: "+err.Error())
	}
	if cc == "" {
		return nil
	}
	limit := s.info.Limits.MaxBodyBytes
	if s.dec == nil || s.decLimit != limit {
		if s.dec != nil {
			s.dec.Close()
		}
		if s.dec, err = coding.NewDecoder(limit); err != nil {
			return errResp(protocol.CodeInternal, err.Error())
		}
		s.decLimit = limit
	}
	out, err := s.dec.Decode(cc, req.RawBody)
	switch {
	case errors.Is(err, coding.ErrTooLarge):
		return errResp(protocol.CodePayloadTooLarge, "the body decodes to more than max_body_bytes")
	case err != nil:
		return errResp(protocol.CodeMalformed, err.Error())
	}
	req.Body, req.Coding = out, cc
	return nil
}

// encodeResponse encodes an answer in a coding that Info.features lists
// and the request's Accept-Encoding accepts (see encodeAll), and returns
// it with that coding ("" when it stays unencoded). s.mu held.
func (s *scripted) encodeResponse(req *sRequest, resp *sResponse) (*sResponse, string) {
	var ok []string
	ae := strings.Join(req.Header.Values("Accept-Encoding"), ", ")
	for _, c := range s.codings() {
		if ae != "" && acceptsCoding(ae, c) {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 || !s.encodeAll && len(resp.Body) < coding.MinSize {
		return resp, ""
	}
	c := ok[0]
	if s.encodeAll {
		c = ok[s.turn%len(ok)]
		s.turn++
	}
	var z []byte
	var err error
	if s.encodeAll {
		// In two frames or members: a client decodes every one (SP-3-8).
		z, err = encodeInTwo(c, resp.Body)
	} else {
		z, err = bodyEncoder().Encode(c, nil, resp.Body)
	}
	if err != nil {
		return errResp(protocol.CodeInternal, err.Error()), ""
	}
	out := &sResponse{Status: resp.Status, Header: map[string]string{"Content-Encoding": c}, Body: z}
	for k, v := range resp.Header {
		out.Header[k] = v
	}
	return out, c
}

// errResp encodes an Error answer with its code's status.
func errResp(code protocol.Code, msg string, ids ...string) *sResponse {
	e := protocol.Errorf(code, "%s", msg)
	if len(ids) > 0 {
		e = e.WithIDs(ids...)
	}
	b, _ := protocol.Marshal(e)
	r := &sResponse{Status: code.HTTPStatus(), Body: b}
	if code.Retryable() {
		r.Header = map[string]string{"Retry-After": "1"}
	}
	return r
}

func okResp(v any) *sResponse {
	b, err := protocol.Marshal(v)
	if err != nil {
		panic("bug: encode " + err.Error())
	}
	return &sResponse{Status: http.StatusOK, Body: b}
}

// answer is the scripted server's normal behaviour (s.mu held).
func (s *scripted) answer(r *sRequest) *sResponse {
	if r.Path == protocol.PathInfo {
		if r.Method != http.MethodGet {
			return errResp(protocol.CodeMethodNotAllowed, "GET")
		}
		info := s.info
		info.ServerTime = nowHLC()
		if slices.Contains(info.Features, protocol.FeatureInfoCollections) {
			info.Collections, info.ConflictsSeq = s.collections(), s.conflictsSeq // SP-3-15
		}
		if slices.Contains(info.Features, protocol.FeatureInfoTag) {
			info.Tag = protocol.InfoTag(&info) // SP-3-16
			if r.Header.Get(protocol.HeaderInfoTag) == info.Tag {
				return okResp(info.Short())
			}
		}
		return okResp(info)
	}
	known := map[string]bool{protocol.PathCollections: true, protocol.PathChanges: true, protocol.PathExchange: true}
	if !known[r.Path] {
		return errResp(protocol.CodeNotFound, "no such endpoint")
	}
	if r.Method != http.MethodPost {
		return errResp(protocol.CodeMethodNotAllowed, "POST")
	}
	if r.Header.Get(protocol.HeaderVersion) != "1" {
		return errResp(protocol.CodeUnsupportedVersion, "want Syncprint-Version: 1")
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sp_") {
		return errResp(protocol.CodeUnauthorized, "missing token")
	}
	switch r.Path {
	case protocol.PathCollections:
		return okResp(protocol.CollectionsResponse{Collections: s.collections(), ConflictsSeq: s.conflictsSeq})
	case protocol.PathChanges:
		var req protocol.ChangesRequest
		if err := protocol.Unmarshal(r.Body, &req); err != nil {
			return errResp(protocol.CodeMalformed, err.Error())
		}
		if err := protocol.ValidateCollection(req.Collection); err != nil {
			return errResp(protocol.CodeInvalidCollection, err.Error())
		}
		after, ok := parseSCursor(req.Collection, req.Cursor)
		if !ok {
			return errResp(protocol.CodeInvalidCursor, "not a cursor of this collection")
		}
		if m := s.info.Limits.MaxPage; m > 0 && req.Limit > m {
			return errResp(protocol.CodeTooManyItems, fmt.Sprintf("limit %d, max_page is %d", req.Limit, m))
		}
		page := s.pageSize
		if page == 0 {
			page = 1000
		}
		limit := req.Limit
		if limit <= 0 || limit > page {
			limit = page
		}
		c := s.coll(req.Collection)
		var entries []*protocol.Item
		for _, it := range c.items {
			if it.Version > after {
				entries = append(entries, it)
			}
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Version < entries[j].Version })
		resp := protocol.ChangesResponse{Changes: []protocol.ChangeInfo{}, Head: c.head, Cursor: req.Cursor}
		if req.Cursor == "" {
			resp.Cursor = sCursor(req.Collection, 0)
		}
		for i, it := range entries {
			if i == limit {
				resp.More = true
				break
			}
			resp.Changes = append(resp.Changes, changeInfo(it))
			resp.Cursor = sCursor(req.Collection, it.Version)
			if i == len(entries)-1 {
				// The last page's cursor is the cursor of the head (SP-6.1-9).
				resp.Cursor = sCursor(req.Collection, c.head)
			}
			if req.Content && s.offerContent {
				var content []byte
				if !it.Deleted {
					content = append([]byte{}, it.Content...)
				}
				resp.Contents = append(resp.Contents, content)
			}
		}
		return okResp(resp)
	default:
		return s.exchange(r)
	}
}

// collections lists the collections holding items, by name (SP-6-1; s.mu held).
func (s *scripted) collections() []protocol.Collection {
	names := make([]string, 0, len(s.colls))
	for n, c := range s.colls {
		if c.head > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := []protocol.Collection{}
	for _, n := range names {
		out = append(out, protocol.Collection{Name: n, Rule: s.info.RuleFor(n), Head: s.colls[n].head})
	}
	return out
}

func changeInfo(it *protocol.Item) protocol.ChangeInfo {
	return protocol.ChangeInfo{ID: it.ID, Version: it.Version, FP: it.FP, HLC: it.HLC, Deleted: it.Deleted, Replica: it.Replica, Size: uint32(len(it.Content))}
}

func sCursor(coll string, v uint64) string { return "s1." + coll + "." + strconv.FormatUint(v, 10) }

func parseSCursor(coll, c string) (uint64, bool) {
	if c == "" {
		return 0, true
	}
	rest, ok := strings.CutPrefix(c, "s1."+coll+".")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(rest, 10, 64)
	return v, err == nil
}

// exchange applies an exchange under server-wins (s.mu held).
func (s *scripted) exchange(r *sRequest) *sResponse {
	var req protocol.ExchangeRequest
	if err := protocol.Unmarshal(r.Body, &req); err != nil {
		return errResp(protocol.CodeMalformed, err.Error())
	}
	if err := protocol.ValidateCollection(req.Collection); err != nil {
		return errResp(protocol.CodeInvalidCollection, err.Error())
	}
	if err := protocol.ValidateBatchID(req.BatchID); err != nil {
		return errResp(protocol.CodeMalformed, err.Error())
	}
	l := s.info.Limits
	if len(req.Uploads) > l.MaxBatchItems || len(req.Downloads) > l.MaxIDs {
		return errResp(protocol.CodeTooManyItems, "too many")
	}
	seen := map[string]bool{}
	total := 0
	var mismatch []string
	for _, u := range req.Uploads {
		if err := protocol.ValidateID(u.ID); err != nil {
			return errResp(protocol.CodeInvalidID, err.Error(), u.ID)
		}
		if seen[u.ID] {
			return errResp(protocol.CodeDuplicateID, "twice", u.ID)
		}
		seen[u.ID] = true
		if len(u.FP) != 32 || u.Deleted && len(u.Content) > 0 {
			return errResp(protocol.CodeMalformed, "bad upload", u.ID)
		}
		if len(u.Content) > l.MaxItemBytes {
			return errResp(protocol.CodeItemTooLarge, "too large", u.ID)
		}
		total += len(u.Content)
		if !bytes.Equal(FP(u.ID, u.Deleted, u.Content), u.FP) {
			mismatch = append(mismatch, u.ID)
		}
	}
	if total > l.MaxBatchBytes {
		return errResp(protocol.CodePayloadTooLarge, "batch too large")
	}
	if len(mismatch) > 0 {
		return errResp(protocol.CodeFingerprintMismatch, "fingerprint", mismatch...)
	}
	hash := sha256.Sum256(r.Body)
	if b, ok := s.batches[req.BatchID]; ok {
		if b.hash == hash {
			return &sResponse{Status: http.StatusOK, Body: b.body}
		}
		return errResp(protocol.CodeBatchReused, "batch id reused")
	}
	c := s.coll(req.Collection)
	headBefore := c.head
	resp := protocol.ExchangeResponse{Results: []protocol.UploadResult{}, Items: []protocol.Item{}, Missing: []string{}, Deferred: []string{}, ConflictsSeq: s.conflictsSeq}
	var extra []string
	for _, u := range req.Uploads {
		cur := c.items[u.ID]
		var curV uint64
		if cur != nil {
			curV = cur.Version
		}
		res := protocol.UploadResult{ID: u.ID, Version: curV}
		switch {
		case u.Seen != curV:
			res.Status = protocol.StatusStale
			if cur != nil {
				ci := changeInfo(cur)
				res.Current = &ci
			}
		case cur != nil && bytes.Equal(cur.FP, u.FP):
			res.Status = protocol.StatusUnchanged
		case cur == nil || u.Base == cur.Version:
			c.head++
			content := u.Content
			if content == nil {
				content = []byte{}
			}
			c.items[u.ID] = &protocol.Item{ID: u.ID, Version: c.head, FP: u.FP, HLC: u.HLC, Deleted: u.Deleted, Replica: scriptedReplica, Content: content}
			res.Status, res.Version, res.HLC = protocol.StatusApplied, c.head, u.HLC
		default:
			res.Status = protocol.StatusRejected
			ci := changeInfo(cur)
			res.Current = &ci
			extra = append(extra, u.ID)
		}
		resp.Results = append(resp.Results, res)
	}
	inItems := map[string]bool{}
	for _, id := range req.Downloads {
		if it, ok := c.items[id]; ok {
			resp.Items = append(resp.Items, *it)
			inItems[id] = true
		} else {
			resp.Missing = append(resp.Missing, id)
		}
	}
	for _, id := range extra {
		if !inItems[id] {
			resp.Items = append(resp.Items, *c.items[id])
		}
	}
	resp.Head = c.head
	resp.Cursor = req.Cursor
	if v, ok := parseSCursor(req.Collection, req.Cursor); ok && req.Cursor != "" && v == headBefore {
		resp.Cursor = sCursor(req.Collection, c.head)
	}
	out := okResp(resp)
	s.batches[req.BatchID] = sBatch{hash: hash, body: out.Body}
	return out
}

// describeRequests renders requests for a failure message.
func describeRequests(rs []sRequest) string {
	var sb strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&sb, "%s %s at %s -> %d; ", r.Method, r.Path, r.At.Format("15:04:05.000"), r.Status)
	}
	return sb.String()
}
