package protocol

// WatchRequest is the body of POST /v1/watch, the long-poll [SP-8].
type WatchRequest struct {
	// Cursors maps each collection the client holds to its cursor. Any other
	// collection of the user that holds items counts as changed.
	Cursors map[string]string `msgpack:"cursors"`
	// TimeoutMillis is the longest wait; 0 means the server's default, and
	// values over watch_max_ms are lowered to it.
	TimeoutMillis int `msgpack:"timeout_ms"`
}

// WatchResponse names the collections with changes past the given cursors;
// it is empty when the wait timed out.
type WatchResponse struct {
	Changed []string `msgpack:"changed"`
}
