package boltdb

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMappedBudget is how much of its memory-mapped file (and other
// mapped files) the server process keeps resident before it lets go of the
// pages it has read: see Options.MappedBudget.
const DefaultMappedBudget = 128 << 20

// DefaultMappedCheck is how often the budget is checked.
const DefaultMappedCheck = 250 * time.Millisecond

// releaseMapped drops the store file's pages from the process's mapping
// (madvise MADV_DONTNEED), all but the B+tree's branch pages that are
// mapped, up to keep bytes of them. bbolt maps the file read-only and
// shared and writes through the file, so the pages stay in the kernel's
// page cache, dirty or clean, and the next read of one maps it again from
// there (a minor fault): nothing is lost or re-read from disk. The branch
// pages are about 1 % of the file and every lookup walks down through
// them: without them a lookup in a collection of a million items faulted
// three pages instead of one, and a minor fault is costly on a virtual
// machine (20-30 us here). It runs in a read transaction, which holds
// bbolt's mmap lock: the mapping cannot move meanwhile. It returns the
// bytes released from.
func (s *Store) releaseMapped(keep int64) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		info := s.db.Info()
		var runs []pageRun
		if keep > 0 {
			runs = mappedBranches(info.Data, n, info.PageSize, keep)
		}
		from := int64(0)
		for _, r := range append(runs, pageRun{n, n}) {
			if err := dontNeed(info.Data+uintptr(from), r.off-from); err != nil {
				return err
			}
			from = r.end
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("release mapped pages: %w", err)
	}
	return n, nil
}

// trimIfOver releases the store's mapped pages when the process's
// resident mapped memory is over budget, and counts it (Stats.Trims). It
// keeps branch pages up to a quarter of the budget, so that what it keeps
// never brings the next check over the budget by itself.
func (s *Store) trimIfOver(budget int64) {
	if rss, ok := residentMapped(); ok && rss > budget {
		if _, err := s.releaseMapped(budget / 4); err == nil {
			s.trims.Add(1)
		}
	}
}

// trimLoop keeps the process's resident mapped pages under budget until
// Close, checking every period in which the store was used.
func (s *Store) trimLoop(budget int64, every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var seen uint64 // Open ran none through run: every transaction counts
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n := s.txs.Load(); n == seen {
				continue // no transaction: nothing was mapped in
			} else {
				seen = n
			}
			s.trimIfOver(budget)
		}
	}
}

// pageRun is a run of pages of the store's mapping: byte offsets
// [off, end).
type pageRun struct{ off, end int64 }

// bbolt's page header: its size and the flags of its kinds of page
// (go.etcd.io/bbolt/internal/common, the file format).
const (
	pageHeader     = 16
	branchPageFlag = 0x01
	metaPageFlag   = 0x04
)
