package serverd

import (
	"context"
	"errors"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Errors of Open.
var (
	// ErrInvalidConfig is returned by Open when a Config field is out of
	// range; the message names the field.
	ErrInvalidConfig = errors.New("serverd: invalid config")
	// ErrDataDirLocked is returned by Open when another process has the
	// data directory's database open.
	ErrDataDirLocked = errors.New("serverd: data dir is in use by another process")
)

// Errors of a running server.
var (
	// ErrClosed is returned by CreateToken and UserCount after Shutdown.
	ErrClosed = errors.New("serverd: server is shut down")
	// ErrInvalidName is returned by CreateToken for a user or device name
	// outside protocol.ValidateName.
	ErrInvalidName = errors.New("serverd: invalid user or device name")
)

// errorToCode maps server-side sentinels to wire codes; any error without
// a mapping and without a *protocol.Error inside is CodeInternal.
var errorToCode = []struct {
	err  error
	code protocol.Code
}{
	{ErrClosed, protocol.CodeUnavailable},
	{storage.ErrClosed, protocol.CodeUnavailable},
	{context.Canceled, protocol.CodeUnavailable},
	{context.DeadlineExceeded, protocol.CodeUnavailable},
}

// toWire returns the wire error for err and whether it is a server fault
// (to be logged at error level).
func toWire(err error) (*protocol.Error, bool) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe, pe.Code == protocol.CodeInternal
	}
	for _, m := range errorToCode {
		if errors.Is(err, m.err) {
			return protocol.Errorf(m.code, "server is shutting down"), false
		}
	}
	return protocol.Errorf(protocol.CodeInternal, "internal server error; nothing was applied"), true
}
