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

// releaseMapped drops every page of the store file from the process's
// mapping (madvise MADV_DONTNEED). bbolt maps the file read-only and
// shared and writes through the file, so the pages stay in the kernel's
// page cache, dirty or clean, and the next read of one maps it again from
// there (a minor fault): nothing is lost or re-read from disk. It runs in
// a read transaction, which holds bbolt's mmap lock: the mapping cannot
// move meanwhile. It returns the bytes released from.
func (s *Store) releaseMapped() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return dontNeed(s.db.Info().Data, n)
	})
	if err != nil {
		return 0, fmt.Errorf("release mapped pages: %w", err)
	}
	return n, nil
}

// trimIfOver releases the store's mapped pages when the process's
// resident mapped memory is over budget, and counts it (Stats.Trims).
func (s *Store) trimIfOver(budget int64) {
	if rss, ok := residentMapped(); ok && rss > budget {
		if _, err := s.releaseMapped(); err == nil {
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
