package clientd_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/serverd"
)

const (
	benchItems = 10_000
	benchSize  = 200
)

func benchBatch(tag string) map[string][]byte {
	items := make(map[string][]byte, benchItems)
	for i := 0; i < benchItems; i++ {
		b := make([]byte, benchSize)
		copy(b, fmt.Sprintf("%s-%06d-", tag, i))
		for j := 16; j < benchSize; j++ {
			b[j] = byte('a' + (i+j)%26)
		}
		items[fmt.Sprintf("%s-%06d", tag, i)] = b
	}
	return items
}

// benchClients starts a server and opens a client of user "bench" for each
// device, each on a store of its own.
func benchClients(b *testing.B, devices ...string) (*testServer, []*clientd.Client) {
	srv := startServer(b, serverd.Config{})
	tmp := b.TempDir()
	cs := make([]*clientd.Client, len(devices))
	for i, d := range devices {
		cs[i] = openStore(b, filepath.Join(tmp, d+".db"), clientd.Config{ServerURL: srv.url, Token: srv.token("bench", d)})
	}
	return srv, cs
}

// BenchmarkSync10k times, per iteration, one client pushing 10,000 × 200 B
// to an empty server ("push") and a second client pulling them ("pull").
func BenchmarkSync10k(b *testing.B) {
	items := benchBatch("item")
	for _, dir := range []string{"push", "pull"} {
		b.Run(dir, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(benchItems * benchSize)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, cs := benchClients(b, "pusher", "puller")
				pusher, puller := cs[0], cs[1]
				require.NoError(b, pusher.PutMany("bench", items))
				if dir == "push" {
					b.StartTimer()
				}
				rep := mustSync(b, pusher)
				require.Equal(b, benchItems, rep.Uploaded)
				if dir == "pull" {
					b.StartTimer()
					rep = mustSync(b, puller)
					b.StopTimer()
					require.Equal(b, benchItems, rep.Downloaded)
				}
				b.StopTimer()
				require.NoError(b, pusher.Close())
				require.NoError(b, puller.Close())
			}
		})
	}
}

// BenchmarkSyncBidirectional times, per iteration, the bench's
// bidirectional workload in one process: both sides hold the same 10,000 ×
// 200 B; one client edited 1,000, another client 1,000 and synced them to
// the server, 100 in common; the first client's one sync is timed (its
// conflicts decided by the collection's rule, server-wins by default).
func BenchmarkSyncBidirectional(b *testing.B) {
	const edits, common = 1000, 100
	items := benchBatch("item")
	edit := func(tag string, from, to int) map[string][]byte {
		m := make(map[string][]byte, to-from)
		for i := from; i < to; i++ {
			id := fmt.Sprintf("item-%06d", i)
			v := append([]byte(tag+"-"), items[id][len(tag)+1:]...)
			m[id] = v
		}
		return m
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv, cs := benchClients(b, "a", "o")
		a, o := cs[0], cs[1]
		require.NoError(b, a.PutMany("bench", items))
		mustSync(b, a)
		mustSync(b, o)
		require.NoError(b, o.PutMany("bench", edit("o", edits-common, 2*edits-common)))
		mustSync(b, o)
		require.NoError(b, a.PutMany("bench", edit("a", 0, edits)))
		b.StartTimer()
		rep := mustSync(b, a)
		b.StopTimer()
		require.Equal(b, edits-common, rep.Uploaded)
		require.Equal(b, edits, rep.Downloaded, "the other client's edits and the conflicts' winners")
		require.NoError(b, a.Close())
		require.NoError(b, o.Close())
		srv.stop()
	}
}
