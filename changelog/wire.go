package changelog

import (
	"fmt"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// FromWire converts change info from the wire. It fails if the fingerprint
// is not 32 bytes.
func FromWire(c protocol.ChangeInfo) (Entry, error) {
	fp, err := fingerprint.FromBytes(c.FP)
	if err != nil {
		return Entry{}, fmt.Errorf("change info %q: %w", c.ID, err)
	}
	return Entry{ID: c.ID, Seq: Seq(c.Version), Fingerprint: fp, HLC: HLC(c.HLC), Deleted: c.Deleted, Replica: ReplicaID(c.Replica), Size: c.Size}, nil
}

// ToWire converts an entry to change info.
func (e Entry) ToWire() protocol.ChangeInfo {
	return protocol.ChangeInfo{ID: e.ID, Version: uint64(e.Seq), FP: e.Fingerprint.Bytes(), HLC: uint64(e.HLC), Deleted: e.Deleted, Replica: string(e.Replica), Size: e.Size}
}
