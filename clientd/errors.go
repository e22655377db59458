package clientd

import (
	"errors"
	"time"

	"github.com/syncprint/syncprint/protocol"
)

// Errors of the local store.
var (
	// ErrNotFound is returned by Get and Delete when the item does not exist
	// or is deleted, and by Resolve when the item has no conflict record or
	// the named conflict does not exist.
	ErrNotFound = errors.New("clientd: not found")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("clientd: client is closed")
	// ErrStarted is returned by Start when the loop already runs.
	ErrStarted = errors.New("clientd: background loop already started")
)

// Errors of a sync session.
var (
	// ErrOffline is returned by Sync and by Resolve of a server conflict when
	// the Config has no ServerURL or no Token: the client is offline-only.
	ErrOffline = errors.New("clientd: no server configured (offline-only client)")
	// ErrFingerprint is returned when a downloaded item failed verification:
	// its content does not hash to the fingerprint the server sent. Nothing
	// from that response was stored.
	ErrFingerprint = errors.New("clientd: downloaded item failed fingerprint verification")
	// ErrNetwork wraps transport failures (connection refused, reset,
	// timeout, a response that is not a protocol message). They are retried.
	ErrNetwork = errors.New("clientd: network error")
	// ErrProtocol is returned when a server's 200 response cannot be decoded
	// or breaks the protocol (an unknown upload status). The request is not
	// retried within the session; a later session may try again.
	ErrProtocol = errors.New("clientd: protocol violation by the server")
	// ErrIncompatible is returned when the server speaks no protocol version
	// this client speaks ("server too new" or "server too old").
	ErrIncompatible = errors.New("clientd: incompatible server")
	// ErrStale is returned by Resolve when the item changed on the server
	// since the last sync; Resolve has synced again and the caller should
	// look at the item and its conflicts once more.
	ErrStale = errors.New("clientd: item changed on the server; synced, resolve again")
	// ErrWrongReplica is returned by Sync when the token identifies another
	// device (user/device) than the one the store was synced as: syncing
	// would mix two replicas' data. Use a new store for a new identity.
	ErrWrongReplica = errors.New("clientd: token belongs to another replica than the store")
	// ErrResolution is returned by Resolve when the Resolution does not set
	// exactly one choice.
	ErrResolution = errors.New("clientd: a resolution sets exactly one of UseConflict, Content, Delete, KeepCurrent")
)

// Retryable reports whether a failed Sync may succeed if tried again later
// (in a later session, after a backoff): network errors, failed
// verification, protocol violations and the protocol's retryable codes.
// Other protocol errors (unauthorized, invalid names, ...) and local store
// errors are final until something changes.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNetwork) || errors.Is(err, ErrFingerprint) || errors.Is(err, ErrProtocol) {
		return true
	}
	return protocol.CodeOf(err).Retryable()
}

// RetryAfter returns the wait a server asked for with Retry-After, or 0.
func RetryAfter(err error) time.Duration {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.RetryAfterSeconds > 0 {
		return time.Duration(pe.RetryAfterSeconds) * time.Second
	}
	return 0
}
