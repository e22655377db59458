package clientd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// Store layout (one bbolt file, and the sent log beside it, sentlog.go):
//
//	meta                     key -> value: hlc, edit, replica, last_sync, max_item, conf_seq, hist_first, hist_next,
//	                         sconf_mark (see confMark)
//	colls/<collection>/      one bucket per collection:
//	    items/   id -> record (encodeRecord)
//	    pending/ id -> u64be edit counter of the unsent local edit
//	    doubt/   id -> fingerprints (32 bytes each, at most maxDoubt) of
//	             uploads sent without a known outcome (created when needed)
//	    cursor   the server cursor after the last completed pull
//	    cursor_head, cursor_behind: what the client knows of the cursor (setCursor)
//	lconf/   local conflict ID -> localConflict (msgpack)
//	sconf/   server conflict ID -> protocol.Conflict (msgpack), replaced at each sync
//	hist/    u64be sequence -> historyRecord (msgpack), oldest first, bounded
var (
	bktMeta       = []byte("meta")
	bktColls      = []byte("colls")
	bktItems      = []byte("items")
	bktPending    = []byte("pending")
	bktDoubt      = []byte("doubt")
	bktLocalConf  = []byte("lconf")
	bktServerConf = []byte("sconf")
	bktHist       = []byte("hist")

	keyCursor    = []byte("cursor")
	keyCurHead   = []byte("cursor_head")   // head(8) epoch: the head the cursor is the cursor of
	keyBehind    = []byte("cursor_behind") // u64be: content bytes of the device's own uploads after the cursor
	keyHLC       = []byte("hlc")
	keyEdit      = []byte("edit")
	keyReplica   = []byte("replica")
	keyLastSync  = []byte("last_sync")
	keyMaxItem   = []byte("max_item")
	keyConfSeq   = []byte("conf_seq")
	keyHistFirst = []byte("hist_first")
	keyHistNext  = []byte("hist_next")
	keySConfMark = []byte("sconf_mark")
	keyInfo      = []byte("info") // the last full Info with a tag (SP-3-16), msgpack
)

// errCorrupt is returned when a stored value cannot be decoded.
var errCorrupt = errors.New("clientd: corrupt store record")

// record is one item as the client holds it.
type record struct {
	Content []byte
	Deleted bool
	FP      fingerprint.Fingerprint
	HLC     changelog.HLC
	// Author is the replica that made this version ("local" for an edit
	// made before the device learnt its replica ID).
	Author changelog.ReplicaID
	// Base is the server version the content derives from; Seen is the
	// newest server version known for the item.
	Base, Seen changelog.Seq
	// Edit is the local edit counter of the last local edit (0: none). A
	// sync compares it to detect an edit made while an exchange was in
	// flight.
	Edit uint64
	// Size is len(Content); kept when the content is not decoded.
	Size int
}

const recordVersion = 1

// recordFixed: version(1) flags(1) fp(32) hlc(8) base(8) seen(8) edit(8) authorLen(2).
const recordFixed = 1 + 1 + fingerprint.Size + 8 + 8 + 8 + 8 + 2

func encodeRecord(r *record) []byte { return appendRecord(nil, r) }

// appendRecord appends the encoding of r to dst.
func appendRecord(dst []byte, r *record) []byte {
	n := recordFixed + len(r.Author) + len(r.Content)
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	b := dst[len(dst) : len(dst)+recordFixed]
	b[0] = recordVersion
	b[1] = 0
	if r.Deleted {
		b[1] = 1
	}
	copy(b[2:34], r.FP[:])
	binary.BigEndian.PutUint64(b[34:42], uint64(r.HLC))
	binary.BigEndian.PutUint64(b[42:50], uint64(r.Base))
	binary.BigEndian.PutUint64(b[50:58], uint64(r.Seen))
	binary.BigEndian.PutUint64(b[58:66], r.Edit)
	binary.BigEndian.PutUint16(b[66:68], uint16(len(r.Author)))
	b = append(b, r.Author...)
	b = append(b, r.Content...)
	return dst[:len(dst)+len(b)]
}

// decodeRecord decodes v; the content is copied only when withContent.
func decodeRecord(v []byte, withContent bool) (*record, error) {
	var author changelog.ReplicaID
	return decodeRecordAuthor(v, withContent, &author)
}

// Content modes of decodeRecordAuthor.
const (
	noContent   = false
	copyContent = true
)

// decodeRecordAuthor is decodeRecord reusing *author as the record's author
// when the bytes match, and remembering the new one when they do not.
func decodeRecordAuthor(v []byte, withContent bool, author *changelog.ReplicaID) (*record, error) {
	r := new(record)
	if err := decodeRecordInto(r, v, withContent, author); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeRecordInto is decodeRecordAuthor into *r.
func decodeRecordInto(r *record, v []byte, withContent bool, author *changelog.ReplicaID) error {
	if len(v) < recordFixed || v[0] != recordVersion || v[1] > 1 {
		return errCorrupt
	}
	n := int(binary.BigEndian.Uint16(v[66:68]))
	if len(v) < recordFixed+n {
		return errCorrupt
	}
	*r = record{
		Deleted: v[1] == 1,
		HLC:     changelog.HLC(binary.BigEndian.Uint64(v[34:42])),
		Base:    changelog.Seq(binary.BigEndian.Uint64(v[42:50])),
		Seen:    changelog.Seq(binary.BigEndian.Uint64(v[50:58])),
		Edit:    binary.BigEndian.Uint64(v[58:66]),
	}
	if a := v[recordFixed : recordFixed+n]; string(a) != string(*author) {
		*author = changelog.ReplicaID(a)
	}
	r.Author = *author
	copy(r.FP[:], v[2:34])
	content := v[recordFixed+n:]
	r.Size = len(content)
	if withContent {
		r.Content = bytes.Clone(content)
		if r.Content == nil {
			r.Content = []byte{}
		}
	}
	return nil
}

// live reports, without decoding the rest, whether an encoded record is a
// live item (not a tombstone).
func live(v []byte) bool { return len(v) >= recordFixed && v[1] == 0 }

// itemsFillPercent is how full bbolt packs the pages of an items bucket
// when it splits them (bbolt's default is 0.5).
const itemsFillPercent = 0.9

// coll is one collection's buckets inside a transaction.
type coll struct {
	name    string
	b       *bolt.Bucket
	items   *bolt.Bucket
	pending *bolt.Bucket
	doubt   *bolt.Bucket // nil until an upload's outcome was unknown
	// itemsCur and pendingCur serve point lookups: a bbolt Get builds a new
	// cursor and grows its stack every time, a Seek on a kept cursor reuses
	// it. Seek repositions from the root, so writes in between are fine.
	itemsCur, pendingCur *bolt.Cursor
	// ascending, set by a reader that looks IDs up in ascending order in a
	// read-only transaction (building a batch of uploads, planning a round
	// whose candidates are in ID order), has lookups try
	// the cursor's next key before a Seek from the root: the next item
	// pending is most often the next key. A writable transaction ignores
	// it, since a cursor is not valid across writes.
	ascending bool
	// author is the author of the last record read: most items of a
	// collection share one, and so share its string.
	author changelog.ReplicaID
	slab   slab // values written in this transaction
}

// slab hands out buffers for values written in one transaction (bbolt keeps
// a value by reference until the commit), carved from shared blocks: one
// allocation per block instead of one per value. Blocks start small and
// double up to slabBlock, so that a transaction writing one item does not
// allocate (and zero) 64 KiB, while one writing thousands allocates a
// block per few hundred. A buffer comes back with length 0 and capacity n.
type slab struct {
	block []byte
	next  int // size of the next block; 0 means slabFirst
}

const (
	slabFirst = 1 << 10
	slabBlock = 64 << 10
)

func (s *slab) alloc(n int) []byte {
	if n == 0 {
		return []byte{} // never nil: an empty content is not a missing one
	}
	if n > slabBlock/8 {
		return make([]byte, 0, n)
	}
	if cap(s.block)-len(s.block) < n {
		if s.next == 0 {
			s.next = slabFirst
		}
		for s.next < n {
			s.next *= 2
		}
		s.block = make([]byte, 0, s.next)
		s.next = min(s.next*2, slabBlock)
	}
	i := len(s.block)
	s.block = s.block[:i+n]
	return s.block[i : i : i+n]
}

// lookup returns the value stored under key in the cursor's bucket, nil if
// there is none. It is valid for the life of the transaction.
func lookup(cur *bolt.Cursor, key string) []byte {
	k, v := cur.Seek([]byte(key))
	if k == nil || string(k) != key {
		return nil
	}
	return v
}

// lookup is the package's lookup, trying the cursor's next key first when
// the collection is read in ascending order (c.ascending).
func (c *coll) lookup(cur *bolt.Cursor, key string) []byte {
	if c.ascending && !cur.Bucket().Tx().Writable() {
		if k, v := cur.Next(); k != nil && string(k) == key {
			return v
		}
	}
	return lookup(cur, key)
}

// openColl returns the buckets of collection name; with create false it
// returns nil when the collection does not exist locally.
func openColl(tx *bolt.Tx, name string, create bool) (*coll, error) {
	root := tx.Bucket(bktColls)
	if root == nil {
		return nil, fmt.Errorf("bug: store has no %s bucket", bktColls)
	}
	b := root.Bucket([]byte(name))
	if b == nil {
		if !create {
			return nil, nil
		}
		var err error
		if b, err = root.CreateBucket([]byte(name)); err != nil {
			return nil, fmt.Errorf("create collection %q: %w", name, err)
		}
		if _, err = b.CreateBucket(bktItems); err != nil {
			return nil, err
		}
		if _, err = b.CreateBucket(bktPending); err != nil {
			return nil, err
		}
	}
	c := &coll{name: name, b: b, items: b.Bucket(bktItems), pending: b.Bucket(bktPending), doubt: b.Bucket(bktDoubt)}
	if c.items == nil || c.pending == nil {
		return nil, fmt.Errorf("collection %q: %w", name, errCorrupt)
	}
	c.itemsCur, c.pendingCur = c.items.Cursor(), c.pending.Cursor()
	// A sync stores items in runs of neighbouring IDs (change info in
	// version order, uploads in ID order): pack pages nearly full, so a
	// commit writes far fewer of them. An insert into a full page splits
	// it as usual.
	c.items.FillPercent = itemsFillPercent
	return c, nil
}

// view returns an item's record, or nil, with Content pointing into the
// store: it must not be written to, nor kept past the transaction's next
// write of the item (re-encoding the record into a Put, as put does, is
// fine). It spares copying the content of an item about to be re-stored.
func (c *coll) view(id string) (*record, error) {
	v := c.lookup(c.itemsCur, id)
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecordAuthor(v, noContent, &c.author)
	if err != nil {
		return nil, fmt.Errorf("item %s/%q: %w", c.name, id, err)
	}
	r.Content = v[len(v)-r.Size:]
	return r, nil
}

// getMeta reads an item's record without its content into *r; ok is false
// when the item does not exist.
func (c *coll) getMeta(id string, r *record) (ok bool, err error) {
	v := c.lookup(c.itemsCur, id)
	if v == nil {
		return false, nil
	}
	if err := decodeRecordInto(r, v, noContent, &c.author); err != nil {
		return false, fmt.Errorf("item %s/%q: %w", c.name, id, err)
	}
	return true, nil
}

// get returns an item's record, or nil.
func (c *coll) get(id string, withContent bool) (*record, error) {
	v := c.lookup(c.itemsCur, id)
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecordAuthor(v, withContent, &c.author)
	if err != nil {
		return nil, fmt.Errorf("item %s/%q: %w", c.name, id, err)
	}
	return r, nil
}

func (c *coll) put(id string, r *record) error {
	n := recordFixed + len(r.Author) + len(r.Content)
	return c.items.Put([]byte(id), appendRecord(c.slab.alloc(n), r))
}

func (c *coll) isPending(id string) bool { return c.lookup(c.pendingCur, id) != nil }

func (c *coll) setPending(id string, edit uint64) error {
	return c.pending.Put([]byte(id), binary.BigEndian.AppendUint64(c.slab.alloc(8), edit))
}

// clearPending removes the pending mark. It deletes through the kept
// cursor: Bucket.Delete would build a new cursor (and grow its stack).
func (c *coll) clearPending(id string) error {
	if k, _ := c.pendingCur.Seek([]byte(id)); k == nil || string(k) != id {
		return nil
	}
	if err := c.pendingCur.Delete(); err != nil {
		return err
	}
	return c.clearDoubt(id)
}

// maxDoubt bounds the fingerprints kept per item in doubt/.
const maxDoubt = 8

// addDoubt records that the upload of fp for id was sent and its outcome
// is unknown (no answer, or an answer that could not be stored): the
// server may hold it as this device's version.
func (c *coll) addDoubt(id string, fp fingerprint.Fingerprint) error {
	if c.doubt == nil {
		var err error
		if c.doubt, err = c.b.CreateBucketIfNotExists(bktDoubt); err != nil {
			return err
		}
	}
	old := c.doubt.Get([]byte(id))
	for i := 0; i+fingerprint.Size <= len(old); i += fingerprint.Size {
		if fingerprint.Fingerprint(old[i:i+fingerprint.Size]) == fp {
			return nil
		}
	}
	if len(old) >= maxDoubt*fingerprint.Size {
		old = old[fingerprint.Size:]
	}
	v := append(append(make([]byte, 0, len(old)+fingerprint.Size), old...), fp[:]...)
	return c.doubt.Put([]byte(id), v)
}

// inDoubt reports whether this device sent fp for id without learning the
// outcome.
func (c *coll) inDoubt(id string, fp fingerprint.Fingerprint) bool {
	if c.doubt == nil {
		return false
	}
	v := c.doubt.Get([]byte(id))
	for i := 0; i+fingerprint.Size <= len(v); i += fingerprint.Size {
		if fingerprint.Fingerprint(v[i:i+fingerprint.Size]) == fp {
			return true
		}
	}
	return false
}

// hasDoubt reports whether this device sent an upload of id without
// learning the outcome.
func (c *coll) hasDoubt(id string) bool {
	return c.doubt != nil && c.doubt.Get([]byte(id)) != nil
}

// clearDoubt forgets the unknown outcomes of id: its pending edit was
// settled.
func (c *coll) clearDoubt(id string) error {
	if c.doubt == nil {
		return nil
	}
	return c.doubt.Delete([]byte(id))
}

func (c *coll) cursor() string { return string(c.b.Get(keyCursor)) }

// cursorHead is the head a stored cursor is known to be the cursor of,
// and the server epoch it was issued under [SP-6.1-9].
type cursorHead struct {
	head  uint64
	epoch string
}

func (h *cursorHead) encode() []byte { return append(u64(h.head), h.epoch...) }

// cursorHead returns the head the stored cursor is the cursor of; nil
// when it is not known.
func (c *coll) cursorHead() *cursorHead {
	v := c.b.Get(keyCurHead)
	if len(v) < 8 {
		return nil
	}
	return &cursorHead{head: binary.BigEndian.Uint64(v), epoch: string(v[8:])}
}

// behind returns the content bytes of the device's own applied uploads
// that lie after the stored cursor (setCursor).
func (c *coll) behind() uint64 { return getU64(c.b, keyBehind) }

// setCursor stores the cursor and the head it is the cursor of (nil: not
// known), always together: a head left beside another cursor would make a
// session skip changes it never pulled. behind is the content bytes of the
// device's own applied uploads after the cursor, which the next pull lists
// again (an exchange cannot move a cursor past another device's change
// it has not pulled, SP-6.3-9).
func (c *coll) setCursor(cur string, at *cursorHead, behind uint64) error {
	if c.cursor() != cur {
		if err := c.b.Put(keyCursor, []byte(cur)); err != nil {
			return err
		}
	}
	if behind != c.behind() {
		var err error
		if behind == 0 {
			err = c.b.Delete(keyBehind)
		} else {
			err = c.b.Put(keyBehind, u64(behind))
		}
		if err != nil {
			return err
		}
	}
	if at == nil {
		if c.b.Get(keyCurHead) == nil {
			return nil
		}
		return c.b.Delete(keyCurHead)
	}
	if bytes.Equal(c.b.Get(keyCurHead), at.encode()) {
		return nil
	}
	return c.b.Put(keyCurHead, at.encode())
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// nextCounter increments and returns the counter stored at key in meta.
func nextCounter(tx *bolt.Tx, key []byte) (uint64, error) {
	m := tx.Bucket(bktMeta)
	n := getU64(m, key) + 1
	return n, m.Put(key, u64(n))
}

// localConflict is an entry of the client's own conflict log: a local
// version that lost to the server's.
type localConflict struct {
	ConflictID string `msgpack:"conflict_id"`
	Reason     string `msgpack:"reason"`
	Collection string `msgpack:"collection"`
	ID         string `msgpack:"id"`
	Content    []byte `msgpack:"content"`
	Deleted    bool   `msgpack:"deleted"`
	FP         []byte `msgpack:"fp"`
	HLC        uint64 `msgpack:"hlc"`
	Replica    string `msgpack:"replica"`
	// Base is the server version the losing edit started from.
	Base uint64 `msgpack:"base"`
	// ServerVersion is the version of the server's item that won.
	ServerVersion uint64 `msgpack:"server_version"`
	CreatedMS     uint64 `msgpack:"created_ms"`
}

// historyRecord is one entry of the bounded history.
type historyRecord struct {
	TimeMS     uint64 `msgpack:"t"`
	Collection string `msgpack:"c"`
	ID         string `msgpack:"i"`
	FP         []byte `msgpack:"fp"`
	Deleted    bool   `msgpack:"d"`
	Author     string `msgpack:"a"`
	Source     string `msgpack:"s"`
	HLC        uint64 `msgpack:"h"`
}

// appendHistoryRecord appends the msgpack encoding of h, the same bytes as
// marshal(h) (a test checks), without reflection: a sync writes one record
// per item it stores.
func appendHistoryRecord(b []byte, h *historyRecord) []byte {
	b = append(b, 0x88) // map of 8
	b = appendUint(appendStr(b, "t"), h.TimeMS)
	b = appendStr(appendStr(b, "c"), h.Collection)
	b = appendStr(appendStr(b, "i"), h.ID)
	b = appendStr(b, "fp")
	if h.FP == nil {
		b = append(b, 0xc0)
	} else {
		b = appendBinHeader(b, len(h.FP))
		b = append(b, h.FP...)
	}
	b = appendStr(b, "d")
	if h.Deleted {
		b = append(b, 0xc3)
	} else {
		b = append(b, 0xc2)
	}
	b = appendStr(appendStr(b, "a"), h.Author)
	b = appendStr(appendStr(b, "s"), h.Source)
	return appendUint(appendStr(b, "h"), h.HLC)
}

// The append helpers write msgpack's smallest encoding of each value, as
// protocol.Marshal does.

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func marshal(v any) ([]byte, error) { return protocol.Marshal(v) }

func unmarshal(b []byte, v any) error {
	if err := protocol.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return nil
}

// storeMmapSize is the address space mapped for the store when it opens:
// 256 MiB on 64-bit Unix, bbolt's growth elsewhere (on Windows bbolt extends
// the file to the size of the map). Mapping only reserves address space.
// Without it bbolt remaps whenever the file outgrows the map, and a remap
// inside a write transaction copies every key and value of its dirty nodes to
// the heap: in a 5,000-item download that was half of all allocations.
func storeMmapSize() int {
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	return 256 << 20
}
