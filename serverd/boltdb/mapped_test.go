//go:build linux

package boltdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

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
	_, err = s.releaseMapped(0)
	require.NoError(t, err)
	before := resident(t)
	readMapped(t, s)
	read := resident(t)
	// Reading maps the file in: the measure sees it.
	require.Greater(t, read-before, int64(mappedValues*mappedValue*3/4), "resident file pages %d -> %d", before, read)
	n, err := s.releaseMapped(0)
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

// residency returns which of the store's pages are mapped in (pagemap),
// and each page's kind as bbolt reads it.
func residency(t *testing.T, s *Store) (resident []bool, kinds []string) {
	t.Helper()
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		n := tx.Size()
		ps := int64(s.db.Info().PageSize)
		pm, err := openPagemap(s.db.Info().Data, n, int64(os.Getpagesize()))
		if err != nil {
			return err
		}
		defer pm.close()
		for id := int64(0); id < n/ps; id++ {
			present, err := pm.present(id * ps)
			if err != nil {
				return err
			}
			resident = append(resident, present)
		}
		// Page reads the pages: after the snapshot, which it cannot change.
		for id := 0; id < len(resident); id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				kinds = append(kinds, "")
				continue
			}
			kinds = append(kinds, info.Type)
			for range min(info.OverflowCount, len(resident)-1-id) {
				kinds = append(kinds, "overflow")
				id++
			}
		}
		return nil
	}))
	return resident, kinds
}

func TestReleasingTheMappedPagesKeepsTheBranchPagesMapped(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "syncprint.db"), Options{MappedBudget: -1})
	require.NoError(t, err)
	defer s.Close()
	// 100,000 small values: thousands of leaf pages under dozens of
	// branch pages.
	const keys = 100_000
	key := func(i int) string { return fmt.Sprintf("key-%07d", (i*7919)%keys) }
	for from := 0; from < keys; from += 10_000 {
		require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
			for i := from; i < from+10_000; i++ {
				if err := tx.PutMeta(key(i), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for i := 0; i < keys; i += 97 {
		meta(t, s, key(i)) // every leaf read: all resident
	}
	_, err = s.releaseMapped(1 << 30)
	require.NoError(t, err)
	resident, kinds := residency(t, s)
	count := map[string]int{}
	mapped := map[string]int{}
	for id, kind := range kinds {
		count[kind]++
		if resident[id] {
			mapped[kind]++
		}
	}
	require.Greater(t, count["branch"], 10, "pages by kind: %v", count)
	require.Greater(t, count["leaf"], 1000, "pages by kind: %v", count)
	require.Equal(t, count["branch"], mapped["branch"], "branch pages mapped after the release (pages %v, mapped %v)", count, mapped)
	require.Equal(t, 2, mapped["meta"], "meta pages mapped after the release")
	require.Zero(t, mapped["leaf"], "leaf pages still mapped (pages %v, mapped %v)", count, mapped)
	// A freed branch page keeps its header until it is written again:
	// those that were mapped are kept too, as the file does not say which
	// pages are free.
	require.LessOrEqual(t, mapped["free"], 2*count["branch"], "free pages still mapped (pages %v, mapped %v)", count, mapped)
	t.Logf("pages by kind %v, mapped after the release %v", count, mapped)
	// What it keeps is bounded: here by 4 pages.
	for i := 0; i < keys; i += 97 {
		meta(t, s, key(i))
	}
	_, err = s.releaseMapped(4 * int64(s.db.Info().PageSize))
	require.NoError(t, err)
	resident, kinds = residency(t, s)
	kept := 0
	for id, kind := range kinds {
		if resident[id] && kind != "meta" { // bbolt reads the meta pages at every transaction
			kept++
		}
	}
	require.LessOrEqual(t, kept, 4, "pages kept with a bound of 4")
	for i := 0; i < keys; i += 101 {
		require.Equal(t, string(bytes.Repeat([]byte{byte(i)}, 40)), meta(t, s, key(i)))
	}
}

func TestPagemapReadsWindowByWindow(t *testing.T) {
	sys := int64(os.Getpagesize())
	pages := int64(2*pagemapWindow + 3)
	m, err := syscall.Mmap(-1, 0, int(pages*sys), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	defer syscall.Munmap(m)
	touched := map[int64]bool{0: true, pagemapWindow - 1: true, pagemapWindow: true, pagemapWindow + 1: true, 2*pagemapWindow + 2: true}
	for page := range touched {
		m[page*sys] = 1
	}
	pm, err := openPagemap(uintptr(unsafe.Pointer(&m[0])), pages*sys, sys)
	require.NoError(t, err)
	defer pm.close()
	check := func(page int64) {
		present, err := pm.present(page*sys + sys/2)
		require.NoError(t, err)
		require.Equal(t, touched[page], present, "page %d", page)
	}
	for page := range pages {
		check(page)
	}
	for page := pages - 1; page >= 0; page -= pagemapWindow / 3 { // backwards: windows read again
		check(page)
	}
	require.LessOrEqual(t, cap(pm.buf), pagemapWindow*8, "a pagemap holds one window")
}
