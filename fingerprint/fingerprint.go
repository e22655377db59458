// Package fingerprint owns the item fingerprint of the Syncprint protocol:
// BLAKE3-256 in derive-key mode over a canonical byte encoding of an item's
// ID, deleted flag and content (spec/PROTOCOL.md section 4).
//
// Two replicas holding the same item compute the same fingerprint, so a sync
// session compares 32 bytes instead of moving content. The canonical encoding
// is
//
//	u32be(len(id)) || id || u8(deleted) || u64be(len(content)) || content
//
// and the BLAKE3 key-derivation context is [Context]. A tombstone has empty
// content.
package fingerprint

import (
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/zeebo/blake3"
)

// Context is the BLAKE3 derive-key context string of item fingerprints. It is
// part of the protocol: changing it changes every fingerprint.
const Context = "syncprint.dev 2026-11 item fingerprint v1"

// Size is the length of a fingerprint in bytes.
const Size = 32

// Fingerprint is the BLAKE3-256 digest of an item's canonical encoding.
// The zero value is not the fingerprint of any item; see [Fingerprint.IsZero].
type Fingerprint [Size]byte

// ErrSize is returned by [FromBytes] and [Parse] when the input does not hold
// exactly [Size] bytes.
var ErrSize = errors.New("fingerprint: wrong length")

// Of returns the fingerprint of an item. For a tombstone (deleted true)
// content must be empty; Of hashes whatever it is given, and callers that
// accept input from the network check the emptiness themselves.
func Of(id string, deleted bool, content []byte) Fingerprint {
	h := hashers.Get().(*blake3.Hasher)
	defer hashers.Put(h)
	h.Reset()
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(id)))
	_, _ = h.Write(hdr[:4])
	_, _ = h.WriteString(id)
	if deleted {
		hdr[0] = 1
	} else {
		hdr[0] = 0
	}
	_, _ = h.Write(hdr[:1])
	binary.BigEndian.PutUint64(hdr[:], uint64(len(content)))
	_, _ = h.Write(hdr[:])
	_, _ = h.Write(content)
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp
}

// Canonical returns the canonical byte encoding that [Of] hashes. It exists
// for test vectors and for implementers checking their own encoding; [Of]
// does not build this slice.
func Canonical(id string, deleted bool, content []byte) []byte {
	b := make([]byte, 0, 4+len(id)+1+8+len(content))
	b = binary.BigEndian.AppendUint32(b, uint32(len(id)))
	b = append(b, id...)
	if deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(content)))
	return append(b, content...)
}

// base holds the derive-key state after the context string has been hashed;
// it is never written to, only cloned, so deriving the context key happens
// once per process instead of once per item.
var base = blake3.NewDeriveKey(Context)

// newHasher returns a fresh derive-key hasher for one item.
func newHasher() *blake3.Hasher { return base.Clone() }

// hashers recycles derive-key hashers: a hasher carries an 8 KiB buffer,
// and copying it for every item cost as much as hashing 200 bytes. Reset
// returns a derive-key hasher to the state after the context string (it
// keeps the derived key), so a recycled one equals a fresh clone of base.
var hashers = sync.Pool{New: func() any { return newHasher() }}

// FromBytes converts a wire value to a Fingerprint. It returns ErrSize unless
// b holds exactly Size bytes.
func FromBytes(b []byte) (Fingerprint, error) {
	var fp Fingerprint
	if len(b) != Size {
		return fp, fmt.Errorf("%w: got %d bytes, want %d", ErrSize, len(b), Size)
	}
	copy(fp[:], b)
	return fp, nil
}

// Parse decodes a lower- or upper-case hexadecimal fingerprint.
func Parse(s string) (Fingerprint, error) {
	var fp Fingerprint
	b, err := hex.DecodeString(s)
	if err != nil {
		return fp, fmt.Errorf("parse fingerprint: %w", err)
	}
	return FromBytes(b)
}

// String returns the lower-case hexadecimal form.
func (fp Fingerprint) String() string { return hex.EncodeToString(fp[:]) }

// Bytes returns a copy of the fingerprint as a slice, as it goes on the wire.
func (fp Fingerprint) Bytes() []byte { b := fp; return b[:] }

// IsZero reports whether fp is the zero value (no fingerprint).
func (fp Fingerprint) IsZero() bool { return fp == Fingerprint{} }

// Equal compares two fingerprints in constant time.
func (fp Fingerprint) Equal(other Fingerprint) bool {
	return subtle.ConstantTimeCompare(fp[:], other[:]) == 1
}

// MarshalJSON renders the fingerprint as a JSON string of lower-case hex,
// as it is shown everywhere but on the wire. (Msgpack, which carries
// fingerprints as 32-byte bin values, does not use it.)
func (fp Fingerprint) MarshalJSON() ([]byte, error) {
	return []byte(`"` + fp.String() + `"`), nil
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (fp *Fingerprint) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("parse fingerprint: want a JSON string of hex, got %.20s", b)
	}
	v, err := Parse(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*fp = v
	return nil
}

// Item is what [Of] hashes, for [OfEach].
type Item struct {
	ID      string
	Deleted bool
	Content []byte
}

// OfEach sets out[i] to the fingerprint of item(i), for every i below
// len(out). A large set is hashed on several cores, item called from
// several goroutines at once, so item must be safe for that (reads only).
//
// Why: a server verifies every upload of an exchange before it acts on it,
// and a client every item an answer brings, while the other side waits;
// 5,000 items of 200 bytes take about 2.5 ms on one core of the machine of
// docs/performance.md, and the second core is idle meanwhile.
func OfEach(out []Fingerprint, item func(i int) Item) {
	parts := min(runtime.GOMAXPROCS(0), len(out)/minPart)
	if parts <= 1 {
		for i := range out {
			it := item(i)
			out[i] = Of(it.ID, it.Deleted, it.Content)
		}
		return
	}
	hash := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			it := item(i)
			out[i] = Of(it.ID, it.Deleted, it.Content)
		}
	}
	var wg sync.WaitGroup
	per := (len(out) + parts - 1) / parts
	for lo := per; lo < len(out); lo += per {
		wg.Go(func() { hash(lo, min(lo+per, len(out))) })
	}
	hash(0, per) // the first part on the caller's goroutine
	wg.Wait()
}

// minPart is the fewest items a goroutine of [OfEach] hashes. Hashing 1,000
// items of 200 bytes on two cores saves about 0.25 ms, and in a process
// that has just started, waking or starting a second thread for it costs
// as much: interleaved runs of the bench's bidirectional sync (1,000 items
// each way) were 1 ms slower with parts of 256.
const minPart = 1000
