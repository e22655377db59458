package conformance_test

import (
	"net/http"

	"github.com/syncprint/syncprint/internal/coding"
)

// Client mutants of the content codings (SP-3-8): our clientd behind a
// proxy that encodes, relabels or strips bodies the way a client with a
// faulty coding layer would.

// reencode returns body, sent in coding from ("" for none), in coding to
// ("" for none); ok is false when it does not decode.
func reencode(body []byte, from, to string) ([]byte, bool) {
	plain, err := proxyDecoder.Decode(from, body)
	if err != nil {
		return body, false
	}
	if to == "" {
		return plain, true
	}
	z, err := proxyEncoder.Encode(to, nil, plain)
	return z, err == nil
}

func init() {
	clientMutants = append(clientMutants,
		clientMutant{name: "encodes-unasked", doc: "encodes request bodies in gzip although the server announces no coding", cases: []string{"client/session/handshake-and-headers"},
			before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
				if len(body) == 0 || r.Header.Get("Content-Encoding") != "" {
					return body
				}
				z, _ := reencode(body, "", coding.Gzip)
				r.Header.Set("Content-Encoding", coding.Gzip)
				return z
			}},
		clientMutant{name: "mislabels-request-coding", doc: "labels a zstd request body gzip and a gzip one zstd", cases: []string{"client/coding/requests-in-announced-codings"},
			before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
				switch r.Header.Get("Content-Encoding") {
				case coding.Zstd:
					r.Header.Set("Content-Encoding", coding.Gzip)
				case coding.Gzip:
					r.Header.Set("Content-Encoding", coding.Zstd)
				}
				return body
			}},
		clientMutant{name: "always-zstd", doc: "encodes request bodies of 1 KiB or more in zstd whatever the server announces", cases: []string{"client/coding/only-announced-codings"},
			before: func(cp *clientProxy, r *http.Request, body []byte) []byte {
				c, err := coding.ParseContentEncoding(r.Header.Values("Content-Encoding"))
				if err != nil {
					return body
				}
				plain, ok := reencode(body, c, "")
				if !ok || len(plain) < coding.MinSize {
					return body
				}
				z, _ := reencode(plain, "", coding.Zstd)
				r.Header.Set("Content-Encoding", coding.Zstd)
				return z
			}},
		clientMutant{name: "ignores-response-coding", doc: "reads an encoded response as if it were not encoded", cases: []string{"client/coding/decodes-responses"},
			respHeader: func(h http.Header) { h.Del("Content-Encoding") }},
		clientMutant{name: "first-frame-only", doc: "decodes the first zstd frame or gzip member of a response and drops the rest", cases: []string{"client/coding/decodes-responses"},
			respBody: func(h http.Header, body []byte) []byte {
				c, err := coding.ParseContentEncoding(h.Values("Content-Encoding"))
				if err != nil || c == "" {
					return body
				}
				if first, ok := firstPart(c, body); ok {
					if z, err := proxyEncoder.Encode(c, nil, first); err == nil {
						return z
					}
				}
				return body
			}},
	)
}
