package protocol

// Info is the handshake, the body of GET /v1/info [SP-3].
type Info struct {
	// Versions lists the protocol versions the server speaks, ascending.
	Versions []int `msgpack:"versions"`
	// Server names the implementation, e.g. "syncprint/0.1.0".
	Server string `msgpack:"server"`
	// Epoch identifies this server's data set; cursors embed it, and a
	// cursor from another epoch is answered with cursor_expired.
	Epoch string `msgpack:"epoch"`
	// Limits are the announced limits.
	Limits Limits `msgpack:"limits"`
	// Rules maps collection names to their precedence rule.
	Rules map[string]Rule `msgpack:"rules"`
	// DefaultRule applies to every collection not in Rules.
	DefaultRule Rule `msgpack:"default_rule"`
	// MaxSkewMillis is how far ahead of the server's clock an upload's HLC
	// may be before the server replaces it with its own [SP-7-6].
	MaxSkewMillis int `msgpack:"max_skew_ms"`
	// ServerTime is the server's HLC when it answered.
	ServerTime uint64 `msgpack:"server_time"`
	// Features lists optional features the server offers.
	Features []string `msgpack:"features"`
	// User and Replica identify the caller when the request carried a valid
	// token; both are empty otherwise.
	User    string `msgpack:"user"`
	Replica string `msgpack:"replica"`
	// Collections and ConflictsSeq are those a CollectionsResponse made at
	// the same moment would carry, when the server announces
	// FeatureInfoCollections and the request carried a valid token
	// [SP-3-15]; omitted when empty or zero.
	Collections  []Collection `msgpack:"collections,omitempty"`
	ConflictsSeq uint64       `msgpack:"conflicts_seq,omitempty"`
}

// RuleFor returns the precedence rule of a collection.
func (i *Info) RuleFor(collection string) Rule {
	if r, ok := i.Rules[collection]; ok {
		return r
	}
	return i.DefaultRule
}

// CollectionsRequest is the body of POST /v1/collections. It has no fields;
// it is a map so that fields can be added.
type CollectionsRequest struct{}

// Collection describes one of the caller's collections.
type Collection struct {
	Name string `msgpack:"name"`
	Rule Rule   `msgpack:"rule"`
	// Head is the collection's greatest server version.
	Head uint64 `msgpack:"head"`
}

// CollectionsResponse lists the caller's collections that hold at least
// one item, ordered by name.
type CollectionsResponse struct {
	Collections []Collection `msgpack:"collections"`
	// ConflictsSeq is the user's conflicts sequence number: it moves
	// whenever a conflict record of the user is stored or closed, so a
	// device lists the records again only when it differs from the one of
	// its last listing. 0: the server keeps none [SP-10-8].
	ConflictsSeq uint64 `msgpack:"conflicts_seq"`
}
