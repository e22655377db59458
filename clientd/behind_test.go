package clientd_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// TestOwnUploadsLeftBehindTheCursorAreNotDownloadedAgain: the phone
// writes while the laptop's exchange is on its way, so the answer cannot
// move the laptop's cursor past its own uploads (SP-6.3-9) and its next
// pull lists them again. When they are large, that pull asks for the
// change info without contents (SP-6.1-8): the laptop's own items move
// nothing (equal fingerprints) and only the phone's are downloaded. Small
// ones come back with the pages, which saves the exchange; either way the
// pull after that is past them.
func TestOwnUploadsLeftBehindTheCursorAreNotDownloadedAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		inline bool
	}{
		{"large uploads: pages without contents", 20 << 10, false},
		{"small uploads: pages with contents", 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, serverd.Config{})
			phone := srv.client(t, "alice", "phone")
			var interleave atomic.Bool
			var mu sync.Mutex
			var pages []protocol.ChangesRequest
			var downloads [][]string
			hook := &hookTransport{base: http.DefaultTransport, before: func(req *http.Request) {
				switch req.URL.Path {
				case protocol.PathChanges:
					var r protocol.ChangesRequest
					require.NoError(t, protocol.Unmarshal(peekBody(t, req), &r))
					mu.Lock()
					pages = append(pages, r)
					mu.Unlock()
				case protocol.PathExchange:
					var r protocol.ExchangeRequest
					require.NoError(t, protocol.Unmarshal(peekBody(t, req), &r))
					mu.Lock()
					downloads = append(downloads, r.Downloads)
					mu.Unlock()
					if interleave.CompareAndSwap(true, false) {
						require.NoError(t, phone.Put("notes", "p1", []byte("the phone's first")))
						require.NoError(t, phone.Put("zz", "z1", []byte("another collection")))
						mustSync(t, phone)
					}
				}
			}}
			// A second collection, synced after "notes" in each session: what
			// "notes" leaves behind its cursor is not "zz"'s.
			require.NoError(t, phone.Put("zz", "z0", []byte("another collection")))
			mustSync(t, phone)
			laptop := srv.client(t, "alice", "laptop", withTransport(hook), plainBodies)
			mustSync(t, laptop)
			for i := range 10 {
				require.NoError(t, laptop.Put("notes", fmt.Sprintf("l%d", i), bytes.Repeat([]byte{byte('a' + i)}, tc.size)))
			}
			require.NoError(t, phone.Put("zz", "za", []byte("news for zz")))
			mustSync(t, phone)
			interleave.Store(true)
			mustSync(t, laptop) // notes is left behind its uploads; zz's news is pulled after
			require.False(t, interleave.Load(), "the phone wrote during the laptop's exchange")

			require.NoError(t, phone.Put("notes", "p2", []byte("the phone's second")))
			require.NoError(t, phone.Put("zz", "z2", []byte("another collection")))
			mustSync(t, phone)
			mu.Lock()
			pages, downloads = nil, nil
			mu.Unlock()
			rep, err := laptop.Sync(context.Background())
			require.NoError(t, err)
			require.Equal(t, 3, rep.Downloaded, "the phone's three items, not the laptop's own")
			require.Equal(t, "the phone's first", mustGet(t, laptop, "notes", "p1"))
			require.Equal(t, "the phone's second", mustGet(t, laptop, "notes", "p2"))
			mu.Lock()
			require.NotEmpty(t, pages)
			for _, p := range pages {
				if p.Collection == "zz" {
					require.True(t, p.Content, "zz's pages with contents: nothing of the laptop's is behind its cursor")
				} else {
					require.Equal(t, tc.inline, p.Content, "content asked for with the pages of notes")
				}
			}
			var got []string
			for _, d := range downloads {
				got = append(got, d...)
			}
			if tc.inline {
				require.Empty(t, got, "downloads came with the pages")
			} else {
				require.ElementsMatch(t, []string{"p1", "p2"}, got, "only the phone's items downloaded")
			}
			pages = nil
			mu.Unlock()

			// That pull went past the laptop's uploads: the next one brings
			// contents again.
			require.NoError(t, phone.Put("notes", "p3", []byte("the phone's third")))
			mustSync(t, phone)
			mustSync(t, laptop)
			require.Equal(t, "the phone's third", mustGet(t, laptop, "notes", "p3"))
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, pages)
			require.True(t, pages[0].Content, "contents with the pages once the cursor is past the laptop's uploads")
		})
	}
}
