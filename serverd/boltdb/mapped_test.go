//go:build linux

package boltdb

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/serverd/storage"
)

const (
	mappedValues = 48      // values of
	mappedValue  = 1 << 20 // bytes each
)

func mappedValueOf(i int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26), byte(i)}, mappedValue/2)
}

// fillMapped writes mappedValues values of mappedValue bytes.
func fillMapped(t *testing.T, s *Store) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		for i := range mappedValues {
			if err := tx.PutMeta(fmt.Sprintf("v%03d", i), mappedValueOf(i)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// readMapped reads every value through the map and checks it.
func readMapped(t *testing.T, s *Store) {
	t.Helper()
	for i := range mappedValues {
		require.Equal(t, mappedValueOf(i), []byte(meta(t, s, fmt.Sprintf("v%03d", i))), "value %d", i)
	}
}

func resident(t *testing.T) int64 {
	t.Helper()
	n, ok := residentMapped()
	require.True(t, ok, "RssFile in /proc/self/status")
	return n
}

func TestReleasingTheMappedPagesKeepsTheDataAndShrinksTheResidentSet(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "syncprint.db"), Options{MappedBudget: -1})
	require.NoError(t, err)
	defer s.Close()
	fillMapped(t, s)
	_, err = s.releaseMapped()
	require.NoError(t, err)
	before := resident(t)
	readMapped(t, s)
	read := resident(t)
	// Reading maps the file in: the measure sees it.
	require.Greater(t, read-before, int64(mappedValues*mappedValue*3/4), "resident file pages %d -> %d", before, read)
	n, err := s.releaseMapped()
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(mappedValues*mappedValue))
	after := resident(t)
	require.Less(t, after-before, int64(mappedValue*4), "resident file pages %d -> %d -> %d", before, read, after)
	readMapped(t, s) // mapped again from the page cache, unchanged
	require.Zero(t, s.Stats().Trims, "a negative budget never trims")
}

func TestAStoreOverItsMappedBudgetLetsGoOfItsPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncprint.db")
	budget := resident(t) + 16<<20
	s, err := Open(path, Options{MappedBudget: budget, MappedCheck: 5 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	fillMapped(t, s)
	readMapped(t, s) // 48 MiB through the map: over the budget
	deadline := time.Now().Add(10 * time.Second)
	// The store's pages go; the test binary's own pages, which the test
	// touches as it runs, are a little slack (an idle store checks no more).
	for s.Stats().Trims == 0 || resident(t) > budget+8<<20 {
		require.True(t, time.Now().Before(deadline), "resident file pages %d, budget %d, %d trims", resident(t), budget, s.Stats().Trims)
		time.Sleep(5 * time.Millisecond)
	}
	readMapped(t, s)
}

func TestTrimmingWhileReadingAndWritingLosesNothing(t *testing.T) {
	// A budget of one byte: the store lets go of its pages every
	// millisecond, under readers and writers.
	path := filepath.Join(t.TempDir(), "syncprint.db")
	s, err := Open(path, Options{MappedBudget: 1, MappedCheck: time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key, val := fmt.Sprintf("w%d-%03d", w, i), bytes.Repeat([]byte{byte(i)}, 5000+i)
				if err := s.Update(context.Background(), func(tx storage.Tx) error { return tx.PutMeta(key, val) }); err != nil {
					errs <- err
					return
				}
				var got []byte
				if err := s.View(context.Background(), func(tx storage.Tx) error {
					v, err := tx.Meta(key)
					got = bytes.Clone(v)
					return err
				}); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, val) {
					errs <- fmt.Errorf("%s: read %d bytes back, wrote %d", key, len(got), len(val))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NotZero(t, s.Stats().Trims)
	require.NoError(t, s.Close())
	s2, err := Open(path, Options{MappedBudget: -1})
	require.NoError(t, err)
	defer s2.Close()
	for w := range 2 {
		for i := range 200 {
			require.Equal(t, bytes.Repeat([]byte{byte(i)}, 5000+i), []byte(meta(t, s2, fmt.Sprintf("w%d-%03d", w, i))))
		}
	}
}

func TestAnIdleStoreDoesNotCheckItsMappedPages(t *testing.T) {
	// A budget of one byte: every check that runs trims.
	s, err := Open(filepath.Join(t.TempDir(), "syncprint.db"), Options{MappedBudget: 1, MappedCheck: time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	meta(t, s, "k") // one transaction: one period with use
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Trims < 2 { // at Open (the test binary's own mapped files), then after the read
		require.True(t, time.Now().Before(deadline), "%d trims", s.Stats().Trims)
		time.Sleep(time.Millisecond)
	}
	idle := s.Stats().Trims
	time.Sleep(50 * time.Millisecond) // fifty periods without a transaction
	require.Equal(t, idle, s.Stats().Trims, "an idle store trimmed")
	meta(t, s, "k")
	for s.Stats().Trims == idle {
		require.True(t, time.Now().Before(deadline), "no trim after a transaction")
		time.Sleep(time.Millisecond)
	}
}
