// Package storagetest is the contract suite of storage.Store: one test body
// that every backend runs (bbolt today, PostgreSQL later), so that they
// behave the same.
package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Opener opens a fresh, empty store; reopen opens the same store again
// after Close (for durability checks).
type Opener func(t *testing.T) (s storage.Store, reopen func() storage.Store)

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("collections start empty and reading creates nothing", func(t *testing.T) {
		s, _ := open(t)
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			c, err := tx.Collection("alice", "notes")
			require.NoError(t, err)
			head, err := c.Head()
			require.NoError(t, err)
			require.Zero(t, head)
			_, ok, err := c.Get("x")
			require.NoError(t, err)
			require.False(t, ok)
			content, err := c.Content("x")
			require.NoError(t, err)
			require.Nil(t, content)
			return nil
		}))
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.Collection("alice", "notes")
			return err
		}))
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			n := 0
			require.NoError(t, tx.Collections("alice", func(string, changelog.Seq) error { n++; return nil }))
			require.Zero(t, n)
			return nil
		}))
	})

	t.Run("put assigns versions, keeps content and survives reopen", func(t *testing.T) {
		s, reopen := open(t)
		fp := fingerprint.Of("a", false, []byte("alpha"))
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			c, err := tx.Collection("alice", "notes")
			require.NoError(t, err)
			v, err := c.Put(changelog.Entry{ID: "a", Fingerprint: fp, HLC: 7, Replica: "alice/phone"}, []byte("alpha"))
			require.NoError(t, err)
			require.Equal(t, changelog.Seq(1), v)
			v, err = c.Put(changelog.Entry{ID: "b", Deleted: true, Replica: "alice/phone"}, nil)
			require.NoError(t, err)
			require.Equal(t, changelog.Seq(2), v)
			other, err := tx.Collection("alice", "tasks")
			require.NoError(t, err)
			v, err = other.Put(changelog.Entry{ID: "a", Replica: "alice/phone"}, []byte("t"))
			require.NoError(t, err)
			require.Equal(t, changelog.Seq(1), v, "versions are per collection")
			return nil
		}))
		s = reopen()
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			c, err := tx.Collection("alice", "notes")
			require.NoError(t, err)
			e, ok, err := c.Get("a")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, changelog.Entry{ID: "a", Seq: 1, Fingerprint: fp, HLC: 7, Replica: "alice/phone", Size: 5}, e)
			content, err := c.Content("a")
			require.NoError(t, err)
			require.Equal(t, "alpha", string(content))
			var ids []string
			require.NoError(t, c.Since(0, 0, func(e changelog.Entry) error { ids = append(ids, e.ID); return nil }))
			require.Equal(t, []string{"a", "b"}, ids)
			var names []string
			require.NoError(t, tx.Collections("alice", func(n string, head changelog.Seq) error { names = append(names, n); return nil }))
			require.Equal(t, []string{"notes", "tasks"}, names)
			require.NoError(t, tx.Collections("bob", func(string, changelog.Seq) error { t.Fatal("bob has no collections"); return nil }))
			return nil
		}))
		// A tombstone drops the content.
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			c, _ := tx.Collection("alice", "notes")
			_, err := c.Put(changelog.Entry{ID: "a", Deleted: true, Replica: "alice/phone"}, nil)
			require.NoError(t, err)
			content, err := c.Content("a")
			require.NoError(t, err)
			require.Nil(t, content)
			return nil
		}))
	})

	t.Run("a failed update rolls back everything", func(t *testing.T) {
		s, _ := open(t)
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx storage.Tx) error {
			c, _ := tx.Collection("alice", "notes")
			if _, err := c.Put(changelog.Entry{ID: "a", Replica: "r"}, []byte("x")); err != nil {
				return err
			}
			if _, err := tx.CreateUser("alice", 1); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			n, err := tx.UserCount()
			require.NoError(t, err)
			require.Zero(t, n)
			c, _ := tx.Collection("alice", "notes")
			head, _ := c.Head()
			require.Zero(t, head)
			return nil
		}))
	})

	t.Run("writes inside view fail", func(t *testing.T) {
		s, _ := open(t)
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			require.ErrorIs(t, tx.PutMeta("k", []byte("v")), storage.ErrReadOnly)
			c, _ := tx.Collection("alice", "notes")
			_, err := c.Put(changelog.Entry{ID: "a"}, nil)
			require.ErrorIs(t, err, storage.ErrReadOnly)
			return nil
		}))
	})

	t.Run("users, tokens and meta", func(t *testing.T) {
		s, _ := open(t)
		h := storage.HashToken("sp_secret")
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			created, err := tx.CreateUser("alice", 5)
			require.NoError(t, err)
			require.True(t, created)
			created, err = tx.CreateUser("alice", 6)
			require.NoError(t, err)
			require.False(t, created)
			_, err = tx.CreateUser("bob", 6)
			require.NoError(t, err)
			require.NoError(t, tx.PutToken(h, storage.Token{User: "alice", Device: "phone", CreatedMillis: 9}))
			return tx.PutMeta("epoch", []byte("e"))
		}))
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			n, err := tx.UserCount()
			require.NoError(t, err)
			require.Equal(t, 2, n)
			var users []string
			require.NoError(t, tx.Users(func(u string) error { users = append(users, u); return nil }))
			require.Equal(t, []string{"alice", "bob"}, users)
			tok, ok, err := tx.Token(h)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, storage.Token{User: "alice", Device: "phone", CreatedMillis: 9}, tok)
			_, ok, err = tx.Token(storage.HashToken("other"))
			require.NoError(t, err)
			require.False(t, ok)
			v, err := tx.Meta("epoch")
			require.NoError(t, err)
			require.Equal(t, "e", string(v))
			v, err = tx.Meta("missing")
			require.NoError(t, err)
			require.Nil(t, v)
			return nil
		}))
	})

	t.Run("conflict records are per user, oldest first, and deletable", func(t *testing.T) {
		s, _ := open(t)
		rec := func(id, coll, item string) storage.Conflict {
			return storage.Conflict{ConflictID: id, Collection: coll, Entry: changelog.Entry{ID: item, Fingerprint: fingerprint.Of(item, false, []byte(id)), HLC: 3, Replica: "alice/phone", Size: uint32(len(id))}, Reason: "manual", ServerVersion: 4, Base: 2, Content: []byte(id), CreatedMillis: 11}
		}
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for _, c := range []storage.Conflict{rec("z1", "notes", "a"), rec("a2", "tasks", "b"), rec("m3", "notes", "c")} {
				if err := tx.PutConflict("alice", c); err != nil {
					return err
				}
			}
			require.Error(t, tx.PutConflict("alice", rec("z1", "notes", "a")), "IDs are unique")
			return nil
		}))
		list := func(user, coll string) []string {
			var ids []string
			require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
				return tx.Conflicts(user, coll, func(c storage.Conflict) error { ids = append(ids, c.ConflictID); return nil })
			}))
			return ids
		}
		require.Equal(t, []string{"z1", "a2", "m3"}, list("alice", ""))
		require.Equal(t, []string{"z1", "m3"}, list("alice", "notes"))
		require.Empty(t, list("bob", ""))
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			c, ok, err := tx.Conflict("alice", "m3")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, rec("m3", "notes", "c"), c)
			_, ok, err = tx.Conflict("bob", "m3")
			require.NoError(t, err)
			require.False(t, ok)
			require.NoError(t, tx.DeleteConflict("alice", "z1"))
			require.NoError(t, tx.DeleteConflict("alice", "z1"), "deleting a missing record is fine")
			return nil
		}))
		require.Equal(t, []string{"a2", "m3"}, list("alice", ""))
	})

	t.Run("the conflicts sequence counts changes of a user's records and nothing else", func(t *testing.T) {
		s, reopen := open(t)
		rec := func(id string) storage.Conflict {
			return storage.Conflict{ConflictID: id, Collection: "notes", Entry: changelog.Entry{ID: "a", Fingerprint: fingerprint.Of("a", false, []byte(id)), Replica: "alice/phone", Size: uint32(len(id))}, Reason: "overwritten", ServerVersion: 1, Content: []byte(id), CreatedMillis: 5}
		}
		seq := func(s storage.Store, user string) uint64 {
			var n uint64
			require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
				var err error
				n, err = tx.ConflictsSeq(user)
				return err
			}))
			return n
		}
		steps := []struct {
			name string
			fn   func(tx storage.Tx) error
			want uint64
		}{
			{"a user without records is at 0", func(storage.Tx) error { return nil }, 0},
			{"writing items and metadata changes nothing", func(tx storage.Tx) error {
				c, err := tx.Collection("alice", "notes")
				require.NoError(t, err)
				_, err = c.Put(changelog.Entry{ID: "a", Replica: "alice/phone"}, []byte("x"))
				require.NoError(t, err)
				return tx.PutMeta("k", []byte("v"))
			}, 0},
			{"a stored record counts one", func(tx storage.Tx) error { return tx.PutConflict("alice", rec("r1")) }, 1},
			{"two in one transaction count two", func(tx storage.Tx) error {
				require.NoError(t, tx.PutConflict("alice", rec("r2")))
				return tx.PutConflict("alice", rec("r3"))
			}, 3},
			{"a refused duplicate counts nothing", func(tx storage.Tx) error {
				require.Error(t, tx.PutConflict("alice", rec("r1")))
				return nil
			}, 3},
			{"a removed record counts one", func(tx storage.Tx) error { return tx.DeleteConflict("alice", "r2") }, 4},
			{"removing a missing record counts nothing", func(tx storage.Tx) error {
				require.NoError(t, tx.DeleteConflict("alice", "r2"))
				require.NoError(t, tx.DeleteConflict("alice", "nope"))
				return tx.DeleteConflict("carol", "r1")
			}, 4},
			{"another user's records do not count", func(tx storage.Tx) error { return tx.PutConflict("bob", rec("b1")) }, 4},
			{"a rolled-back change leaves it", func(tx storage.Tx) error {
				require.NoError(t, tx.PutConflict("alice", rec("r9")))
				return errors.New("roll back")
			}, 4},
		}
		for _, st := range steps {
			_ = s.Update(ctx, st.fn)
			require.Equal(t, st.want, seq(s, "alice"), st.name)
		}
		require.Equal(t, uint64(1), seq(s, "bob"))
		require.Zero(t, seq(s, "carol"))
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			_, err := tx.ConflictsSeq("alice")
			return err
		}), "readable in a read-only transaction")
		s = reopen()
		require.Equal(t, uint64(4), seq(s, "alice"), "durable")
	})

	t.Run("idempotency records are pruned oldest first", func(t *testing.T) {
		s, _ := open(t)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for i, id := range []string{"b1", "b2", "b3", "b4"} {
				if err := tx.PutBatch("alice", id, storage.Batch{CreatedMillis: uint64(100 + i), RequestHash: [32]byte{byte(i)}, Response: []byte(id)}); err != nil {
					return err
				}
			}
			b, ok, err := tx.Batch("alice", "b2")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, storage.Batch{CreatedMillis: 101, RequestHash: [32]byte{1}, Response: []byte("b2")}, b)
			_, ok, err = tx.Batch("bob", "b2")
			require.NoError(t, err)
			require.False(t, ok)
			// Older than 101 goes (b1); then more than 2 left goes (b2).
			n, err := tx.PruneBatches(101, 2, 10)
			require.NoError(t, err)
			require.Equal(t, 2, n)
			// At most max per call.
			n, err = tx.PruneBatches(1000, 0, 1)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			return nil
		}))
		require.NoError(t, s.View(ctx, func(tx storage.Tx) error {
			for id, want := range map[string]bool{"b1": false, "b2": false, "b3": false, "b4": true} {
				_, ok, err := tx.Batch("alice", id)
				require.NoError(t, err)
				require.Equal(t, want, ok, id)
			}
			return nil
		}))
	})

	t.Run("closed stores refuse transactions", func(t *testing.T) {
		s, _ := open(t)
		require.NoError(t, s.Close())
		require.NoError(t, s.Close())
		require.ErrorIs(t, s.View(ctx, func(storage.Tx) error { return nil }), storage.ErrClosed)
		require.ErrorIs(t, s.Update(ctx, func(storage.Tx) error { return nil }), storage.ErrClosed)
	})
}
