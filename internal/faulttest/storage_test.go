package faulttest_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/internal/faultstore"
	"github.com/syncprint/syncprint/internal/faulttest"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
	"github.com/syncprint/syncprint/serverd/boltdb"
)

// TestServerStorageFaults fails the k-th write or commit of the server's
// store, loses the k-th commit's acknowledgement, or fills the disk from
// the k-th write on, while two replicas push edits to every collection.
// Each fault must surface as an internal error (never a success), nothing
// acknowledged may be missing after the server reopens its file (which
// must pass boltdb.Check), and once the fault clears the replicas converge
// with every edit applied exactly once.
func TestServerStorageFaults(t *testing.T) {
	// The faulty round makes about 50 writes in 8 commits (an exchange per
	// collection and replica); the first exchange writes 4 items (1-4),
	// its idempotency record (5), prunes (6) and stores the clock (7).
	// SYNCPRINT_FAULT_SWEEP=full runs every k.
	sweep := []struct {
		kind faultstore.Kind
		ks   []int
	}{
		{faultstore.FailWrite, []int{1, 4, 5, 6, 7, 20, 48}},
		{faultstore.FailCommit, []int{1, 4, 8}},
		{faultstore.LostCommit, []int{1, 4, 8}},
		{faultstore.DiskFull, []int{1, 5, 27}},
	}
	if os.Getenv("SYNCPRINT_FAULT_SWEEP") == "full" {
		sweep[0].ks, sweep[1].ks, sweep[2].ks = seq(1, 56), seq(1, 10), seq(1, 10)
		sweep[3].ks = seq(1, 50)
	}
	for _, sw := range sweep {
		for _, k := range sw.ks {
			f := faultstore.Fault{Kind: sw.kind, K: k}
			t.Run(f.String(), func(t *testing.T) {
				t.Parallel()
				runServerStorageFault(t, f)
			})
		}
	}
}

func seq(lo, hi int) []int {
	var out []int
	for k := lo; k <= hi; k++ {
		out = append(out, k)
	}
	return out
}

func runServerStorageFault(t *testing.T, f faultstore.Fault) {
	faults := faultstore.New()
	s := startServer(t, faults.Wrap)
	checker := s.token("u", "checker")
	a := openReplica(t, 0, s.url(), s.token("u", "a"), nil, clientd.Config{})
	b := openReplica(t, 1, s.url(), s.token("u", "b"), nil, clientd.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.edit(0, 1, 2)
	b.edit(0, 1)
	for _, r := range []*replica{a, b} {
		_, err := r.c.Sync(ctx)
		require.NoError(t, err)
	}
	seenA, seenB := len(a.rec.Outcomes()), len(b.rec.Outcomes())

	faults.Arm(f)
	a.edit(1, 2, 3, 4)
	b.edit(1, 2)
	_, errA := a.c.Sync(ctx)
	_, errB := b.c.Sync(ctx)
	injected := faults.Injected()
	writes, commits := faults.Counts()
	t.Logf("%s: %d injected over %d writes and %d commits; sync errors %v, %v", f, injected, writes, commits, errA, errB)
	faults.Heal()

	reached := f.K <= writes
	if f.Kind == faultstore.FailCommit || f.Kind == faultstore.LostCommit {
		reached = f.K <= commits
	}
	require.Equal(t, reached, injected > 0, "the fault did not strike where it should")
	internal := 0
	for _, o := range append(a.rec.Outcomes()[seenA:], b.rec.Outcomes()[seenB:]...) {
		if o.Status != 200 {
			require.Equal(t, protocol.CodeInternal, o.Code, "a storage fault answered with %d %q", o.Status, o.Code)
			internal++
		}
	}
	require.Equal(t, injected, internal, "every injected fault fails exactly its own request, with code internal")
	for _, err := range []error{errA, errB} {
		if f.Kind == faultstore.DiskFull {
			if err != nil {
				require.Equal(t, protocol.CodeInternal, protocol.CodeOf(err), "%v", err)
			}
			continue
		}
		require.NoError(t, err, "a one-off fault is retried within the session")
	}
	if f.Kind == faultstore.DiskFull && injected > 0 {
		require.True(t, errA != nil || errB != nil, "a full disk went unnoticed")
	}

	// Reopen the file as it is (boltdb.Check runs between): everything
	// acknowledged is there.
	s.reopen()
	state, _ := s.state(checker)
	bad := faulttest.CheckAcks(append(a.rec.Acks(), b.rec.Acks()...), state)
	require.Empty(t, bad)

	converge(t, s, checker, a, b)
	_, applied := s.state(checker)
	require.Equal(t, uint64(a.n+b.n), applied, "%d edits, %d versions applied: an edit was lost or applied twice", a.n+b.n, applied)
	s.reopen() // and the file is still consistent
}

// TestServerStorageFaultsUnderConcurrentWrites is the sweep with four
// replicas syncing at once, so that the store commits their exchanges in
// groups: a fault in one write of a group must undo none of the others'
// work and lose nothing. Counts vary with the grouping, so only the
// invariants are checked.
func TestServerStorageFaultsUnderConcurrentWrites(t *testing.T) {
	faults := []faultstore.Fault{
		{Kind: faultstore.FailWrite, K: 3}, {Kind: faultstore.FailWrite, K: 11}, {Kind: faultstore.FailWrite, K: 30},
		{Kind: faultstore.FailCommit, K: 2}, {Kind: faultstore.FailCommit, K: 5},
		{Kind: faultstore.LostCommit, K: 2}, {Kind: faultstore.LostCommit, K: 6},
		{Kind: faultstore.DiskFull, K: 15},
	}
	var shared atomic.Int64 // writes that shared a commit, over every subtest
	t.Cleanup(func() {
		require.NotZero(t, shared.Load(), "no commit was shared: the test did not exercise grouped writes")
	})
	for _, f := range faults {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			fs := faultstore.New()
			var bolt *boltdb.Store
			s := startServer(t, func(st serverd.Store) serverd.Store {
				bolt = st.(*boltdb.Store)
				return fs.Wrap(st)
			})
			checker := s.token("u", "checker")
			var rs []*replica
			for i := range 4 {
				rs = append(rs, openReplica(t, i, s.url(), s.token("u", fmt.Sprintf("d%d", i)), nil, clientd.Config{}))
			}
			fs.SetSlow(10 * time.Millisecond) // writers queue up and share commits
			fs.Arm(f)
			for round := 1; round <= 2; round++ {
				var wg sync.WaitGroup
				errs := make([]error, len(rs))
				for i, r := range rs {
					r.edit(round, round+10)
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[i] = r.c.Sync(context.Background())
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						require.Equal(t, protocol.CodeInternal, protocol.CodeOf(err), "replica %d: %v", i, err)
					}
				}
			}
			st := bolt.Stats()
			t.Logf("%s: %d injected; %d writes in %d commits", f, fs.Injected(), st.Writes, st.Commits)
			require.NotZero(t, fs.Injected(), "the fault did not strike")
			shared.Add(int64(st.Writes - st.Commits))
			fs.Heal()
			s.reopen()
			state, _ := s.state(checker)
			var acks []faulttest.Ack
			for _, r := range rs {
				acks = append(acks, r.rec.Acks()...)
			}
			require.Empty(t, faulttest.CheckAcks(acks, state))
			converge(t, s, checker, rs...)
			_, applied := s.state(checker)
			edits := 0
			for _, r := range rs {
				edits += r.n
			}
			require.Equal(t, uint64(edits), applied, "an edit was lost or applied twice")
			s.reopen()
		})
	}
}
