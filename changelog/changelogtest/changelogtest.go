// Package changelogtest is the contract test suite every changelog.Log
// implementation runs (in the style of Litestream's RunWithReplicaClient).
package changelogtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
)

// WithLog runs fn against a fresh, empty Log. Implementations that need a
// transaction run fn inside one and commit it if fn returns.
type WithLog func(t *testing.T, fn func(l changelog.Log))

func entry(id string, content string) changelog.Entry {
	return changelog.Entry{ID: id, Fingerprint: fingerprint.Of(id, false, []byte(content)), HLC: changelog.NewHLC(1000, 1), Replica: "r1", Size: uint32(len(content))}
}

func collect(t *testing.T, l changelog.Log, after changelog.Seq, limit int) []changelog.Entry {
	t.Helper()
	var out []changelog.Entry
	require.NoError(t, l.Since(after, limit, func(e changelog.Entry) error { out = append(out, e); return nil }))
	return out
}

// Run runs the contract suite.
func Run(t *testing.T, with WithLog) {
	t.Run("an empty log has head zero and lists nothing", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			h, err := l.Head()
			require.NoError(t, err)
			require.Zero(t, h)
			_, ok, err := l.Get("x")
			require.NoError(t, err)
			require.False(t, ok)
			require.Empty(t, collect(t, l, 0, 0))
		})
	})
	t.Run("append assigns increasing seqs and get returns the entry", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			for i := 1; i <= 5; i++ {
				s, err := l.Append(entry(fmt.Sprint("id", i), "v"))
				require.NoError(t, err)
				require.Equal(t, changelog.Seq(i), s)
			}
			e, ok, err := l.Get("id3")
			require.NoError(t, err)
			require.True(t, ok)
			want := entry("id3", "v")
			want.Seq = 3
			require.Equal(t, want, e)
		})
	})
	t.Run("re-appending an item moves it to the head and lists it once", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			for _, id := range []string{"a", "b", "c", "a"} {
				_, err := l.Append(entry(id, id+"!"))
				require.NoError(t, err)
			}
			got := collect(t, l, 0, 0)
			require.Len(t, got, 3)
			require.Equal(t, []string{"b", "c", "a"}, []string{got[0].ID, got[1].ID, got[2].ID})
			require.Equal(t, changelog.Seq(4), got[2].Seq)
			h, _ := l.Head()
			require.Equal(t, changelog.Seq(4), h)
		})
	})
	t.Run("since honours after and limit", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			for i := 0; i < 10; i++ {
				_, err := l.Append(entry(fmt.Sprint(i), ""))
				require.NoError(t, err)
			}
			got := collect(t, l, 4, 3)
			require.Len(t, got, 3)
			require.Equal(t, changelog.Seq(5), got[0].Seq)
			require.Equal(t, changelog.Seq(7), got[2].Seq)
			require.Empty(t, collect(t, l, 10, 0))
		})
	})
	t.Run("explicit seqs must increase", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			e := entry("a", "")
			e.Seq = 10
			s, err := l.Append(e)
			require.NoError(t, err)
			require.Equal(t, changelog.Seq(10), s)
			e.Seq = 10
			_, err = l.Append(e)
			require.ErrorIs(t, err, changelog.ErrSeqOrder)
			_, err = l.Append(changelog.Entry{})
			require.ErrorIs(t, err, changelog.ErrEmptyID)
		})
	})
	t.Run("tombstones keep their flag and multi-byte ids survive", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			e := changelog.Entry{ID: "東京/ü", Deleted: true, Fingerprint: fingerprint.Of("東京/ü", true, nil), HLC: 7, Replica: "dev-ü"}
			_, err := l.Append(e)
			require.NoError(t, err)
			got, ok, err := l.Get("東京/ü")
			require.NoError(t, err)
			require.True(t, ok)
			require.True(t, got.Deleted)
			require.Equal(t, e.Replica, got.Replica)
		})
	})
	t.Run("an error from the callback stops the walk", func(t *testing.T) {
		with(t, func(l changelog.Log) {
			for i := 0; i < 3; i++ {
				_, _ = l.Append(entry(fmt.Sprint(i), ""))
			}
			n := 0
			stop := fmt.Errorf("stop")
			err := l.Since(0, 0, func(changelog.Entry) error { n++; return stop })
			require.ErrorIs(t, err, stop)
			require.Equal(t, 1, n)
		})
	})
}
