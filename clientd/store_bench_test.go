package clientd_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
)

// BenchmarkPutMany1000x200B times the client store's commit of 1,000
// local edits of 200 B in one durable transaction (records, pending marks,
// history, clock): what an app's batch write costs.
func BenchmarkPutMany1000x200B(b *testing.B) {
	c := openStore(b, filepath.Join(b.TempDir(), "client.db"), clientd.Config{})
	content := make([]byte, 200)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	b.ReportAllocs()
	b.SetBytes(1000 * 200)
	batch := 0
	for b.Loop() {
		b.StopTimer()
		items := make(map[string][]byte, 1000)
		for i := range 1000 {
			items[fmt.Sprintf("item-%06d-%04d", batch, i)] = content
		}
		batch++
		b.StartTimer()
		require.NoError(b, c.PutMany("bench", items))
	}
}

// BenchmarkPut1x200B is one local edit: one durable transaction.
func BenchmarkPut1x200B(b *testing.B) {
	c := openStore(b, filepath.Join(b.TempDir(), "client.db"), clientd.Config{})
	content := make([]byte, 200)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		require.NoError(b, c.Put("bench", fmt.Sprintf("item-%07d", i%1000), content))
		i++
	}
}
