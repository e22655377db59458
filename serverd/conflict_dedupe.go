package serverd

import (
	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// keptKey identifies a version a manual conflict record keeps: the item,
// the uploaded fingerprint, the uploader and the server version it lost to.
type keptKey struct {
	id       string
	fp       fingerprint.Fingerprint
	replica  changelog.ReplicaID
	againstV changelog.Seq
}

// keptConflicts finds the manual conflict record that already keeps an
// upload, so that an upload sent again (its exchange's response was lost,
// and the next session planned it afresh with a new batch ID) is not kept
// twice. It reads the collection's records once, on first use.
type keptConflicts struct {
	tx         storage.Tx
	user, coll string
	ids        map[keptKey]string // nil until loaded
}

// find returns the ID of the record keeping k, "" if there is none.
func (kc *keptConflicts) find(k keptKey) (string, error) {
	if kc.ids == nil {
		kc.ids = map[keptKey]string{}
		err := kc.tx.Conflicts(kc.user, kc.coll, func(c storage.Conflict) error {
			if c.Reason == protocol.ReasonManual {
				kc.ids[keptKey{c.Entry.ID, c.Entry.Fingerprint, c.Entry.Replica, c.ServerVersion}] = c.ConflictID
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return kc.ids[k], nil
}
