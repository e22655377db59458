package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// The network: every request a client sends goes through transport, which
// decides, from the run's PRNG, what happens to it, and delivers it to the
// server in-process (serverd.Server.RoundTrip) on the caller's goroutine.

// faults are the probabilities of the network's faults, per request.
type faults struct {
	// dropRequest: lost before it reaches the server.
	dropRequest float64
	// dropResponse: the server applied it, the answer is lost.
	dropResponse float64
	// duplicate: the server receives it twice in a row; the client gets
	// the second answer.
	duplicate float64
	// stray: a copy is delivered again later, after other requests.
	stray float64
	// late: the client gives up waiting; the request arrives later, after
	// other requests.
	late float64
	// delay: virtual time passes before it arrives (up to 5 s).
	delay float64
	// serverCrash: the server restarts after applying it, before answering.
	serverCrash float64
	// clientCrash: the client crashes while the request is out (half
	// before it is sent, half after the server answered); its operation
	// is abandoned and its store reopened.
	clientCrash float64
	// interleave: while the request is in transit, other actors take a
	// few steps (other clients sync and resolve, any client writes).
	interleave float64
}

// drawFaults picks a seed's fault profile: no faults, or light to heavy
// (always the heaviest when heavy is set).
func drawFaults(rng *rand.Rand, heavy bool) faults {
	level := [...]float64{0, 0.5, 1, 2}[rng.IntN(4)]
	if heavy {
		level = 2
	}
	p := func(base float64) float64 { return base * level * (0.5 + rng.Float64()) }
	f := faults{
		dropRequest: p(0.05), dropResponse: p(0.05), duplicate: p(0.04), stray: p(0.04),
		late: p(0.02), delay: p(0.2), serverCrash: p(0.01), clientCrash: p(0.01),
		// Interleaving is not a fault: every profile has some.
		interleave: 0.02 + 0.1*rng.Float64(),
	}
	if heavy {
		// The faults that deliver an exchange twice, with other writes in
		// between, at two to five times their heaviest draw; interleaving
		// at its greatest draw.
		f.dropResponse, f.stray, f.late, f.interleave = 0.25, 0.2, 0.1, 0.12
	}
	return f
}

func (f faults) String() string {
	return fmt.Sprintf("drop-req %.3f drop-resp %.3f dup %.3f stray %.3f late %.3f delay %.3f server-crash %.3f client-crash %.3f interleave %.3f",
		f.dropRequest, f.dropResponse, f.duplicate, f.stray, f.late, f.delay, f.serverCrash, f.clientCrash, f.interleave)
}

// The errors a client sees; clientd reports each as ErrNetwork.
var (
	errDropped     = errors.New("sim: connection reset (request lost)")
	errReset       = errors.New("sim: connection reset (response lost)")
	errTimeout     = errors.New("sim: request timed out")
	errUnreachable = errors.New("sim: network unreachable (partitioned)")
	errRefused     = errors.New("sim: connection refused (server down)")
	errCrashed     = errors.New("sim: the client crashed")
)

// delivery is one request as the server receives it.
type delivery struct {
	n      int
	client *client
	path   string
	// late: delivered after the client stopped waiting for it.
	late    bool
	exch    *protocol.ExchangeRequest
	resolve *protocol.ResolveRequest
}

// upload returns the request's upload (or resolution put) of an item.
func (d *delivery) upload(id string) *protocol.Upload {
	if d.exch != nil {
		for i := range d.exch.Uploads {
			if d.exch.Uploads[i].ID == id {
				return &d.exch.Uploads[i]
			}
		}
	}
	if d.resolve != nil && d.resolve.Put != nil {
		return d.resolve.Put
	}
	return nil
}

// request is a request kept for a later delivery.
type request struct {
	c      *client
	method string
	url    string
	header http.Header
	body   []byte
}

type transport struct {
	w *world
	c *client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return t.w.roundTrip(request{c: t.c, method: req.Method, url: req.URL.String(), header: req.Header, body: body}, req.URL.Path)
}

func (w *world) roundTrip(r request, path string) (*http.Response, error) {
	c := r.c
	w.stats.Requests++
	switch {
	case c.crashed:
		return nil, errCrashed
	case c.partitioned > 0:
		w.tracef("net %s %s: partitioned", c.name, path)
		return nil, errUnreachable
	case w.serverDown > 0:
		w.tracef("net %s %s: server down", c.name, path)
		return nil, errRefused
	}
	f := w.net
	if w.chance(f.clientCrash / 2) {
		w.crash(c, "before sending "+path)
		return nil, errCrashed
	}
	if w.chance(f.dropRequest) {
		w.stats.DroppedRequests++
		w.tracef("net %s %s: request lost", c.name, path)
		return nil, errDropped
	}
	if w.chance(f.late) {
		w.stats.Late++
		w.tracef("net %s %s: the client gives up, the request arrives later", c.name, path)
		r.header = r.header.Clone()
		w.strays = append(w.strays, r)
		return nil, errTimeout
	}
	if w.chance(f.delay) {
		d := time.Duration(w.rng.IntN(5000)) * time.Millisecond
		w.now = w.now.Add(d)
		w.tracef("net %s %s: delayed %s", c.name, path, d)
	}
	if !w.nested && w.chance(f.interleave) {
		var exch *protocol.ExchangeRequest
		if path == protocol.PathExchange {
			exch = new(protocol.ExchangeRequest)
			if protocol.Unmarshal(w.decode(r.header, r.body), exch) != nil {
				exch = nil
			}
		}
		w.interleave(c, path, exch)
		if c.crashed || c.partitioned > 0 || w.serverDown > 0 {
			return nil, errTimeout
		}
	}
	resp := w.deliver(r, false)
	if w.chance(f.duplicate) {
		w.stats.Duplicated++
		w.tracef("net %s %s: duplicated", c.name, path)
		resp = w.deliver(r, false)
	}
	if w.chance(f.stray) {
		w.stats.Strays++
		w.tracef("net %s %s: a copy strays, to arrive later", c.name, path)
		r.header = r.header.Clone()
		w.strays = append(w.strays, r)
	}
	if w.chance(f.serverCrash) {
		w.restartServer("after applying " + path + ", before answering")
		return nil, errReset
	}
	if w.chance(f.clientCrash / 2) {
		w.crash(c, "after the server answered "+path)
		return nil, errCrashed
	}
	if w.chance(f.dropResponse) {
		w.stats.DroppedResponses++
		w.tracef("net %s %s: response lost", c.name, path)
		return nil, errReset
	}
	return resp, nil
}

// crash marks a client crashed in the middle of its operation: the
// operation is cancelled and every further request fails; the scheduler
// reopens its store once the call returns.
func (w *world) crash(c *client, why string) {
	c.crashed = true
	w.tracef("client %s crashes (%s)", c.name, why)
	if c.cancel != nil {
		c.cancel()
	}
}

// deliverStray delivers one request kept for later, chosen at random.
func (w *world) deliverStray() {
	if len(w.strays) == 0 {
		w.tracef("no request in flight")
		return
	}
	i := w.rng.IntN(len(w.strays))
	r := w.strays[i]
	w.strays = slices.Delete(w.strays, i, i+1)
	if w.serverDown > 0 {
		w.tracef("late request of %s lost: server down", r.c.name)
		return
	}
	w.deliver(r, true)
}

// deliver hands a request to the server and returns its answer; w.cur
// names it while the server handles it.
func (w *world) deliver(r request, late bool) *http.Response {
	req, err := http.NewRequest(r.method, r.url, bytes.NewReader(r.body))
	must(err, "build request")
	req.Header = r.header.Clone()
	w.nDeliv++
	d := &delivery{n: w.nDeliv, client: r.c, path: req.URL.Path, late: late}
	plain := w.decode(r.header, r.body)
	switch d.path {
	case protocol.PathExchange:
		d.exch = new(protocol.ExchangeRequest)
		if protocol.Unmarshal(plain, d.exch) != nil {
			d.exch = nil
		}
	case protocol.PathResolve:
		d.resolve = new(protocol.ResolveRequest)
		if protocol.Unmarshal(plain, d.resolve) != nil {
			d.resolve = nil
		}
	}
	// The server's items as the request finds them, for checkVerdicts.
	var before map[string]*version
	if d.exch != nil {
		before = map[string]*version{}
		for _, u := range d.exch.Uploads {
			before[u.ID] = w.heads[itemKey{d.exch.Collection, u.ID}]
		}
	}
	wall := w.now
	w.cur = d
	resp, err := w.srv.RoundTrip(req)
	w.cur = nil
	must(err, "in-process round trip")
	body, err := io.ReadAll(resp.Body)
	must(err, "read response")
	resp.Body = io.NopCloser(bytes.NewReader(body))
	body = w.decode(resp.Header, body)
	w.tracef("%s", w.summary(d, resp.StatusCode, body))
	if d.exch != nil && resp.StatusCode == http.StatusOK {
		// A batch answered before is answered from its idempotency
		// record, as the server found the items then.
		if !w.answered[d.exch.BatchID] {
			w.checkVerdicts(d, before, wall, body)
		}
		w.answered[d.exch.BatchID] = true
	}
	return resp
}

// decode returns a body without its content coding (SP-3-8), for the
// trace and the checks; the bytes sent on are left as they are.
func (w *world) decode(h http.Header, body []byte) []byte {
	cod, err := coding.ParseContentEncoding(h.Values("Content-Encoding"))
	if err == nil && cod != "" {
		w.stats.Encoded++
	}
	if err == nil {
		body, err = w.dec.Decode(cod, body)
	}
	if err != nil {
		w.failf("a body in content coding %q does not decode: %v", h.Get("Content-Encoding"), err)
	}
	return body
}

// checkVerdicts derives each upload's verdict from the decision table
// (SP-6.3-5, SP-7-5) and the server's items as the request found them,
// and compares it with the server's answer.
func (w *world) checkVerdicts(d *delivery, before map[string]*version, wall time.Time, body []byte) {
	var resp protocol.ExchangeResponse
	if err := protocol.Unmarshal(body, &resp); err != nil {
		w.failf("undecodable exchange response: %v", err)
		return
	}
	rule := w.rules[d.exch.Collection]
	for _, res := range resp.Results {
		up := d.upload(res.ID)
		if up == nil {
			w.failf("exchange of %s: a result for %s/%s, which it did not upload", d.client.name, d.exch.Collection, res.ID)
			continue
		}
		cur := before[res.ID]
		want := verdict(rule, up, changelog.ReplicaID(d.client.replica), cur, wall)
		if res.Status != want {
			var curs string
			if cur != nil {
				curs = fmt.Sprintf(", current version %d %s hlc %d by %s", cur.entry.Seq, short(cur.entry.Fingerprint), cur.entry.HLC, cur.entry.Replica)
			}
			w.failf("server verdict: %s/%s uploaded by %s (base %d seen %d hlc %d, %s) got %s, the decision table says %s%s",
				d.exch.Collection, res.ID, d.client.name, up.Base, up.Seen, up.HLC, rule, res.Status, want, curs)
		}
	}
}

// verdict is the decision table: what the server answers an upload, given
// the item's current version cur (nil: none) and the server's wall clock.
func verdict(rule protocol.Rule, up *protocol.Upload, replica changelog.ReplicaID, cur *version, wall time.Time) protocol.UploadStatus {
	var curSeq uint64
	if cur != nil {
		curSeq = uint64(cur.entry.Seq)
	}
	switch {
	case up.Seen != curSeq:
		return protocol.StatusStale
	case cur != nil && bytes.Equal(cur.entry.Fingerprint.Bytes(), up.FP):
		return protocol.StatusUnchanged
	case cur == nil || up.Base == curSeq:
		return protocol.StatusApplied
	}
	switch rule {
	case protocol.ClientWins:
		return protocol.StatusApplied
	case protocol.Manual:
		return protocol.StatusConflict
	case protocol.LatestWins:
		h := changelog.HLC(up.HLC)
		if h.Millis() > uint64(wall.UnixMilli())+protocol.DefaultMaxSkewMillis {
			// Clamped to the server's clock: later than every HLC it holds.
			return protocol.StatusApplied
		}
		if h > cur.entry.HLC || h == cur.entry.HLC && replica > cur.entry.Replica {
			return protocol.StatusApplied
		}
		return protocol.StatusRejected
	}
	return protocol.StatusRejected
}

// summary describes a delivery for the trace, leaving out what is random
// (batch and conflict IDs, cursors).
func (w *world) summary(d *delivery, status int, body []byte) string {
	var sb strings.Builder
	kind := "deliver"
	if d.late {
		kind = "deliver late"
	}
	fmt.Fprintf(&sb, "%s %s %s", kind, d.client.name, d.path)
	if d.exch != nil {
		fmt.Fprintf(&sb, " %s", d.exch.Collection)
		for _, u := range d.exch.Uploads {
			fmt.Fprintf(&sb, " up(%s b%d s%d %x hlc %d)", u.ID, u.Base, u.Seen, u.FP[:4], u.HLC)
		}
		if len(d.exch.Downloads) > 0 {
			fmt.Fprintf(&sb, " down%v", d.exch.Downloads)
		}
	}
	if d.resolve != nil {
		fmt.Fprintf(&sb, " %s/%s close %d", d.resolve.Collection, d.resolve.ID, len(d.resolve.Close))
		if u := d.resolve.Put; u != nil {
			fmt.Fprintf(&sb, " put(b%d s%d %x hlc %d)", u.Base, u.Seen, u.FP[:4], u.HLC)
		}
	}
	fmt.Fprintf(&sb, " -> %d", status)
	if status != http.StatusOK {
		var pe protocol.Error
		if protocol.Unmarshal(body, &pe) == nil {
			fmt.Fprintf(&sb, " %s", pe.Code)
		}
		return sb.String()
	}
	if d.exch != nil {
		var resp protocol.ExchangeResponse
		if protocol.Unmarshal(body, &resp) == nil {
			for _, r := range resp.Results {
				fmt.Fprintf(&sb, " %s:%s@%d", r.ID, r.Status, r.Version)
			}
			for _, it := range resp.Items {
				fmt.Fprintf(&sb, " item(%s@%d)", it.ID, it.Version)
			}
			if len(resp.Deferred) > 0 {
				fmt.Fprintf(&sb, " deferred%v", resp.Deferred)
			}
		}
	}
	if d.resolve != nil {
		var resp protocol.ResolveResponse
		if protocol.Unmarshal(body, &resp) == nil && resp.Result != nil {
			fmt.Fprintf(&sb, " %s@%d", resp.Result.Status, resp.Result.Version)
		}
	}
	return sb.String()
}
