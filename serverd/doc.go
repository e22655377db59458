// Package serverd owns the Syncprint server: [Config], [Server], the HTTP
// handlers of every endpoint (spec/PROTOCOL.md), the cursor format, the
// idempotency of exchanges, the watch long-poll, conflict records, tokens
// and the admin endpoint. Storage backends live in subpackages: the
// contract in serverd/storage, the bbolt backend in serverd/boltdb.
//
// Walkthrough: [Open] validates the [Config], opens DataDir/syncprint.db
// (failing with [ErrDataDirLocked] when another process has it), and on
// first start creates the data set's epoch, the cursor MAC secret and the
// admin token (DataDir/admin.token, mode 0600). [Server.Serve] runs a
// fasthttp server whose handler processes every request in the order the
// brief fixes: route, version header, auth, rate limit, body size, decode,
// validate, act. An exchange runs in exactly one storage Update
// (one fsync per batch), stores an idempotency record holding the response
// bytes, then wakes the user's watchers. [Server.Shutdown] stops accepting,
// ends long-polls, waits for in-flight requests and closes the store.
//
// Backups: [Server.Backup] copies the data set of a running server (a bbolt
// hot backup), [BackupDataDir] that of a stopped one, and [Restore] installs
// a copy in a data directory, marked ([MarkRestored]) so that the server
// that opens it takes a new epoch (SP-3-14 of the spec): clients then pull
// again and put back what the copy lost.
//
// Caveats: authentication tokens cannot be revoked yet; rate-limit state
// and watchers are in memory and per process; an oversized body is refused
// by fasthttp before routing and auth run (it still gets the msgpack
// payload_too_large body).
package serverd
