package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// Ack is an upload a server acknowledged.
type Ack struct {
	Collection, ID string
	FP             fingerprint.Fingerprint
	// Version is the server version the response gave the item.
	Version uint64
	Status  protocol.UploadStatus
}

// Recorder is an http.RoundTripper that records acknowledged uploads. It
// reads each /v1/exchange response whole before handing it on; a response
// that fails to arrive whole is handed on with its error and records
// nothing. Other requests pass through untouched.
type Recorder struct {
	// Base carries the requests; nil means http.DefaultTransport.
	Base http.RoundTripper

	mu        sync.Mutex // guards acks, outcomes, undecoded, dec
	acks      []Ack
	outcomes  []Outcome
	undecoded int
	dec       *coding.Decoder
}

// decode undoes a body's content coding (SP-3-8).
func (r *Recorder) decode(h http.Header, body []byte) ([]byte, error) {
	c, err := coding.ParseContentEncoding(h.Values("Content-Encoding"))
	if err != nil || c == "" {
		return body, err
	}
	r.mu.Lock()
	if r.dec == nil {
		if r.dec, err = coding.NewDecoder(256 << 20); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	dec := r.dec
	r.mu.Unlock()
	return dec.Decode(c, body)
}

// Undecoded returns how many complete 200 responses of /v1/exchange the
// recorder could not decode (with their request): acknowledgements it may
// have missed. Tests require it to be zero, so that a change of encoding
// cannot make them check nothing.
func (r *Recorder) Undecoded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.undecoded
}

// Outcome is how one /v1/exchange request ended.
type Outcome struct {
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Code is the protocol error code of a non-200 response.
	Code protocol.Code
	// Err is the transport error, if any.
	Err error
}

func (r *Recorder) outcome(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

// Outcomes returns how every /v1/exchange request ended, in order.
func (r *Recorder) Outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outcomes)
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.URL.Path != protocol.PathExchange || req.Body == nil {
		return base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := base.RoundTrip(out)
	if err != nil {
		r.outcome(Outcome{Err: err})
		return resp, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.outcome(Outcome{Status: resp.StatusCode, Err: err})
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{err}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if resp.StatusCode != http.StatusOK {
		var pe protocol.Error
		_ = protocol.Unmarshal(data, &pe)
		r.outcome(Outcome{Status: resp.StatusCode, Code: pe.Code})
		return resp, nil
	}
	r.outcome(Outcome{Status: resp.StatusCode})
	var ex protocol.ExchangeRequest
	var res protocol.ExchangeResponse
	reqBody, err1 := r.decode(req.Header, body)
	respBody, err2 := r.decode(resp.Header, data)
	if err1 != nil || err2 != nil || protocol.Unmarshal(reqBody, &ex) != nil || protocol.Unmarshal(respBody, &res) != nil {
		r.mu.Lock()
		r.undecoded++
		r.mu.Unlock()
		return resp, nil
	}
	fps := make(map[string]fingerprint.Fingerprint, len(ex.Uploads))
	for _, up := range ex.Uploads {
		fps[up.ID] = fingerprint.Fingerprint(up.FP)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range res.Results {
		if u.Status == protocol.StatusApplied || u.Status == protocol.StatusUnchanged {
			r.acks = append(r.acks, Ack{Collection: ex.Collection, ID: u.ID, FP: fps[u.ID], Version: u.Version, Status: u.Status})
		}
	}
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Acks returns a copy of the acknowledgements recorded so far, in order.
func (r *Recorder) Acks() []Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.acks)
}

// Item is an item's change info on the server.
type Item struct {
	Version uint64
	FP      fingerprint.Fingerprint
	Deleted bool
	Replica string
}

// ServerItems returns every item of a collection (tombstones included) and
// the collection's head, read through /v1/changes with token.
func ServerItems(ctx context.Context, hc *http.Client, url, token, coll string) (map[string]Item, uint64, error) {
	items := map[string]Item{}
	cursor := ""
	var head uint64
	for {
		body, err := protocol.Marshal(&protocol.ChangesRequest{Collection: coll, Cursor: cursor})
		if err != nil {
			return nil, 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+protocol.PathChanges, bytes.NewReader(body))
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set(protocol.HeaderVersion, strconv.Itoa(protocol.Version))
		req.Header.Set("Content-Type", protocol.ContentType)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("changes %s: %w", coll, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("changes %s: %w", coll, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("changes %s: HTTP %s: %q", coll, resp.Status, data)
		}
		var page protocol.ChangesResponse
		if err := protocol.Unmarshal(data, &page); err != nil {
			return nil, 0, fmt.Errorf("changes %s: %w", coll, err)
		}
		for _, ci := range page.Changes {
			items[ci.ID] = Item{Version: ci.Version, FP: fingerprint.Fingerprint(ci.FP), Deleted: ci.Deleted, Replica: ci.Replica}
		}
		head, cursor = page.Head, page.Cursor
		if !page.More {
			return items, head, nil
		}
	}
}

// CheckAcks checks every acknowledgement against the server's items
// (collection -> ID -> item): the item exists at the acknowledged version
// or a later one, and at the acknowledged version it has the acknowledged
// fingerprint. It returns one line per violation.
func CheckAcks(acks []Ack, server map[string]map[string]Item) []string {
	var bad []string
	for _, a := range acks {
		it, ok := server[a.Collection][a.ID]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s/%s: acknowledged at version %d (%s), missing on the server", a.Collection, a.ID, a.Version, a.Status))
		case it.Version < a.Version:
			bad = append(bad, fmt.Sprintf("%s/%s: acknowledged at version %d (%s), the server holds version %d", a.Collection, a.ID, a.Version, a.Status, it.Version))
		case it.Version == a.Version && it.FP != a.FP:
			bad = append(bad, fmt.Sprintf("%s/%s: version %d holds another fingerprint than the one acknowledged", a.Collection, a.ID, a.Version))
		}
	}
	return bad
}
