package clientd

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// SP-10-5: a resolution's put.seen is the server version the device's
// user saw as the item's current one. A device can know of a newer
// version without ever holding it: the user edited the item while its
// download was in flight, so the client re-planned against it and kept
// the edit (SP-6.5-4), and the exchange that would have settled the two
// never got through. Resolving a record from that state with put.seen =
// seen replaced the server's version, which nobody on that device had
// seen, with no record of it (SP-10-4): another device's edit was gone.
// Found by the simulation, seed 8012471.
func TestAResolutionNeverReplacesAVersionTheDeviceNeverHeld(t *testing.T) {
	ls := startLiveServer(t, serverd.Config{DefaultRule: protocol.Manual})
	var armed atomic.Bool
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == protocol.PathExchange && armed.Load() {
			return nil, errors.New("the link went down")
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	laptop := ls.client(t, "laptop", nil)
	phone := ls.client(t, "phone", nil)
	tablet := ls.client(t, "tablet", rt)

	require.NoError(t, laptop.Put("notes", "n", []byte("v1")))
	syncOK(t, laptop)
	syncOK(t, phone)
	// The laptop's edit loses to the phone's: a record.
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	syncOK(t, phone)
	syncOK(t, laptop)
	syncOK(t, tablet) // holds the phone's version, lists the record
	cs, err := tablet.Conflicts()
	require.NoError(t, err)
	require.Len(t, cs, 1)
	lost := cs[0]
	require.Equal(t, KindServer, lost.Kind)

	// The phone writes again; the tablet's user edits while its download
	// is in flight, and the exchange that would upload the edit fails.
	require.NoError(t, phone.Put("notes", "n", []byte("phone again")))
	syncOK(t, phone)
	armed.Store(true)
	editAfterPlanning(t, tablet, "tablet")
	_, err = tablet.Sync(t.Context())
	require.ErrorIs(t, err, ErrNetwork)
	armed.Store(false)
	tablet.planned = nil
	var rec *record
	var pending bool
	require.NoError(t, tablet.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, "notes", false)
		if err != nil {
			return err
		}
		rec, err = col.get("n", false)
		pending = col.isPending("n")
		return err
	}))
	require.True(t, pending, "the tablet's edit")
	require.Less(t, rec.Base, rec.Seen, "the tablet knows of the phone's second version, which it never held")

	err = tablet.Resolve(t.Context(), "notes", "n", Resolution{UseConflict: lost.ConflictID})
	require.ErrorIs(t, err, ErrStale, "a put over a version the tablet never held")

	// Nothing of the phone's second edit is lost: after the devices sync,
	// it is the current version or in a record.
	syncOK(t, tablet)
	syncOK(t, phone)
	got, err := phone.Get("notes", "n")
	require.NoError(t, err)
	kept := string(got) == "phone again"
	cs, err = phone.Conflicts()
	require.NoError(t, err)
	for _, cf := range cs {
		kept = kept || string(cf.Content) == "phone again"
	}
	require.True(t, kept, "the phone's second edit is neither current (%q) nor in a record", got)
}
