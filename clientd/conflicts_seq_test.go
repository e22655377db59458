package clientd_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// seqRewriter rewrites what a server announces, to play an older server
// (no conflicts_seq), one with a frozen number, or a restored one (another
// epoch). The zero value forwards everything unchanged.
type seqRewriter struct {
	mu    sync.Mutex     // guards the fields below
	seq   *uint64        // when set, every conflicts_seq becomes *seq
	epoch string         // when set, Info.epoch becomes epoch
	full  *protocol.Info // the last full Info, to rewrite a short one (SP-3-16)
}

func (r *seqRewriter) set(seq *uint64, epoch string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq, r.epoch = seq, epoch
}

func (r *seqRewriter) after(req *http.Request, body []byte) []byte {
	r.mu.Lock()
	seq, epoch := r.seq, r.epoch
	r.mu.Unlock()
	rewrite := func(m any, edit func()) []byte {
		if protocol.Unmarshal(body, m) != nil {
			return body // an error response
		}
		edit()
		b, err := protocol.Marshal(m)
		if err != nil {
			panic(err)
		}
		return b
	}
	switch req.URL.Path {
	case protocol.PathInfo:
		var seen protocol.Info
		if protocol.Unmarshal(body, &seen) == nil && !seen.IsShort() {
			r.mu.Lock()
			r.full = &seen
			r.mu.Unlock()
		}
		if epoch != "" || seq != nil {
			var m protocol.Info
			return rewrite(&m, func() {
				r.mu.Lock()
				if m.IsShort() && epoch != "" && r.full != nil {
					m = *m.WithStatic(r.full) // another data set: a full Info
				}
				r.mu.Unlock()
				if epoch != "" {
					m.Epoch = epoch
					m.Tag = protocol.InfoTag(&m) // and another tag
				}
				if seq != nil {
					m.ConflictsSeq = *seq // SP-3-15: the session's number comes with Info
				}
			})
		}
	case protocol.PathCollections:
		if seq != nil {
			var m protocol.CollectionsResponse
			return rewrite(&m, func() { m.ConflictsSeq = *seq })
		}
	case protocol.PathExchange:
		if seq != nil {
			var m protocol.ExchangeResponse
			return rewrite(&m, func() { m.ConflictsSeq = *seq })
		}
	}
	return body
}

// seqDevice is a client whose requests are counted and whose view of the
// server a seqRewriter may change.
type seqDevice struct {
	*clientd.Client
	hook *hookTransport
	rw   *seqRewriter
	path string
	cfg  clientd.Config
}

func newSeqDevice(t *testing.T, srv *testServer, device string) *seqDevice {
	t.Helper()
	d := &seqDevice{rw: &seqRewriter{}, path: filepath.Join(t.TempDir(), device+".db")}
	d.hook = &hookTransport{base: http.DefaultTransport, after: d.rw.after}
	// Unencoded responses, so that the rewriter reads them.
	d.cfg = clientd.Config{ServerURL: srv.url, Token: srv.token("alice", device), DisableCompression: true,
		HTTPClient: &http.Client{Transport: d.hook}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	d.Client = openStore(t, d.path, d.cfg)
	return d
}

// listings runs a session and returns how many times it listed the
// server's conflict records.
func (d *seqDevice) listings(t *testing.T) int {
	t.Helper()
	before := d.hook.count(protocol.PathConflicts)
	mustSync(t, d.Client)
	return d.hook.count(protocol.PathConflicts) - before
}

// serverRecords returns the IDs of the cached server records.
func (d *seqDevice) serverRecords(t *testing.T) []string {
	t.Helper()
	cs, err := d.Conflicts()
	require.NoError(t, err)
	var ids []string
	for _, c := range cs {
		if c.Kind == clientd.KindServer {
			ids = append(ids, c.ConflictID)
		}
	}
	return ids
}

func TestASessionListsServerConflictsOnlyWhenTheirSeqMoved(t *testing.T) {
	srv := startServer(t, serverd.Config{Rules: map[string]protocol.Rule{"tasks": protocol.ClientWins, "wiki": protocol.Manual}})
	laptop, phone := newSeqDevice(t, srv, "laptop"), newSeqDevice(t, srv, "phone")
	put := func(d *seqDevice, coll, id, content string) {
		t.Helper()
		require.NoError(t, d.Put(coll, id, []byte(content)))
	}

	require.Zero(t, laptop.listings(t), "a new device of a user who never had a record lists nothing (SP-10-8)")
	require.Zero(t, phone.listings(t))
	require.Zero(t, laptop.listings(t), "nothing changed: no listing")

	put(laptop, "tasks", "t", "v0")
	put(laptop, "wiki", "w", "v0")
	require.Zero(t, laptop.listings(t), "uploads that make no record: no listing")
	require.Zero(t, phone.listings(t), "downloads: no listing")

	// This device's upload overwrites another's version (client-wins):
	// the exchange's own response shows the new number.
	put(laptop, "tasks", "t", "laptop")
	put(phone, "tasks", "t", "phone")
	require.Zero(t, laptop.listings(t))
	require.Equal(t, 1, phone.listings(t), "the session's upload made a record")
	overwritten := phone.serverRecords(t)
	require.Len(t, overwritten, 1)
	require.Equal(t, 1, laptop.listings(t), "another device's upload made a record")
	require.Equal(t, overwritten, laptop.serverRecords(t))
	require.Zero(t, laptop.listings(t))

	// Another device's upload is set aside (manual): this device learns
	// it from the collections listing.
	put(laptop, "wiki", "w", "laptop")
	put(phone, "wiki", "w", "phone")
	require.Zero(t, laptop.listings(t))
	require.Equal(t, 1, phone.listings(t), "its upload is the record")
	require.Equal(t, 1, laptop.listings(t), "another device made a record")
	require.Len(t, laptop.serverRecords(t), 2)
	require.Zero(t, laptop.listings(t))

	// The cache's mark survives a restart.
	require.NoError(t, laptop.Close())
	laptop.Client = openStore(t, laptop.path, laptop.cfg)
	require.Zero(t, laptop.listings(t), "the mark is stored with the cache")
	require.Len(t, laptop.serverRecords(t), 2)

	// A resolution closes a record: every device lists again, once.
	require.NoError(t, phone.Resolve(context.Background(), "tasks", "t", clientd.Resolution{KeepCurrent: true}))
	require.Len(t, phone.serverRecords(t), 1)
	require.Equal(t, 1, laptop.listings(t))
	require.NotContains(t, laptop.serverRecords(t), overwritten[0])
	require.Len(t, laptop.serverRecords(t), 1)
	require.Equal(t, 1, phone.listings(t), "its own resolution moved the number too")
	require.Zero(t, phone.listings(t))
	require.Zero(t, laptop.listings(t))

	// RefreshConflicts, what `syncprint client conflicts` runs, always
	// lists.
	before := laptop.hook.count(protocol.PathConflicts)
	require.NoError(t, laptop.RefreshConflicts(context.Background()))
	require.Equal(t, before+1, laptop.hook.count(protocol.PathConflicts))
	require.Zero(t, laptop.listings(t), "and leaves the mark valid")

	// The number of a user without records, under another epoch (a
	// restored data set): the cached records are stale, and are listed
	// again rather than trusted.
	one := uint64(protocol.FirstConflictsSeq)
	laptop.rw.set(&one, "fedcba9876543210")
	require.Equal(t, 1, laptop.listings(t), "a copy that is not empty is listed again")
}

// A new device of a user with records lists them at its first session,
// whatever it was told before (SP-10-9).
func TestANewDeviceListsTheRecordsOfAUserWhoHasSome(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop, phone := newSeqDevice(t, srv, "laptop"), newSeqDevice(t, srv, "phone")
	require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
	require.Zero(t, laptop.listings(t))
	require.Zero(t, phone.listings(t))
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	require.Zero(t, laptop.listings(t))
	require.Equal(t, 1, phone.listings(t), "its upload is the record")

	tablet := newSeqDevice(t, srv, "tablet")
	require.Equal(t, 1, tablet.listings(t), "a new device of a user with a record lists it")
	require.Len(t, tablet.serverRecords(t), 1)
	require.Zero(t, tablet.listings(t))
}

func TestServerConflictsAreListedWhenTheSeqCannotBeTrusted(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop := newSeqDevice(t, srv, "laptop")
	require.Zero(t, laptop.listings(t), "a user who never had a record (SP-10-8)")
	// The number of a user with records.
	five := uint64(5)
	laptop.rw.set(&five, "")
	require.Equal(t, 1, laptop.listings(t))
	require.Zero(t, laptop.listings(t))

	// An older server sends no conflicts_seq (0): every session lists.
	zero := uint64(0)
	laptop.rw.set(&zero, "")
	require.Equal(t, 1, laptop.listings(t))
	require.Equal(t, 1, laptop.listings(t))

	// The same number under another epoch (a restored data set) means
	// nothing: the session lists, once.
	laptop.rw.set(&five, "")
	require.Equal(t, 1, laptop.listings(t), "the mark was forgotten with the older server")
	require.Zero(t, laptop.listings(t))
	laptop.rw.set(&five, "0123456789abcdef")
	require.Equal(t, 1, laptop.listings(t))
	require.Zero(t, laptop.listings(t))
}

// A cache that names a record the server closed is listed again after the
// resolution's not_found, even when the number says nothing changed (a
// server whose number is stuck).
func TestAResolutionAnsweredNotFoundRelistsTheRecords(t *testing.T) {
	srv := startServer(t, serverd.Config{DefaultRule: protocol.Manual})
	laptop, phone := newSeqDevice(t, srv, "laptop"), newSeqDevice(t, srv, "phone")
	stuck := uint64(42)
	laptop.rw.set(&stuck, "")
	require.NoError(t, laptop.Put("notes", "n", []byte("v0")))
	mustSync(t, laptop.Client)
	mustSync(t, phone.Client)
	require.NoError(t, laptop.Put("notes", "n", []byte("laptop")))
	require.NoError(t, phone.Put("notes", "n", []byte("phone")))
	mustSync(t, laptop.Client)
	mustSync(t, phone.Client) // the phone's edit becomes a record
	require.NoError(t, laptop.RefreshConflicts(context.Background()))
	require.Len(t, laptop.serverRecords(t), 1)

	recs := phone.serverRecords(t)
	require.Len(t, recs, 1)
	require.NoError(t, phone.Resolve(context.Background(), "notes", "n", clientd.Resolution{KeepCurrent: true}))
	require.Zero(t, laptop.listings(t), "the stuck number hides the close")
	require.Len(t, laptop.serverRecords(t), 1)

	err := laptop.Resolve(context.Background(), "notes", "n", clientd.Resolution{UseConflict: recs[0]})
	require.ErrorIs(t, err, clientd.ErrStale)
	require.Empty(t, laptop.serverRecords(t), "the resolution's sync listed the records again")
}
