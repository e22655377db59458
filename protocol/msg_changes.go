package protocol

// ChangesRequest is the body of POST /v1/changes: the change info of one
// collection since a cursor [SP-6.1].
type ChangesRequest struct {
	Collection string `msgpack:"collection"`
	// Cursor is "" for the beginning, or a cursor from an earlier response.
	Cursor string `msgpack:"cursor"`
	// Limit is the largest number of entries wanted; 0 means the server's
	// default page size. Over max_page is too_many_items.
	Limit int `msgpack:"limit"`
	// Content asks for the content of every entry in the response's
	// Contents [SP-6.1-8]: the items' download in the same request, for a
	// client that has no local change to compare them with.
	Content bool `msgpack:"content,omitempty"`
}

// ChangeInfo describes one item's latest change on the server, without its
// content.
type ChangeInfo struct {
	ID string `msgpack:"id"`
	// Version is the item's server version.
	Version uint64 `msgpack:"version"`
	// FP is the 32-byte fingerprint.
	FP      []byte `msgpack:"fp"`
	HLC     uint64 `msgpack:"hlc"`
	Deleted bool   `msgpack:"deleted"`
	// Replica is the device that made the change.
	Replica string `msgpack:"replica"`
	// Size is the content length in bytes.
	Size uint32 `msgpack:"size"`
}

// ChangesResponse is one page of change info, in increasing Version order.
type ChangesResponse struct {
	Changes []ChangeInfo `msgpack:"changes"`
	// Cursor resumes after the last entry of this page (or stays put when
	// the page is empty).
	Cursor string `msgpack:"cursor"`
	// More is true when entries past this page exist.
	More bool `msgpack:"more"`
	// Head is the collection's greatest server version when the page was read.
	Head uint64 `msgpack:"head"`
	// Contents, when the request asked for content, holds the content of
	// Changes[i] at Contents[i] (nil for a tombstone), for every entry
	// [SP-6.1-8]; absent otherwise, and from a server that does not offer it.
	Contents [][]byte `msgpack:"contents,omitempty"`
}
