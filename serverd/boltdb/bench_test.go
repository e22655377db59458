package boltdb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// BenchmarkCommit1000x200B times one durable Update that puts 1,000 new
// items of 200 B (change-log entry and content each) into a collection: the
// server's store commit for one full exchange batch.
func BenchmarkCommit1000x200B(b *testing.B) {
	benchCommit(b, 1000, 200)
}

// BenchmarkCommit10x200B is the same for a small batch, where the commit's
// fsync dominates.
func BenchmarkCommit10x200B(b *testing.B) {
	benchCommit(b, 10, 200)
}

func benchCommit(b *testing.B, n, size int) {
	s, err := boltdb.Open(filepath.Join(b.TempDir(), "syncprint.db"), boltdb.Options{})
	require.NoError(b, err)
	defer s.Close()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	hlc := changelog.NewHLC(uint64(time.Now().UnixMilli()), 0)
	entries := func(batch int) []changelog.Entry {
		es := make([]changelog.Entry, n)
		for i := range es {
			id := fmt.Sprintf("item-%06d-%04d", batch, i)
			es[i] = changelog.Entry{ID: id, Fingerprint: fingerprint.Of(id, false, content), HLC: hlc, Replica: "bench/dev"}
		}
		return es
	}
	b.ReportAllocs()
	b.SetBytes(int64(n * size))
	batch := 0
	for b.Loop() {
		b.StopTimer()
		es := entries(batch)
		batch++
		b.StartTimer()
		err := s.Update(context.Background(), func(tx storage.Tx) error {
			c, err := tx.Collection("bench", "bench")
			if err != nil {
				return err
			}
			for _, e := range es {
				if _, err := c.Put(e, content); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
