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
				srv := startServer(b, serverd.Config{})
				tmp := b.TempDir()
				pusher := openStore(b, filepath.Join(tmp, "pusher.db"), clientd.Config{ServerURL: srv.url, Token: srv.token("bench", "pusher")})
				puller := openStore(b, filepath.Join(tmp, "puller.db"), clientd.Config{ServerURL: srv.url, Token: srv.token("bench", "puller")})
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
