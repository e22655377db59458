package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// rawClient speaks the protocol directly: the many-raw workload's load
// generator, which measures what the server sustains without the cost of
// 200 embedded clients (their stores, planning and sessions) on the same
// cores. Each cycle is one exchange of Edits uploads of items whose
// current versions the client tracks from the results - what a client
// sends once its session has planned them, in the same codings and with
// the same headers (zstd both ways when it pays, SP-3-8).
type rawClient struct {
	hc       *http.Client
	url, tok string
	coll     string
	versions map[string]uint64 // item ID -> current version
	hlc      *changelog.Clock
	codec    *rawCodec // shared by every client of the process
}

// rawCodec encodes the raw clients' requests and decodes their responses.
type rawCodec struct {
	enc *coding.Encoder
	dec sync.Pool // *coding.Decoder: one per concurrent request
}

func newRawCodec() (*rawCodec, error) {
	enc, err := coding.NewEncoder()
	if err != nil {
		return nil, err
	}
	return &rawCodec{enc: enc}, nil
}

// decode returns a response body decoded from its Content-Encoding.
func (c *rawCodec) decode(resp *http.Response, body []byte) ([]byte, error) {
	cc, err := coding.ParseContentEncoding(resp.Header.Values("Content-Encoding"))
	if err != nil || cc == "" {
		return body, err
	}
	d, _ := c.dec.Get().(*coding.Decoder)
	if d == nil {
		if d, err = coding.NewDecoder(256 << 20); err != nil {
			return nil, err
		}
	}
	defer c.dec.Put(d)
	out, err := d.Decode(cc, body)
	return bytes.Clone(out), err
}

// exchange sends one exchange of the given items and records the new
// versions; it returns how many the server applied.
func (rc *rawClient) exchange(ctx context.Context, items map[string][]byte) (int, error) {
	req := protocol.ExchangeRequest{Collection: rc.coll, BatchID: newRawBatchID(), Uploads: make([]protocol.Upload, 0, len(items))}
	for id, content := range items {
		v := rc.versions[id]
		fp := fingerprint.Of(id, false, content)
		req.Uploads = append(req.Uploads, protocol.Upload{ID: id, Base: v, Seen: v, FP: fp.Bytes(), HLC: uint64(rc.hlc.Now()), Content: content})
	}
	body, err := protocol.Marshal(&req)
	if err != nil {
		return 0, err
	}
	var bodyCoding string
	if len(body) >= coding.MinSize {
		z, err := rc.codec.enc.Encode(coding.Zstd, nil, body)
		if err != nil {
			return 0, err
		}
		if coding.Pays(len(body), len(z), coding.Zstd) {
			body, bodyCoding = z, coding.Zstd
		}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, rc.url+protocol.PathExchange, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	hr.Header.Set("User-Agent", "syncprint")
	hr.Header.Set(protocol.HeaderVersion, strconv.Itoa(protocol.Version))
	hr.Header.Set("Authorization", "Bearer "+rc.tok)
	hr.Header.Set("Content-Type", protocol.ContentType)
	if bodyCoding != "" {
		hr.Header.Set("Content-Encoding", bodyCoding)
	}
	hr.Header.Set("Accept-Encoding", coding.Zstd)
	resp, err := rc.hc.Do(hr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("exchange: HTTP %d", resp.StatusCode)
	}
	if b, err = rc.codec.decode(resp, b); err != nil {
		return 0, fmt.Errorf("exchange: response body: %w", err)
	}
	var out protocol.ExchangeResponse
	if err := protocol.Unmarshal(b, &out); err != nil {
		return 0, err
	}
	applied := 0
	for _, r := range out.Results {
		rc.versions[r.ID] = r.Version
		if r.Status == protocol.StatusApplied {
			applied++
		}
	}
	return applied, nil
}

var rawBatchSeq struct {
	mu sync.Mutex // guards n
	n  uint64
}

// newRawBatchID returns a batch ID unique within the process (the
// protocol asks for random ones from clients; a load generator that never
// retries only needs them distinct).
func newRawBatchID() string {
	rawBatchSeq.mu.Lock()
	rawBatchSeq.n++
	n := rawBatchSeq.n
	rawBatchSeq.mu.Unlock()
	return fmt.Sprintf("raw-%d-%016d", time.Now().UnixNano(), n)
}

// prepareManyRaw is OpMany with Raw set.
func prepareManyRaw(ctx context.Context, job Job) (step, error) {
	m := job.Many
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = len(m.Clients) + 1
	exch := &latencies{}
	hc := &http.Client{Transport: exchangeTimer{base: tr, lat: exch}, Timeout: time.Minute}
	codec, err := newRawCodec()
	if err != nil {
		return step{}, err
	}
	clients := make([]*rawClient, len(m.Clients))
	for k, mc := range m.Clients {
		clients[k] = &rawClient{hc: hc, url: job.Server, tok: mc.Token, coll: mc.Collection, versions: map[string]uint64{}, hlc: changelog.NewClock(nil), codec: codec}
	}
	// Setup, untimed: each client writes its items.
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	sem := make(chan struct{}, 8)
	for _, rc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			items := make(map[string][]byte, m.Items)
			for i := range m.Items {
				id := itemID(i)
				items[id] = Content(job.Content, id, "m0")
			}
			if _, err := rc.exchange(ctx, items); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return step{}, fmt.Errorf("setup: %w", err)
	}
	if m.WarmupMillis > 0 {
		if res := runManyRaw(ctx, m, job.Content, clients, exch, time.Duration(m.WarmupMillis)*time.Millisecond, "w"); res.Errors > 0 {
			return step{}, fmt.Errorf("warm-up: %d of %d exchanges failed, the first: %s", res.Errors, res.Errors+res.Syncs, res.FirstError)
		}
	}
	exch.reset()
	return step{
		timed: func(ctx context.Context) (Message, error) {
			res := runManyRaw(ctx, m, job.Content, clients, exch, time.Duration(m.DurationMillis)*time.Millisecond, "m")
			return Message{Uploaded: res.Applied, Many: res}, nil
		},
		verify: func(ctx context.Context) error {
			// Every client's items are at the versions its last results
			// reported: nothing applied was lost, nothing else moved them.
			for k, rc := range clients {
				var resp protocol.ChangesResponse
				body, _ := protocol.Marshal(&protocol.ChangesRequest{Collection: rc.coll, Limit: m.Items + 1})
				hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.url+protocol.PathChanges, bytes.NewReader(body))
				hr.Header.Set(protocol.HeaderVersion, strconv.Itoa(protocol.Version))
				hr.Header.Set("Authorization", "Bearer "+rc.tok)
				hr.Header.Set("Accept-Encoding", "identity")
				r, err := hc.Do(hr)
				if err != nil {
					return err
				}
				b, err := io.ReadAll(r.Body)
				r.Body.Close()
				if err != nil || r.StatusCode != http.StatusOK {
					return fmt.Errorf("client %d: changes: HTTP %d %v", k, r.StatusCode, err)
				}
				if err := protocol.Unmarshal(b, &resp); err != nil {
					return err
				}
				if len(resp.Changes) != m.Items {
					return fmt.Errorf("client %d: %d items on the server, want %d", k, len(resp.Changes), m.Items)
				}
				for _, c := range resp.Changes {
					if rc.versions[c.ID] != c.Version {
						return fmt.Errorf("client %d: %s at version %d on the server, %d acknowledged", k, c.ID, c.Version, rc.versions[c.ID])
					}
				}
			}
			return nil
		},
		close: func() {},
	}, nil
}

// runManyRaw is the timed phase of many-raw (and its warm-up): like
// runMany, with one exchange per cycle instead of a session.
func runManyRaw(ctx context.Context, m *ManySpec, spec ContentSpec, clients []*rawClient, exch *latencies, d time.Duration, tag string) *ManyResult {
	start := time.Now()
	deadline := start.Add(d)
	interval := time.Duration(m.IntervalMillis) * time.Millisecond
	var mu sync.Mutex // guards res
	res := &ManyResult{Clients: len(clients)}
	var wg sync.WaitGroup
	for k, rc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paceCycles(ctx, m, spec, start, deadline, interval, k, len(clients), tag, func(batch map[string][]byte) {
				n, err := rc.exchange(ctx, batch)
				mu.Lock()
				res.Edited += len(batch)
				if err != nil {
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Syncs++
					res.Applied += n
				}
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.ExchangeP50, res.ExchangeP99, _, res.Exchanges = exch.percentiles()
	res.SyncP50, res.SyncP99 = res.ExchangeP50, res.ExchangeP99
	return res
}
