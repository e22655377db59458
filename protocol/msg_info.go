package protocol

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

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
	// Tag names every other key of this Info but ServerTime, Collections
	// and ConflictsSeq, which change from one request to the next, when the
	// server announces FeatureInfoTag; omitted when empty [SP-3-16].
	Tag string `msgpack:"tag,omitempty"`
	// Collections and ConflictsSeq are those a CollectionsResponse made at
	// the same moment would carry, when the server announces
	// FeatureInfoCollections and the request carried a valid token
	// [SP-3-15]; omitted when empty or zero.
	Collections  []Collection `msgpack:"collections,omitempty"`
	ConflictsSeq uint64       `msgpack:"conflicts_seq,omitempty"`
}

// InfoShort is the body of GET /v1/info that carried the tag of the Info
// the server would send (HeaderInfoTag): its changing part only. Every
// other key of that Info is the one of the full Info the tag came with
// [SP-3-16].
type InfoShort struct {
	ServerTime   uint64       `msgpack:"server_time"`
	Tag          string       `msgpack:"tag"`
	Collections  []Collection `msgpack:"collections,omitempty"`
	ConflictsSeq uint64       `msgpack:"conflicts_seq,omitempty"`
}

// Short returns the changing part of i, as a server answers it to a
// request that carried i's tag.
func (i *Info) Short() *InfoShort {
	return &InfoShort{ServerTime: i.ServerTime, Tag: i.Tag, Collections: i.Collections, ConflictsSeq: i.ConflictsSeq}
}

// IsShort reports whether a decoded Info is an InfoShort: it has a tag and
// no versions, which every full Info lists.
func (i *Info) IsShort() bool { return i.Tag != "" && len(i.Versions) == 0 }

// WithStatic returns the Info that the InfoShort i stands for: full's
// unchanging keys with i's changing ones.
func (i *Info) WithStatic(full *Info) *Info {
	out := *full
	out.ServerTime, out.Tag, out.Collections, out.ConflictsSeq = i.ServerTime, i.Tag, i.Collections, i.ConflictsSeq
	return &out
}

// InfoTag returns the reference server's tag of i [SP-3-16]: the
// unpadded base64url encoding of the first 12 bytes of the SHA-256 of i's
// canonical encoding with server_time, tag, collections and conflicts_seq
// at their zero values. Any change of another key changes it (but for a
// collision of SHA-256).
func InfoTag(i *Info) string {
	static := *i
	static.ServerTime, static.Tag, static.Collections, static.ConflictsSeq = 0, "", nil, 0
	b, err := Marshal(&static)
	if err != nil {
		panic(fmt.Sprintf("protocol: encode Info: %v", err)) // an Info always encodes
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// ValidInfoTag reports whether tag may be an Info tag: 1 to 64 characters
// from A-Z, a-z, 0-9, '-' and '_' [SP-3-16].
func ValidInfoTag(tag string) bool {
	if len(tag) == 0 || len(tag) > 64 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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
