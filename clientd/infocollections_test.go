package clientd_test

import (
	"net/http"
	"slices"
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
