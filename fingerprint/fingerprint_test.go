package fingerprint_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"

	"github.com/syncprint/syncprint/fingerprint"
)

func TestOfMatchesDeriveKeyOverCanonicalBytes(t *testing.T) {
	cases := []struct {
		name    string
		id      string
		deleted bool
		content []byte
	}{
		{"empty content", "a", false, nil},
		{"tombstone", "a", true, nil},
		{"multi-byte id", "Zürich/東京/🚀", false, []byte("hello")},
		{"one mebibyte", "big", false, bytes.Repeat([]byte{0xAB}, 1<<20)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want [32]byte
			blake3.DeriveKey(fingerprint.Context, fingerprint.Canonical(tc.id, tc.deleted, tc.content), want[:])
			got := fingerprint.Of(tc.id, tc.deleted, tc.content)
			require.Equal(t, fingerprint.Fingerprint(want), got)
			// Calling twice proves the shared base state is not mutated.
			require.Equal(t, got, fingerprint.Of(tc.id, tc.deleted, tc.content))
		})
	}
}

func TestDeletedFlagAndFieldBoundariesChangeTheFingerprint(t *testing.T) {
	require.NotEqual(t, fingerprint.Of("a", false, nil), fingerprint.Of("a", true, nil))
	// "ab"+"c" must differ from "a"+"bc": the length prefixes separate fields.
	require.NotEqual(t, fingerprint.Of("ab", false, []byte("c")), fingerprint.Of("a", false, []byte("bc")))
}

func TestCanonicalLayout(t *testing.T) {
	got := fingerprint.Canonical("é", true, []byte{7})
	want := []byte{0, 0, 0, 2, 0xC3, 0xA9, 1, 0, 0, 0, 0, 0, 0, 0, 1, 7}
	require.Equal(t, want, got)
}

func TestParseRoundTripAndErrors(t *testing.T) {
	fp := fingerprint.Of("x", false, []byte("y"))
	back, err := fingerprint.Parse(fp.String())
	require.NoError(t, err)
	require.Equal(t, fp, back)
	_, err = fingerprint.Parse(strings.Repeat("0", 62))
	require.ErrorIs(t, err, fingerprint.ErrSize)
	_, err = fingerprint.Parse("zz")
	require.Error(t, err)
	_, err = fingerprint.FromBytes(make([]byte, 31))
	require.ErrorIs(t, err, fingerprint.ErrSize)
	require.True(t, fingerprint.Fingerprint{}.IsZero())
	require.False(t, fp.IsZero())
}

func BenchmarkOf200B(b *testing.B) {
	content := bytes.Repeat([]byte("x"), 200)
	b.SetBytes(200)
	b.ReportAllocs()
	for b.Loop() {
		fingerprint.Of("item-000123", false, content)
	}
}

func BenchmarkOf1MiB(b *testing.B) {
	content := bytes.Repeat([]byte("x"), 1<<20)
	b.SetBytes(1 << 20)
	for b.Loop() {
		fingerprint.Of("big", false, content)
	}
}

func TestRecycledHashersStartClean(t *testing.T) {
	// Long inputs leave a hasher with a full buffer and a chaining-value
	// stack; the next item must not see any of it.
	sizes := []int{100_000, 0, 8193, 1, 1025, 1024, 8192, 1023, 64, 65}
	for round := 0; round < 3; round++ {
		for _, n := range sizes {
			content := bytes.Repeat([]byte{byte(n)}, n)
			var want fingerprint.Fingerprint
			blake3.DeriveKey(fingerprint.Context, fingerprint.Canonical("id", false, content), want[:])
			require.Equal(t, want, fingerprint.Of("id", false, content), "%d bytes, round %d", n, round)
		}
	}
}

func TestFingerprintsAreHexInJSONAndBinInMsgpackUnchanged(t *testing.T) {
	fp := fingerprint.Of("a", false, []byte("x"))
	b, err := json.Marshal(struct{ FP fingerprint.Fingerprint }{fp})
	require.NoError(t, err)
	require.Equal(t, `{"FP":"`+fp.String()+`"}`, string(b))
	var back struct{ FP fingerprint.Fingerprint }
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, fp, back.FP)
	require.Error(t, json.Unmarshal([]byte(`{"FP":"abc"}`), &back))
	require.Error(t, json.Unmarshal([]byte(`{"FP":[1,2]}`), &back))
}

func TestOfEachHashesEveryItemAsOfDoes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, n := range []int{0, 1, 100, 3000} { // 3,000 items go on two cores
		items := make([]fingerprint.Item, n)
		for i := range items {
			items[i] = fingerprint.Item{ID: fmt.Sprintf("item-%d", i), Deleted: i%7 == 0}
			if !items[i].Deleted {
				items[i].Content = bytes.Repeat([]byte{byte(i)}, 200)
			}
		}
		// On two cores the first item waits until an item of the second
		// half is being hashed: they go at the same time.
		second := make(chan struct{})
		var once sync.Once
		out := make([]fingerprint.Fingerprint, n)
		fingerprint.OfEach(out, func(i int) fingerprint.Item {
			switch {
			case n < 2000:
			case i == 0:
				select {
				case <-second:
				case <-time.After(10 * time.Second):
					t.Errorf("n=%d: the second half was not hashed while the first waited", n)
				}
			case i >= n/2:
				once.Do(func() { close(second) })
			}
			return items[i]
		})
		for i, it := range items {
			require.Equal(t, fingerprint.Of(it.ID, it.Deleted, it.Content), out[i], "n=%d item %d", n, i)
		}
	}
}

// BenchmarkOfEach5000x200B is a push's exchange of uploads, verified by
// the server, on one core and on two.
func BenchmarkOfEach5000x200B(b *testing.B) {
	items := make([]fingerprint.Item, 5000)
	for i := range items {
		items[i] = fingerprint.Item{ID: fmt.Sprintf("item-%07d", i), Content: bytes.Repeat([]byte{byte(i)}, 200)}
	}
	out := make([]fingerprint.Fingerprint, len(items))
	for _, cores := range []int{1, 2} {
		b.Run(fmt.Sprintf("cores=%d", cores), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
			b.SetBytes(int64(len(items) * 200))
			b.ReportAllocs()
			for b.Loop() {
				fingerprint.OfEach(out, func(i int) fingerprint.Item { return items[i] })
			}
		})
	}
}
