package boltdb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/serverd/storage"
)

// blockCommitter starts an Update that holds the committer until release
// is called, so that the writes started meanwhile queue up and share the
// next commit.
func blockCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx storage.Tx) error {
			close(entered)
			<-unblock
			return tx.PutMeta("blocker", []byte("1"))
		})
	}()
	<-entered
	return func() {
		close(unblock)
		require.NoError(t, <-done)
	}
}

// startWrites starts an Update for each of fns behind a blocked committer
// and waits until all of them are queued.
func startWrites(t *testing.T, s *Store, fns []func(storage.Tx) error) []chan error {
	t.Helper()
	res := make([]chan error, len(fns))
	for i, fn := range fns {
		res[i] = make(chan error, 1)
		go func() { res[i] <- s.Update(context.Background(), fn) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.writes) < len(fns) {
		require.True(t, time.Now().Before(deadline), "%d of %d writes queued", len(s.writes), len(fns))
		runtime.Gosched()
	}
	return res
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "syncprint.db"), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func meta(t *testing.T, s *Store, key string) string {
	t.Helper()
	var v []byte
	require.NoError(t, s.View(context.Background(), func(tx storage.Tx) error {
		var err error
		v, err = tx.Meta(key)
		return err
	}))
	return string(v)
}

func TestConcurrentWritesShareCommitsAndAllBecomeDurable(t *testing.T) {
	s := openStore(t)
	release := blockCommitter(t, s)
	const n = 50
	fns := make([]func(storage.Tx) error, n)
	for i := range fns {
		fns[i] = func(tx storage.Tx) error { return tx.PutMeta(fmt.Sprintf("k%02d", i), []byte("v")) }
	}
	res := startWrites(t, s, fns)
	release()
	for i := range res {
		require.NoError(t, <-res[i])
	}
	for i := range n {
		require.Equal(t, "v", meta(t, s, fmt.Sprintf("k%02d", i)))
	}
	st := s.Stats()
	require.Equal(t, uint64(n+1), st.Writes)
	require.Equal(t, uint64(2), st.Commits, "the blocker's commit, then one for the 50 queued writes")
}

func TestAFailingWriteInAGroupUndoesOnlyItself(t *testing.T) {
	s := openStore(t)
	release := blockCommitter(t, s)
	boom := errors.New("boom")
	res := startWrites(t, s, []func(storage.Tx) error{
		func(tx storage.Tx) error { return tx.PutMeta("a", []byte("1")) },
		func(tx storage.Tx) error {
			if err := tx.PutMeta("bad", []byte("1")); err != nil {
				return err
			}
			return boom
		},
		func(tx storage.Tx) error { return tx.PutMeta("b", []byte("1")) },
		func(tx storage.Tx) error { panic("broken invariant") },
	})
	release()
	require.NoError(t, <-res[0])
	require.ErrorIs(t, <-res[1], boom)
	require.NoError(t, <-res[2])
	require.ErrorContains(t, <-res[3], "bug: panic in a write transaction: broken invariant")
	require.Equal(t, "1", meta(t, s, "a"))
	require.Equal(t, "1", meta(t, s, "b"))
	require.Equal(t, "", meta(t, s, "bad"), "the failed write left nothing")
}

func TestAWriteThatWritesNothingCostsNoCommit(t *testing.T) {
	s := openStore(t)
	before := s.Stats()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error {
		_, err := tx.Meta("anything")
		return err
	}))
	require.Equal(t, before, s.Stats())
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error { return tx.PutMeta("x", []byte("1")) }))
	require.Equal(t, before.Commits+1, s.Stats().Commits)
}

func TestAWriteCancelledWhileQueuedNeverRuns(t *testing.T) {
	s := openStore(t)
	release := blockCommitter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	res := make(chan error, 1)
	go func() {
		res <- s.Update(ctx, func(tx storage.Tx) error { ran = true; return tx.PutMeta("late", []byte("1")) })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.writes) < 1 {
		require.True(t, time.Now().Before(deadline), "the write was never queued")
		runtime.Gosched()
	}
	cancel()
	release()
	require.ErrorIs(t, <-res, context.Canceled)
	require.False(t, ran)
	require.Equal(t, "", meta(t, s, "late"))
}
