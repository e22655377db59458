package clientd

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd"
)

func TestRecordsRoundTrip(t *testing.T) {
	r := &record{Content: []byte("hello"), FP: fingerprint.Of("x", false, []byte("hello")), HLC: 77, Author: "alice/phone", Base: 3, Seen: 9, Edit: 12}
	got, err := decodeRecord(encodeRecord(r), true)
	require.NoError(t, err)
	r.Size = 5
	require.Equal(t, r, got)
	meta, err := decodeRecord(encodeRecord(r), false)
	require.NoError(t, err)
	require.Nil(t, meta.Content)
	require.Equal(t, 5, meta.Size)
	tomb := &record{Deleted: true, Content: []byte{}}
	got, err = decodeRecord(encodeRecord(tomb), true)
	require.NoError(t, err)
	require.True(t, got.Deleted)
	for _, bad := range [][]byte{nil, {1}, append([]byte{2}, make([]byte, recordFixed)...)} {
		_, err := decodeRecord(bad, true)
		require.ErrorIs(t, err, errCorrupt)
	}
}

func TestBackoffGrowsWithFullJitterWithinBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for n := 1; n < 10; n++ {
		ceil := min(hi, lo<<(n-1))
		for i := 0; i < 100; i++ {
			d := backoff(lo, hi, n)
			require.GreaterOrEqual(t, d, lo)
			require.LessOrEqual(t, d, ceil)
		}
	}
	require.Equal(t, lo, backoff(lo, lo, 5))
}

// TestAnExpiredCursorIsResetAndTheCollectionPulledAgain plants a cursor of
// another server epoch, as after a server restore.
func TestAnExpiredCursorIsResetAndTheCollectionPulledAgain(t *testing.T) {
	srv, err := serverd.Open(serverd.Config{DataDir: filepath.Join(t.TempDir(), "server")})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "http://" + ln.Addr().String()
	tokA, err := srv.CreateToken("alice", "laptop")
	require.NoError(t, err)
	tokB, err := srv.CreateToken("alice", "phone")
	require.NoError(t, err)

	a, err := Open(filepath.Join(t.TempDir(), "a.db"), Config{ServerURL: url, Token: tokA})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Put("notes", "n", []byte("one")))
	_, err = a.Sync(context.Background())
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "b.db")
	b, err := Open(path, Config{ServerURL: url, Token: tokB})
	require.NoError(t, err)
	_, err = b.Sync(context.Background())
	require.NoError(t, err)
	require.NoError(t, b.Put("notes", "mine", []byte("pending")))
	require.NoError(t, b.update(func(tx *bolt.Tx) error {
		col, err := openColl(tx, "notes", false)
		require.NoError(t, err)
		return col.setCursor("1.00000000000000ff.1.0123456789abcdef", nil, 0)
	}))
	require.NoError(t, a.Put("notes", "m", []byte("two")))
	_, err = a.Sync(context.Background())
	require.NoError(t, err)

	rep, err := b.Sync(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Uploaded, "the local edit stayed pending through the reset")
	require.Equal(t, 1, rep.Downloaded, "equal fingerprints move nothing; only m comes down")
	v, err := b.Get("notes", "m")
	require.NoError(t, err)
	require.Equal(t, "two", string(v))
	var cur string
	require.NoError(t, b.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, "notes", false)
		cur = col.cursor()
		return err
	}))
	require.Contains(t, cur, "."+srv.Epoch()+".")
	st, err := b.Status()
	require.NoError(t, err)
	require.Zero(t, st.Pending, "items equal on both sides are settled again")
	require.Zero(t, st.Conflicts)
	require.NoError(t, b.Close())
}

// FuzzDecodeRecord: any stored bytes decode to a record or errCorrupt,
// never a panic, and a decoded record encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(&record{Content: []byte("x"), Author: "a/b", Base: 1, Seen: 2, Edit: 3}))
	f.Add(encodeRecord(&record{Deleted: true}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b, true)
		if err != nil {
			require.ErrorIs(t, err, errCorrupt)
			return
		}
		require.Equal(t, b, encodeRecord(r))
	})
}

func TestHistoryRecordsEncodeAsMarshalDoes(t *testing.T) {
	long := string(make([]byte, 300))
	for _, h := range []historyRecord{
		{},
		{TimeMS: 1 << 41, Collection: "notes", ID: "a", FP: make([]byte, 32), Deleted: true, Author: "alice/phone", Source: SourceRemote, HLC: 1 << 52},
		{TimeMS: 200, Collection: long[:40], ID: long, FP: []byte{}, Author: long[:70000%len(long)], Source: SourceLocal, HLC: 65536},
		{TimeMS: 127, ID: string(make([]byte, 70000)), HLC: 128},
	} {
		want, err := marshal(h)
		require.NoError(t, err)
		require.Equal(t, want, appendHistoryRecord(nil, &h))
	}
}

func TestSlabHandsOutDistinctBuffersAndNeverNil(t *testing.T) {
	var s slab
	require.NotNil(t, s.alloc(0), "an empty content is encoded as an empty bin, not nil")
	a := append(s.alloc(3), 1, 2, 3)
	b := append(s.alloc(2), 4, 5)
	big := s.alloc(slabBlock)
	require.Equal(t, []byte{1, 2, 3}, a)
	require.Equal(t, []byte{4, 5}, b)
	require.Equal(t, 0, len(big))
	require.Equal(t, slabBlock, cap(big))
	require.Equal(t, 3, cap(a), "a buffer cannot grow into the next one")
}
