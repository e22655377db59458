package conformance_test

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"

	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/protocol"
)

// Mutants of the content codings (SP-3-8, conformance/server_coding.go):
// our server behind a proxy that decodes, encodes or relabels bodies the
// way a server with a faulty coding layer would.

// requestCoding returns the coding a request names ("" for none or one the
// proxy does not know).
func requestCoding(x *exchange) string {
	c, err := coding.ParseContentEncoding(x.req.Header.Values("Content-Encoding"))
	if err != nil {
		return ""
	}
	return c
}

// proxyDecoder decodes request bodies for the mutants: at most 32 MiB,
// which stands for "all of it" (the server's max_body_bytes is 20 MiB,
// the bombs of the suite decode to 4 GiB).
var proxyDecoder = func() *coding.Decoder {
	d, err := coding.NewDecoder(32 << 20)
	if err != nil {
		panic(err)
	}
	return d
}()

var proxyEncoder = func() *coding.Encoder {
	e, err := coding.NewEncoder()
	if err != nil {
		panic(err)
	}
	return e
}()

// firstPart returns what the first zstd frame or gzip member of body,
// in coding c, decodes to: what a receiver that stops there reads. The
// first frame or member is the shortest prefix of body that decodes.
func firstPart(c string, body []byte) ([]byte, bool) {
	if c != coding.Zstd && c != coding.Gzip {
		return nil, false
	}
	for k := 1; k <= len(body); k++ {
		if out, err := proxyDecoder.Decode(c, body[:k]); err == nil {
			return out, true
		}
	}
	return nil, false
}

// forwardDecoded sends body on unencoded.
func forwardDecoded(x *exchange, body []byte) {
	x.body = body
	x.req.Header.Del("Content-Encoding")
}

func init() {
	mutants = append(mutants,
		mutant{name: "refuses-zstd-bodies", doc: "zstd is announced, but a zstd request body is answered malformed_request (only gzip is decoded)",
			before: func(p *proxy, x *exchange) {
				if requestCoding(x) == coding.Zstd {
					setErr(x, protocol.CodeMalformed)
				}
			}},
		mutant{name: "lenient-coding", doc: "a request body that does not decode in its coding is served as far as it decodes, or as it is when nothing decodes",
			before: func(p *proxy, x *exchange) {
				c := requestCoding(x)
				if c == "" {
					return
				}
				out, err := proxyDecoder.Decode(c, x.body)
				switch {
				case err == nil:
					forwardDecoded(x, out)
				case c == coding.Gzip && !errors.Is(err, coding.ErrTooLarge):
					// What a gzip reader produced before it failed.
					if zr, err := stdgzip.NewReader(bytes.NewReader(x.body)); err == nil {
						partial, _ := io.ReadAll(zr)
						if len(partial) > 0 {
							forwardDecoded(x, partial)
							return
						}
					}
					forwardDecoded(x, x.body)
				case errors.Is(err, coding.ErrCorrupt):
					forwardDecoded(x, x.body)
				}
			}},
		mutant{name: "first-frame-only", doc: "a request body is decoded as far as its first zstd frame or gzip member",
			before: func(p *proxy, x *exchange) {
				if first, ok := firstPart(requestCoding(x), x.body); ok {
					forwardDecoded(x, first)
				}
			}},
		mutant{name: "unbounded-decoding", doc: "request bodies are decoded without a limit: one that decodes to a little more than max_body_bytes is served, and a bomb takes the server down",
			before: func(p *proxy, x *exchange) {
				c := requestCoding(x)
				if c == "" {
					return
				}
				out, err := proxyDecoder.Decode(c, x.body)
				switch {
				case errors.Is(err, coding.ErrTooLarge):
					x.hangUp = true // out of memory
				case err != nil:
				case x.req.URL.Path == protocol.PathExchange:
					// The message, without the unknown keys it ignores.
					if req, ok := decode[protocol.ExchangeRequest](out); ok {
						forwardDecoded(x, encode(req))
					}
				default:
					forwardDecoded(x, out)
				}
			}},
		mutant{name: "hashes-encoded-bodies", doc: "the idempotency record keeps the hash of the body as received, not decoded: a retry in another coding is batch_id_reused",
			before: func(p *proxy, x *exchange) {
				if x.req.URL.Path != protocol.PathExchange {
					return
				}
				plain := x.body
				if c := requestCoding(x); c != "" {
					var err error
					if plain, err = proxyDecoder.Decode(c, x.body); err != nil {
						return
					}
				}
				req, ok := decode[protocol.ExchangeRequest](plain)
				if !ok {
					return
				}
				key := "raw:" + x.req.Header.Get("Authorization") + "/" + req.BatchID
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.batches == nil {
					p.batches = map[string][]byte{}
				}
				if first, seen := p.batches[key]; seen && !bytes.Equal(first, x.body) {
					setErr(x, protocol.CodeBatchReused)
					return
				}
				p.batches[key] = bytes.Clone(x.body)
			}},
		mutant{name: "ignores-accept-encoding", doc: "every response is sent in gzip, whatever Accept-Encoding says",
			after: func(p *proxy, x *exchange) {
				if x.header.Get("Content-Encoding") != "" || len(x.resp) == 0 {
					return
				}
				z, err := proxyEncoder.Encode(coding.Gzip, nil, x.resp)
				if err != nil {
					panic(err)
				}
				x.resp = z
				x.header = x.header.Clone()
				x.header.Set("Content-Encoding", coding.Gzip)
			}},
		mutant{name: "strips-content-encoding", doc: "encoded responses are sent without their Content-Encoding header",
			after: func(p *proxy, x *exchange) {
				x.header = x.header.Clone()
				x.header.Del("Content-Encoding")
			}},
	)
}
