package protocol

// TokenRequest is the body of POST /v1/admin/tokens, authorised with the
// server's admin token. It creates the user if needed.
type TokenRequest struct {
	User   string `msgpack:"user"`
	Device string `msgpack:"device"`
}

// TokenResponse carries a new bearer token. It is shown once; the server
// keeps only a hash.
type TokenResponse struct {
	Token  string `msgpack:"token"`
	User   string `msgpack:"user"`
	Device string `msgpack:"device"`
}
