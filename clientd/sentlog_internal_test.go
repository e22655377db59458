package clientd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func sentRec(batch string, wire string) *sentRecord {
	return &sentRecord{sentMS: 1700000000000, replica: "r1", collection: "notes", batchID: batch, epoch: "e1", coding: "zstd", wire: []byte(wire)}
}

// batches reads the log as a new process would and returns the batch IDs
// it holds unsettled.
func batches(t *testing.T, store string) []string {
	t.Helper()
	recs, err := newSentLog(store).unsettled()
	require.NoError(t, err)
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.batchID)
	}
	return ids
}

func TestTheSentLogHoldsWhatWasSentAndNotSettled(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.db")
	l := newSentLog(store)
	defer l.close()
	require.Empty(t, batches(t, store), "no files yet")

	require.NoError(t, l.add(sentRec("b1", "request one")))
	require.NoError(t, l.add(sentRec("b2", "request two")))
	require.ElementsMatch(t, []string{"b1", "b2"}, batches(t, store))
	recs, err := newSentLog(store).unsettled()
	require.NoError(t, err)
	require.Contains(t, recs, *sentRec("b1", "request one"), "every field comes back")
	require.ErrorContains(t, l.add(sentRec("b3", "request three")), "2 exchanges unsettled already",
		"a session has at most two exchanges unsettled: a third would overwrite one")

	require.NoError(t, l.settle("b1"))
	require.Equal(t, []string{"b2"}, batches(t, store))
	// The slot of b1 is written again, with a shorter record: what is left
	// of the longer one after it is not read.
	require.NoError(t, l.add(sentRec("b3", "three")))
	require.ElementsMatch(t, []string{"b2", "b3"}, batches(t, store))
	recs, err = newSentLog(store).unsettled()
	require.NoError(t, err)
	require.Contains(t, recs, *sentRec("b3", "three"))
	require.NoError(t, l.settle("b2"))
	require.NoError(t, l.settle("b3"))
	require.NoError(t, l.settle("b3"), "settled twice")
	require.Empty(t, batches(t, store), "all settled")

	for _, p := range l.paths {
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Less(t, st.Size(), int64(100), "%s grows with the largest record, not with the records written", p)
	}
}

func TestATornOrDamagedSentRecordIsNotRead(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.db")
	l := newSentLog(store)
	require.NoError(t, l.add(sentRec("b1", "request one")))
	require.NoError(t, l.close())
	path := store + SentLogSuffix + "0"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, []string{"b1"}, batches(t, store))

	for _, c := range []struct {
		name string
		data []byte
	}{
		{"a write cut short by a kill", data[:len(data)-3]},
		{"only part of the header", data[:7]},
		{"a changed byte in the request", flip(data, len(data)-2)},
		{"a changed byte in the batch ID", flip(data, 30)},
		{"a changed length", flip(data, 7)},
		{"nothing", nil},
	} {
		require.NoError(t, os.WriteFile(path, c.data, 0o600))
		require.Empty(t, batches(t, store), c.name)
	}
}

func flip(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 1
	return b
}

func TestAResetSentLogIsEmpty(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.db")
	l := newSentLog(store)
	defer l.close()
	require.NoError(t, l.reset(), "nothing to reset")
	require.NoError(t, l.add(sentRec("b1", "request one")))
	recs, err := l.unsettled()
	require.NoError(t, err)
	require.Len(t, recs, 1, "this process's own unsettled record")
	require.NoError(t, l.reset())
	require.Empty(t, batches(t, store))
	recs, err = l.unsettled()
	require.NoError(t, err)
	require.Empty(t, recs)
	require.NoError(t, l.settle("b1"), "settling a record reset away changes nothing")
	require.NoError(t, l.add(sentRec("b2", "request two")))
	require.NoError(t, l.add(sentRec("b3", "request three")), "both slots are free again")
	require.ElementsMatch(t, []string{"b2", "b3"}, batches(t, store))

	// A new process reads what an earlier one left, and resets it.
	other := newSentLog(store)
	defer other.close()
	recs, err = other.unsettled()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.NoError(t, other.reset())
	require.Empty(t, batches(t, store))
}

func TestALargeSentRecordIsWrittenInPartsAndReadWhole(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.db")
	l := newSentLog(store)
	defer l.close()
	big := make([]byte, 3*sentCopyMax)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, l.add(sentRec("small", "a short request")))
	require.NoError(t, l.add(sentRec("big", string(big))))
	recs, err := newSentLog(store).unsettled()
	require.NoError(t, err)
	require.Contains(t, recs, *sentRec("big", string(big)))

	// Cut short, as by a kill between its writes: not read.
	path := store + SentLogSuffix + "1"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data[:len(data)-sentCopyMax], 0o600))
	require.Equal(t, []string{"small"}, batches(t, store))
}

// keptBatches returns the batch IDs of the kept exchanges of a collection.
func keptBatches(t *testing.T, c *Client, coll string) []string {
	t.Helper()
	var ids []string
	require.NoError(t, c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, coll, false)
		if err != nil || col == nil {
			return err
		}
		if b := col.b.Bucket(bktUnanswered); b != nil {
			return b.ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
		}
		return nil
	}))
	return ids
}

func TestOnlyTheStoresOwnSentRecordsAreKept(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.db")
	c, err := Open(store, Config{})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Put("notes", "n1", []byte("x")))
	c.mu.Lock()
	c.replica = "r1"
	c.mu.Unlock()

	plain := sentRec("mine", "request")
	plain.coding = ""
	other := sentRec("theirs", "request")
	other.coding, other.replica = "", "r2"
	require.NoError(t, c.sent.add(plain))
	require.NoError(t, c.sent.add(other))
	require.NoError(t, c.keepSent())
	require.Equal(t, []string{"mine"}, keptBatches(t, c, "notes"), "the record of another replica is dropped")
	require.Empty(t, batches(t, store), "both are off the log")
	require.NoError(t, c.keepSent(), "nothing left to keep")
	require.Equal(t, []string{"mine"}, keptBatches(t, c, "notes"))
}
