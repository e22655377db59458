package storage

import (
	"fmt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// ToWire returns the record as it is sent in a conflicts response.
func (c Conflict) ToWire() protocol.Conflict {
	content := c.Content
	if content == nil {
		content = []byte{}
	}
	return protocol.Conflict{
		ConflictID:    c.ConflictID,
		Collection:    c.Collection,
		ID:            c.Entry.ID,
		Reason:        c.Reason,
		ServerVersion: uint64(c.ServerVersion),
		Base:          uint64(c.Base),
		FP:            c.Entry.Fingerprint.Bytes(),
		HLC:           uint64(c.Entry.HLC),
		Deleted:       c.Entry.Deleted,
		Replica:       string(c.Entry.Replica),
		Content:       content,
		CreatedMillis: c.CreatedMillis,
	}
}

// ConflictFromWire converts a wire record back; it fails if the
// fingerprint is not 32 bytes.
func ConflictFromWire(w protocol.Conflict) (Conflict, error) {
	fp, err := fingerprint.FromBytes(w.FP)
	if err != nil {
		return Conflict{}, fmt.Errorf("conflict %q: %w", w.ConflictID, err)
	}
	return Conflict{
		ConflictID: w.ConflictID,
		Collection: w.Collection,
		Entry: changelog.Entry{
			ID: w.ID, Fingerprint: fp, HLC: changelog.HLC(w.HLC), Deleted: w.Deleted,
			Replica: changelog.ReplicaID(w.Replica), Size: uint32(len(w.Content)),
		},
		Reason:        w.Reason,
		ServerVersion: changelog.Seq(w.ServerVersion),
		Base:          changelog.Seq(w.Base),
		Content:       w.Content,
		CreatedMillis: w.CreatedMillis,
	}, nil
}
