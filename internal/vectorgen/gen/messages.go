package gen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/syncprint/syncprint/protocol"
)

// MessagesFile is the layout of messages.json.
type MessagesFile struct {
	Comment  string        `json:"comment"`
	Messages []MessageCase `json:"messages"`
}

// MessageCase is one message in canonical form: its field values (Value,
// rendered from the bytes as described at [Render]) and its bytes, both in
// Hex and in the raw file File.
type MessageCase struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Endpoint    string          `json:"endpoint"`
	Direction   string          `json:"direction"`
	Description string          `json:"description"`
	File        string          `json:"file"`
	Hex         string          `json:"hex"`
	Value       json.RawMessage `json:"value"`
}

// NewMessage returns a pointer to a zero message of the named type, for
// decoding a vector; nil for an unknown name.
func NewMessage(typ string) any {
	switch typ {
	case "Info":
		return new(protocol.Info)
	case "InfoShort":
		return new(protocol.InfoShort)
	case "CollectionsRequest":
		return new(protocol.CollectionsRequest)
	case "CollectionsResponse":
		return new(protocol.CollectionsResponse)
	case "ChangesRequest":
		return new(protocol.ChangesRequest)
	case "ChangesResponse":
		return new(protocol.ChangesResponse)
	case "ExchangeRequest":
		return new(protocol.ExchangeRequest)
	case "ExchangeResponse":
		return new(protocol.ExchangeResponse)
	case "WatchRequest":
		return new(protocol.WatchRequest)
	case "WatchResponse":
		return new(protocol.WatchResponse)
	case "ConflictsRequest":
		return new(protocol.ConflictsRequest)
	case "ConflictsResponse":
		return new(protocol.ConflictsResponse)
	case "ResolveRequest":
		return new(protocol.ResolveRequest)
	case "ResolveResponse":
		return new(protocol.ResolveResponse)
	case "TokenRequest":
		return new(protocol.TokenRequest)
	case "TokenResponse":
		return new(protocol.TokenResponse)
	case "Error":
		return new(protocol.Error)
	}
	return nil
}

// exampleSecret keys the example cursors. Cursors are opaque to clients;
// the vectors show ones in the reference server's format for realism.
var exampleSecret = []byte("example server secret, vectors only")

// cursorAt returns the reference server's cursor for a version of a
// collection of the example user: 1.<epoch>.<version>.<mac>.
func cursorAt(collection string, version uint64) string {
	m := hmac.New(sha256.New, exampleSecret)
	fmt.Fprintf(m, "%s\x00%s\x00%s\x00%d", user, collection, epoch, version)
	return fmt.Sprintf("1.%s.%d.%s", epoch, version, hex.EncodeToString(m.Sum(nil))[:16])
}

// Example identifiers.
const (
	batchID   = "q3Vb8mZ0xT1nR5kW7pL2aA"
	conflictA = "k7w2m9q4x1z8v3b6n5r0t2y7ha"
	conflictB = "p2d8f4j6l1s9g3h5c7v0b2n4mq"
)

// exampleToken returns a token in the reference format: sp_ + base64url of
// 32 bytes (here not random but fixed).
func exampleToken() string {
	sum := sha256.Sum256([]byte("example token, vectors only"))
	return "sp_" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func exampleInfo(authenticated bool) protocol.Info {
	info := protocol.Info{
		Versions:      []int{protocol.Version},
		Server:        serverVer,
		Epoch:         epoch,
		Limits:        protocol.DefaultLimits(),
		Rules:         map[string]protocol.Rule{"journal": protocol.LatestWins, "settings": protocol.ClientWins, "shared": protocol.Manual},
		DefaultRule:   protocol.ServerWins,
		MaxSkewMillis: protocol.DefaultMaxSkewMillis,
		ServerTime:    uint64(hlcAt(0, 0)),
		Features:      []string{protocol.FeatureWatch, protocol.FeatureConflicts, protocol.FeatureAdmin},
	}
	if authenticated {
		info.User, info.Replica = user, phone
	}
	return info
}

// message is one entry before rendering.
type message struct {
	name, endpoint, direction, description string
	value                                  any
}

func exampleMessages() []message {
	text := func(s string) []byte { return []byte(s) }
	ci := func(id string, v uint64, deleted bool, content []byte, h uint64, replica string) protocol.ChangeInfo {
		return protocol.ChangeInfo{ID: id, Version: v, FP: fpOf(id, deleted, content), HLC: h, Deleted: deleted, Replica: replica, Size: uint32(len(content))}
	}
	item := func(id string, v uint64, deleted bool, content []byte, h uint64, replica string) protocol.Item {
		return protocol.Item{ID: id, Version: v, FP: fpOf(id, deleted, content), HLC: h, Deleted: deleted, Replica: replica, Content: content}
	}
	up := func(id string, base, seen uint64, deleted bool, content []byte, h uint64) protocol.Upload {
		return protocol.Upload{ID: id, Base: base, Seen: seen, FP: fpOf(id, deleted, content), HLC: h, Deleted: deleted, Content: content}
	}
	h := func(d uint64) uint64 { return uint64(hlcAt(d, 0)) }

	currentS := ci("note-s", 9, false, text("edited on the laptop"), h(4000), laptop)
	currentR := ci("note-r", 7, false, text("server copy"), h(3000), laptop)
	currentM := ci("note-m", 8, false, text("server draft"), h(3500), laptop)
	putB := up("note-m", 8, 8, false, text("merged draft"), h(9000))

	return []message{
		{"info_anonymous", "GET /v1/info", "response", "the handshake without a token: user and replica empty", exampleInfo(false)},
		{"info_authenticated", "GET /v1/info", "response", "the handshake with a valid token of alice/phone", exampleInfo(true)},
		{"info_with_collections", "GET /v1/info", "response", "the handshake with a valid token of a server that announces info-collections: the caller's collections and conflicts_seq, as collections_response (SP-3-15)", func() protocol.Info {
			info := exampleInfo(true)
			info.Features = append(info.Features, protocol.FeatureInfoCollections)
			info.Collections = []protocol.Collection{
				{Name: "journal", Rule: protocol.LatestWins, Head: 12},
				{Name: coll, Rule: protocol.ServerWins, Head: 3},
			}
			info.ConflictsSeq = 7
			return info
		}()},
		{"info_tagged", "GET /v1/info", "response", "the handshake of info_with_collections from a server that also announces info-tag: the tag of its unchanging keys (SP-3-16)", taggedInfo()},
		{"info_short", "GET /v1/info", "response", "the answer to the request of info_tagged sent again with Syncprint-Info-Tag set to its tag, the Info unchanged but for its server time: the changing keys only (SP-3-16)", func() protocol.InfoShort {
			info := taggedInfo()
			info.ServerTime += 1 << 16
			return *info.Short()
		}()},
		{"collections_request", "POST /v1/collections", "request", "the empty request map", protocol.CollectionsRequest{}},
		{"collections_response", "POST /v1/collections", "response", "two collections, ordered by name", protocol.CollectionsResponse{Collections: []protocol.Collection{
			{Name: "journal", Rule: protocol.LatestWins, Head: 12},
			{Name: coll, Rule: protocol.ServerWins, Head: 3},
		}, ConflictsSeq: 7}},
		{"changes_request_initial", "POST /v1/changes", "request", "first pull: empty cursor, server's default page size", protocol.ChangesRequest{Collection: coll}},
		{"changes_request_resume", "POST /v1/changes", "request", "resuming from a cursor with an explicit limit", protocol.ChangesRequest{Collection: coll, Cursor: cursorAt(coll, 1), Limit: 500}},
		{"changes_response", "POST /v1/changes", "response", "one page holding an edit and a tombstone", protocol.ChangesResponse{
			Changes: []protocol.ChangeInfo{
				ci("note-a", 2, false, text("Buy milk and eggs\n"), h(1000), laptop),
				ci("note-c", 3, true, nil, h(2000), laptop),
			},
			Cursor: cursorAt(coll, 3), More: false, Head: 3,
		}},
		{"changes_request_content", "POST /v1/changes", "request", "first pull of a client with no local change, asking for the contents (SP-6.1-8)", protocol.ChangesRequest{Collection: coll, Limit: 1000, Content: true}},
		{"changes_response_content", "POST /v1/changes", "response", "the page of changes_response with the contents asked for: nil for the tombstone (SP-6.1-8)", protocol.ChangesResponse{
			Changes: []protocol.ChangeInfo{
				ci("note-a", 2, false, text("Buy milk and eggs\n"), h(1000), laptop),
				ci("note-c", 3, true, nil, h(2000), laptop),
			},
			Cursor: cursorAt(coll, 3), More: false, Head: 3,
			Contents: [][]byte{text("Buy milk and eggs\n"), nil},
		}},
		{"changes_response_empty", "POST /v1/changes", "response", "an empty page: the cursor of version 0 for a request cursor \"\"", protocol.ChangesResponse{Cursor: cursorAt(coll, 0), Head: 0}},
		{"exchange_request", "POST /v1/exchange", "request", "five uploads (one a tombstone) and four downloads", protocol.ExchangeRequest{
			Collection: coll, BatchID: batchID, Cursor: cursorAt(coll, 9),
			Uploads: []protocol.Upload{
				up("note-b", 0, 0, false, text("a new note\n"), h(5000)),
				up("note-x", 5, 5, false, text("same on both"), h(5001)),
				up("note-s", 6, 6, false, text("edited on the phone"), h(5002)),
				up("note-r", 7, 7, true, nil, h(5003)),
				up("note-m", 8, 8, false, text("phone draft"), h(5004)),
			},
			Downloads: []string{"note-d", "note-e", "note-g", "note-h"},
		}},
		{"exchange_response", "POST /v1/exchange", "response", "every upload status, downloaded items (one a tombstone), missing and deferred IDs", protocol.ExchangeResponse{
			Results: []protocol.UploadResult{
				{ID: "note-b", Status: protocol.StatusApplied, Version: 10, HLC: h(5000)},
				{ID: "note-x", Status: protocol.StatusUnchanged, Version: 5}, // hlc 0: only applied carries one [SP-6.3-6]
				{ID: "note-s", Status: protocol.StatusStale, Version: 9, Current: &currentS},
				{ID: "note-r", Status: protocol.StatusRejected, Version: 7, Current: &currentR},
				{ID: "note-m", Status: protocol.StatusConflict, Version: 8, Conflict: conflictA, Current: &currentM},
			},
			Items: []protocol.Item{
				item("note-d", 4, false, text("downloaded"), h(2500), laptop),
				item("note-e", 6, true, nil, h(2600), laptop),
				item("note-r", 7, false, text("server copy"), h(3000), laptop),
				item("note-m", 8, false, text("server draft"), h(3500), laptop),
			},
			Missing:      []string{"note-g"},
			Deferred:     []string{"note-h"},
			Cursor:       cursorAt(coll, 9),
			Head:         10,
			ConflictsSeq: 8, // the conflict upload stored a record [SP-10-8]
		}},
		{"watch_request", "POST /v1/watch", "request", "two collections with their cursors, 30 s wait", protocol.WatchRequest{
			Cursors: map[string]string{coll: cursorAt(coll, 10), "journal": cursorAt("journal", 12)}, TimeoutMillis: 30000,
		}},
		{"watch_response", "POST /v1/watch", "response", "one collection changed", protocol.WatchResponse{Changed: []string{coll}}},
		{"watch_response_timeout", "POST /v1/watch", "response", "the wait timed out: nothing changed", protocol.WatchResponse{}},
		{"conflicts_request", "POST /v1/conflicts", "request", "open records of one collection", protocol.ConflictsRequest{Collection: coll}},
		{"conflicts_request_all", "POST /v1/conflicts", "request", "open records of every collection", protocol.ConflictsRequest{}},
		{"conflicts_response", "POST /v1/conflicts", "response", "a manual record and an overwritten record, oldest first", protocol.ConflictsResponse{Conflicts: []protocol.Conflict{
			{ConflictID: conflictA, Collection: coll, ID: "note-m", Reason: protocol.ReasonManual, ServerVersion: 8, Base: 8,
				FP: fpOf("note-m", false, text("phone draft")), HLC: h(5004), Replica: phone, Content: text("phone draft"), CreatedMillis: baseMillis + 6000},
			{ConflictID: conflictB, Collection: "journal", ID: "day-1", Reason: protocol.ReasonOverwritten, ServerVersion: 11, Base: 0,
				FP: fpOf("day-1", false, text("laptop entry")), HLC: h(5500), Replica: laptop, Content: text("laptop entry"), CreatedMillis: baseMillis + 7000},
		}}},
		{"resolve_request", "POST /v1/conflicts/resolve", "request", "close one record and write the merged version", protocol.ResolveRequest{Collection: coll, ID: "note-m", Close: []string{conflictA}, Put: &putB}},
		{"resolve_response", "POST /v1/conflicts/resolve", "response", "the record closed and the put applied", protocol.ResolveResponse{Closed: []string{conflictA}, Result: &protocol.UploadResult{ID: "note-m", Status: protocol.StatusApplied, Version: 11, HLC: h(9000)}}},
		{"resolve_request_close_only", "POST /v1/conflicts/resolve", "request", "close a record, keep the server's version", protocol.ResolveRequest{Collection: "journal", ID: "day-1", Close: []string{conflictB}}},
		{"resolve_response_close_only", "POST /v1/conflicts/resolve", "response", "the record closed; no put, so no result", protocol.ResolveResponse{Closed: []string{conflictB}}},
		{"resolve_request_batch", "POST /v1/conflicts/resolve", "request", "close a record with a batch ID, so that a retry gets the first answer (SP-10-10)", protocol.ResolveRequest{Collection: "journal", ID: "day-1", Close: []string{conflictB}, BatchID: "Qm9vdHN0cmFwQmF0Y2gx"}},
		{"token_request", "POST /v1/admin/tokens", "request", "a token for alice's phone", protocol.TokenRequest{User: user, Device: "phone"}},
		{"token_response", "POST /v1/admin/tokens", "response", "the new token, shown once", protocol.TokenResponse{Token: exampleToken(), User: user, Device: "phone"}},
		{"error_with_ids", "any", "response", "an error naming the offending items (HTTP 422)", protocol.Error{Code: protocol.CodeFingerprintMismatch, Message: "fingerprint does not match content", IDs: []string{"note-b", "note-x"}}},
		{"error_without_ids", "any", "response", "an error without ids: the key is omitted (HTTP 410)", protocol.Error{Code: protocol.CodeCursorExpired, Message: "cursor is from another server epoch"}},
	}
}

// typeName returns the message type name used in the vectors.
func typeName(v any) string {
	s := fmt.Sprintf("%T", v)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return s[i+1:]
		}
	}
	return s
}

func genMessages(files map[string][]byte) error {
	f := MessagesFile{Comment: "Canonical msgpack of every message (spec/PROTOCOL.md 4.1). value renders the bytes as JSON: bin values as lower-case hex, nil as null, integers as numbers that may exceed 2^53. Generated by internal/vectorgen; do not edit."}
	for _, m := range exampleMessages() {
		b, err := protocol.Marshal(Canonical(m.value))
		if err != nil {
			return fmt.Errorf("message %s: %w", m.name, err)
		}
		v, err := Render(b)
		if err != nil {
			return fmt.Errorf("message %s: %w", m.name, err)
		}
		file := "messages/" + m.name + ".msgpack"
		files[file] = b
		f.Messages = append(f.Messages, MessageCase{
			Name: m.name, Type: typeName(m.value), Endpoint: m.endpoint, Direction: m.direction,
			Description: m.description, File: file, Hex: hex.EncodeToString(b), Value: v,
		})
	}
	b, err := writeJSON(f)
	if err != nil {
		return err
	}
	files["messages.json"] = b
	return nil
}

// taggedInfo is the Info of info_tagged: info_with_collections from a
// server that announces info-tag, with the reference server's tag.
func taggedInfo() protocol.Info {
	info := exampleInfo(true)
	info.Features = append(info.Features, protocol.FeatureInfoCollections, protocol.FeatureInfoTag)
	info.Collections = []protocol.Collection{
		{Name: "journal", Rule: protocol.LatestWins, Head: 12},
		{Name: coll, Rule: protocol.ServerWins, Head: 3},
	}
	info.ConflictsSeq = 7
	info.Tag = protocol.InfoTag(&info)
	return info
}
