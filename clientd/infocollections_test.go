package clientd_test

import (
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// olderInfo makes Info look like a server's that lists no collections in
// it (SP-3-15): without the feature and without the keys.
func olderInfo(req *http.Request, body []byte) []byte {
	if req.URL.Path != protocol.PathInfo {
		return body
	}
	var m protocol.Info
	if protocol.Unmarshal(body, &m) != nil {
		return body
	}
	m.Features = slices.DeleteFunc(m.Features, func(f string) bool { return f == protocol.FeatureInfoCollections })
	m.Collections, m.ConflictsSeq = nil, 0
	b, err := protocol.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestASessionTakesTheServersCollectionsFromInfoWhenItListsThem(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	laptop := srv.client(t, "alice", "laptop")
	require.NoError(t, laptop.Put("notes", "n", []byte("note")))
	require.NoError(t, laptop.Put("tasks", "t", []byte("task")))
	mustSync(t, laptop)

	for _, tc := range []struct {
		name  string
		after func(*http.Request, []byte) []byte
		lists int // POST /v1/collections per session
	}{
		{"info lists them", nil, 0},
		{"older server", olderInfo, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := &hookTransport{base: http.DefaultTransport, after: tc.after}
			// Unencoded responses, so that the rewriter reads them.
			phone := srv.client(t, "alice", "phone", withTransport(hook), plainBodies)
			mustSync(t, phone) // a new device: it knows no collection but the server's
			require.Equal(t, tc.lists, hook.count(protocol.PathCollections))
			require.Equal(t, 2, hook.count(protocol.PathChanges), "both collections synced")
			for coll, want := range map[string]string{"notes": "note", "tasks": "task"} {
				got, err := phone.Get(coll, coll[:1])
				require.NoError(t, err)
				require.Equal(t, want, string(got))
			}
		})
	}
}

// SP-6.1-9: a session whose Info shows the head its cursor is the cursor
// of pulls nothing; one that shows another head pulls.
func TestASessionSkipsThePullOnlyWhenInfoShowsNothingNew(t *testing.T) {
	srv := startServer(t, serverd.Config{})
	hook := &hookTransport{base: http.DefaultTransport}
	laptop := srv.client(t, "alice", "laptop", withTransport(hook))
	phone := srv.client(t, "alice", "phone")
	require.NoError(t, laptop.Put("notes", "a", []byte("one")))
	mustSync(t, laptop) // pulls an empty page, then uploads: the cursor advances to the head
	paths := func() []string {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		p := hook.paths
		hook.paths = nil
		return p
	}
	paths()

	mustSync(t, laptop)
	require.Equal(t, []string{protocol.PathInfo}, paths(), "nothing new, nothing local: Info alone")

	require.NoError(t, laptop.Put("notes", "b", []byte("two")))
	rep := mustSync(t, laptop)
	require.Equal(t, 1, rep.Uploaded)
	require.Equal(t, []string{protocol.PathInfo, protocol.PathExchange}, paths(), "a local edit goes up without a pull")

	mustSync(t, phone)
	require.NoError(t, phone.Put("notes", "c", []byte("three")))
	mustSync(t, phone)
	rep = mustSync(t, laptop)
	require.Equal(t, 1, rep.Downloaded, "another device's write is pulled")
	require.Contains(t, paths(), protocol.PathChanges)
	require.Equal(t, "three", mustGet(t, laptop, "notes", "c"))

	// A write after Info was read: the exchange does not advance the
	// cursor past it, and the next session pulls it.
	var once atomic.Bool
	hook.before = func(req *http.Request) {
		if req.URL.Path == protocol.PathExchange && once.CompareAndSwap(false, true) {
			require.NoError(t, phone.Put("notes", "d", []byte("four")))
			mustSync(t, phone)
		}
	}
	require.NoError(t, laptop.Put("notes", "a", []byte("one, edited")))
	mustSync(t, laptop)
	require.True(t, once.Load())
	hook.before = nil
	rep = mustSync(t, laptop)
	require.Equal(t, 1, rep.Downloaded, "the write made during the last session is pulled")
	require.Equal(t, "four", mustGet(t, laptop, "notes", "d"))
	mustSync(t, phone)
	require.Equal(t, "one, edited", mustGet(t, phone, "notes", "a"))
}
