package clientd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"sync"
)

// The sent log: exchanges sent and not yet settled.
//
// An exchange with uploads may be applied by the server and its answer
// never stored: the connection fails (keepUnanswered keeps the request in
// the store), or the process is killed between sending it and committing
// its answer. In the second case nothing ran to keep it, and the next
// session planned its uploads anew: if another device had written the item
// on top of the applied version meanwhile, client-wins applied the old
// write a second time, over the newer edit.
//
// So the request is written, before it is sent, to a file beside the store
// (the store's path + SentLogSuffix + a slot number), without an fsync: a
// killed process leaves its writes in the page cache, and a power cut,
// which may lose them, also loses the connection's outcome as before. Once
// the answer is committed, or the request kept in the store, its record is
// settled. The next session moves any record left unsettled into the
// store's kept exchanges (SP-6.4-5), which it sends again with their batch
// IDs before it plans: the server answers a batch it applied from its
// idempotency record, and the client takes the acknowledgements; an answer
// it had already committed changes nothing the second time (acknowledge).
//
// A session has at most two exchanges with uploads unsettled: the one in
// flight and the one before it, whose answer is being committed. Each goes
// to one of two slot files, written from offset 0, so the files stay the
// size of the largest request and their pages are reused:
//
//	magic(4) "SPS1" | length(4) | crc32c(4) of the payload | payload(length)
//
// A record is settled by clearing its magic. A torn write (a kill in the
// middle of it: its request was not sent) fails its CRC and is ignored.
//
// Payload: sent ms(8) | replica(1+n) | collection(2+n) | batch ID(2+n) |
// epoch(1+n) | coding(1+n) | the request as sent.

// SentLogSuffix, with a slot number, 0 or 1, after it, is appended to a
// store's path to name the files of its sent log.
const SentLogSuffix = ".sent"

const (
	sentMagic  = "SPS1"
	sentHeader = 4 + 4 + 4
	sentSlots  = 2
	// sentCopyMax is the largest request copied to be written in one call
	// with its record's fields.
	sentCopyMax = 16 << 10
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// sentRecord is an exchange written to the sent log before it was sent.
type sentRecord struct {
	sentMS     uint64
	replica    string // the store's replica ID
	collection string
	batchID    string
	epoch      string
	coding     string
	wire       []byte // the request body as sent, encoded with coding
}

// sentLog is a store's sent log. Its methods are safe for concurrent use.
type sentLog struct {
	paths [sentSlots]string

	mu    sync.Mutex
	files [sentSlots]*os.File // nil until first written
	live  [sentSlots]string   // the batch ID each slot holds unsettled; "" none
	// read is set once the files were read: from then on this process,
	// which holds the store's lock, knows what they hold.
	read bool
	buf  []byte
}

func newSentLog(storePath string) *sentLog {
	l := &sentLog{}
	for i := range l.paths {
		l.paths[i] = fmt.Sprintf("%s%s%d", storePath, SentLogSuffix, i)
	}
	return l
}

// file returns slot i's file, opening (creating) it; the caller holds mu.
func (l *sentLog) file(i int) (*os.File, error) {
	if l.files[i] == nil {
		f, err := os.OpenFile(l.paths[i], os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		l.files[i] = f
	}
	return l.files[i], nil
}

// add writes r, before its request is sent, to a free slot.
func (l *sentLog) add(r *sentRecord) error {
	if len(r.replica) > 0xff || len(r.collection) > 0xffff || len(r.batchID) > 0xffff || len(r.epoch) > 0xff || len(r.coding) > 0xff || r.batchID == "" {
		return fmt.Errorf("sent log: batch %q: a field that cannot be recorded", r.batchID)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.live[:], "")
	if i < 0 {
		return fmt.Errorf("sent log: batch %s: %d exchanges unsettled already", r.batchID, sentSlots)
	}
	f, err := l.file(i)
	if err != nil {
		return fmt.Errorf("sent log: %w", err)
	}
	// A small request is copied after the fields and written with them in
	// one call. A large one is not copied: the fields, then the request,
	// then the header last, so that a kill before the header leaves the
	// slot free (its magic was cleared when it was last settled). A kill
	// in the middle of a write leaves a record that fails its CRC.
	var header [sentHeader]byte
	p := append(l.buf[:0], header[:]...)
	p = binary.BigEndian.AppendUint64(p, r.sentMS)
	p = appendStr8(p, r.replica)
	p = appendStr16(p, r.collection)
	p = appendStr16(p, r.batchID)
	p = appendStr8(p, r.epoch)
	p = appendStr8(p, r.coding)
	n := len(p) - sentHeader + len(r.wire)
	if int64(n) > math.MaxUint32 {
		return fmt.Errorf("sent log: batch %s: a request of %d bytes", r.batchID, len(r.wire))
	}
	copy(p, sentMagic)
	binary.BigEndian.PutUint32(p[4:], uint32(n))
	binary.BigEndian.PutUint32(p[8:], crc32.Update(crc32.Checksum(p[sentHeader:], crc32c), crc32c, r.wire))
	if len(r.wire) <= sentCopyMax {
		p = append(p, r.wire...)
		l.buf = p[:0]
		if _, err := f.WriteAt(p, 0); err != nil {
			return fmt.Errorf("sent log: batch %s: %w", r.batchID, err)
		}
		l.live[i] = r.batchID
		return nil
	}
	l.buf = p[:0]
	if _, err := f.WriteAt(p[sentHeader:], sentHeader); err != nil {
		return fmt.Errorf("sent log: batch %s: %w", r.batchID, err)
	}
	if _, err := f.WriteAt(r.wire, int64(len(p))); err != nil {
		return fmt.Errorf("sent log: batch %s: %w", r.batchID, err)
	}
	if _, err := f.WriteAt(p[:sentHeader], 0); err != nil {
		return fmt.Errorf("sent log: batch %s: %w", r.batchID, err)
	}
	l.live[i] = r.batchID
	return nil
}

// settle records that the exchange of batchID needs no resending: its
// answer is committed, or it is kept in the store, or the server refused
// it.
func (l *sentLog) settle(batchID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.live[:], batchID); i >= 0 && batchID != "" {
		if err := l.clearSlot(i); err != nil {
			return fmt.Errorf("sent log: settle batch %s: %w", batchID, err)
		}
	}
	return nil
}

// clearSlot clears slot i's magic; the caller holds mu.
func (l *sentLog) clearSlot(i int) error {
	f, err := l.file(i)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, len(sentMagic)), 0); err != nil {
		return err
	}
	l.live[i] = ""
	return nil
}

// unsettled returns the records the log holds unsettled. Missing files
// hold none.
func (l *sentLog) unsettled() ([]sentRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.read && l.live == [sentSlots]string{} {
		return nil, nil
	}
	l.read = true
	var recs []sentRecord
	for i, path := range l.paths {
		rec, ok, err := readSentSlot(path)
		if err != nil {
			return nil, fmt.Errorf("sent log %s: %w", path, err)
		}
		if ok {
			recs = append(recs, rec)
			l.live[i] = rec.batchID
		}
	}
	return recs, nil
}

// reset settles every record, once they are kept elsewhere.
func (l *sentLog) reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.live {
		if l.live[i] == "" {
			continue
		}
		if err := l.clearSlot(i); err != nil {
			return fmt.Errorf("sent log: %w", err)
		}
	}
	return nil
}

func (l *sentLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i, f := range l.files {
		if f != nil {
			errs = append(errs, f.Close())
			l.files[i] = nil
		}
	}
	return errors.Join(errs...)
}

// readSentSlot reads one slot file: ok is false when it holds no record
// (missing, empty, settled, or torn).
func readSentSlot(path string) (rec sentRecord, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sentRecord{}, false, nil
	}
	if err != nil {
		return sentRecord{}, false, err
	}
	defer f.Close()
	var h [sentHeader]byte
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:4]) != sentMagic {
		if err == io.EOF {
			err = nil // shorter than a header: torn
		}
		return sentRecord{}, false, err
	}
	n := int64(binary.BigEndian.Uint32(h[4:]))
	if st, err := f.Stat(); err != nil {
		return sentRecord{}, false, err
	} else if n > st.Size()-sentHeader {
		return sentRecord{}, false, nil // torn
	}
	p := make([]byte, n)
	if _, err := f.ReadAt(p, sentHeader); err != nil {
		return sentRecord{}, false, err
	}
	if crc32.Checksum(p, crc32c) != binary.BigEndian.Uint32(h[8:]) {
		return sentRecord{}, false, nil // torn
	}
	// A record that passes its CRC and does not decode was not written by
	// this code: like a torn one, it is ignored (its uploads are planned
	// anew) and the slot is written over.
	rec, ok = decodeSent(p)
	return rec, ok, nil
}

func decodeSent(p []byte) (r sentRecord, ok bool) {
	if ok = len(p) >= 8; ok {
		r.sentMS, p = binary.BigEndian.Uint64(p), p[8:]
	}
	if ok {
		r.replica, p, ok = str8(p)
	}
	if ok {
		r.collection, p, ok = str16(p)
	}
	if ok {
		r.batchID, p, ok = str16(p)
	}
	if ok {
		r.epoch, p, ok = str8(p)
	}
	if ok {
		r.coding, p, ok = str8(p)
	}
	r.wire = p
	return r, ok && r.batchID != ""
}

func appendStr16(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendStr8(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func str16(p []byte) (string, []byte, bool) {
	if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
		return "", nil, false
	}
	n := 2 + int(binary.BigEndian.Uint16(p))
	return string(p[2:n]), p[n:], true
}

func str8(p []byte) (string, []byte, bool) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return "", nil, false
	}
	n := 1 + int(p[0])
	return string(p[1:n]), p[n:], true
}
