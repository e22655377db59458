package conformance_test

import (
	"net/http"
	"sync/atomic"

	"github.com/syncprint/syncprint/protocol"
)

// Mutants of the conflicts sequence number (SP-10-8).
func init() {
	var restless atomic.Uint64 // how far restless-conflicts-seq has moved the number
	mutants = append(mutants,
		mutant{name: "frozen-conflicts-seq", doc: "conflicts_seq is always 1, whatever records are stored or closed",
			after: onSeq(func(uint64) uint64 { return 1 })},
		mutant{name: "restless-conflicts-seq", doc: "conflicts_seq moves with every response, records or not",
			after: onSeq(func(v uint64) uint64 { return v + restless.Add(1) })},
	)
}

// A client that trusts a number that never moves.
func init() {
	clientMutants = append(clientMutants, clientMutant{name: "frozen-conflicts-seq", doc: "the client is shown conflicts_seq 3 whatever the server says, so it takes its copy of the records for current",
		cases: []string{"client/conflicts/lists-when-seq-moves"},
		after: func(cp *clientProxy, r *http.Request, body []byte, status int, resp []byte) (int, []byte, int) {
			x := &exchange{req: r, status: status, resp: resp}
			// Not 1, which tells a new device that there is no record at all
			// (SP-10-8) and would spare it the first listing.
			onSeq(func(uint64) uint64 { return 3 })(nil, x)
			return status, x.resp, 0
		}})
}

// onSeq rewrites the conflicts_seq of decodable collections and exchange
// responses.
func onSeq(f func(uint64) uint64) func(*proxy, *exchange) {
	return func(p *proxy, x *exchange) {
		if x.status != http.StatusOK {
			return
		}
		switch x.req.URL.Path {
		case protocol.PathCollections:
			if resp, ok := decode[protocol.CollectionsResponse](x.resp); ok {
				resp.ConflictsSeq = f(resp.ConflictsSeq)
				x.resp = encode(resp)
			}
		case protocol.PathExchange:
			if resp, ok := decode[protocol.ExchangeResponse](x.resp); ok {
				resp.ConflictsSeq = f(resp.ConflictsSeq)
				x.resp = encode(resp)
			}
		}
	}
}
