package protocol

// Upload is one item the client sends in an exchange [SP-6.3].
type Upload struct {
	ID string `msgpack:"id"`
	// Base is the server version the local edit started from; 0 when the
	// item was created locally and never synced.
	Base uint64 `msgpack:"base"`
	// Seen is the newest server version of the item the client knows of:
	// Base, or the version a change info or stale result showed. The server
	// applies the upload only if Seen is its current version.
	Seen    uint64 `msgpack:"seen"`
	FP      []byte `msgpack:"fp"`
	HLC     uint64 `msgpack:"hlc"`
	Deleted bool   `msgpack:"deleted"`
	// Content is empty for a tombstone.
	Content []byte `msgpack:"content"`
}

// ExchangeRequest is the body of POST /v1/exchange: uploads and download
// requests for one collection, applied atomically [SP-6.3].
type ExchangeRequest struct {
	Collection string `msgpack:"collection"`
	// BatchID makes the exchange idempotent: a retry with the same ID and
	// body returns the first result and applies nothing again.
	BatchID string `msgpack:"batch_id"`
	// Cursor, when not empty, is the client's current cursor; if nothing but
	// this exchange changed the collection since it, the response carries a
	// cursor past this exchange's own writes.
	Cursor    string   `msgpack:"cursor"`
	Uploads   []Upload `msgpack:"uploads"`
	Downloads []string `msgpack:"downloads"`
}

// UploadResult is the outcome of one upload, in request order.
type UploadResult struct {
	ID     string       `msgpack:"id"`
	Status UploadStatus `msgpack:"status"`
	// Version is the item's server version after the exchange.
	Version uint64 `msgpack:"version"`
	// HLC is the timestamp the server stored for an applied upload (it
	// differs from the uploaded one only when the server clamped it).
	HLC uint64 `msgpack:"hlc"`
	// Conflict is the conflict record's ID when Status is conflict.
	Conflict string `msgpack:"conflict"`
	// Current is the server's current change info for stale, rejected and
	// conflict results; nil otherwise.
	Current *ChangeInfo `msgpack:"current"`
}

// Item is an item with its content, as downloaded.
type Item struct {
	ID      string `msgpack:"id"`
	Version uint64 `msgpack:"version"`
	FP      []byte `msgpack:"fp"`
	HLC     uint64 `msgpack:"hlc"`
	Deleted bool   `msgpack:"deleted"`
	Replica string `msgpack:"replica"`
	Content []byte `msgpack:"content"`
}

// ExchangeResponse answers an exchange.
type ExchangeResponse struct {
	Results []UploadResult `msgpack:"results"`
	// Items holds the requested downloads that exist, in request order, then
	// the server's item for every rejected or conflict upload not already
	// listed.
	Items []Item `msgpack:"items"`
	// Missing lists requested IDs the collection does not hold.
	Missing []string `msgpack:"missing"`
	// Deferred lists requested IDs left out because the response reached
	// max_batch_bytes; the client asks for them again.
	Deferred []string `msgpack:"deferred"`
	// Cursor is a cursor past this exchange's writes when the request's
	// cursor was current, else the request's cursor unchanged.
	Cursor string `msgpack:"cursor"`
	// Head is the collection's greatest server version after the exchange.
	Head uint64 `msgpack:"head"`
	// ConflictsSeq is the user's conflicts sequence number after the
	// exchange (records it stored count); 0: the server keeps none
	// [SP-10-8].
	ConflictsSeq uint64 `msgpack:"conflicts_seq"`
}
