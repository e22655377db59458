package changelog

import "sort"

// MemLog is the in-memory reference implementation of Log. The zero value
// is an empty log. It is not safe for concurrent use.
type MemLog struct {
	head    Seq
	entries map[string]Entry // item ID -> latest entry
	bySeq   map[Seq]string   // Seq -> item ID, latest entries only
}

var _ Log = (*MemLog)(nil)

// Head implements Log.
func (m *MemLog) Head() (Seq, error) { return m.head, nil }

// Get implements Log.
func (m *MemLog) Get(id string) (Entry, bool, error) {
	e, ok := m.entries[id]
	return e, ok, nil
}

// Append implements Log.
func (m *MemLog) Append(e Entry) (Seq, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	if e.Seq == 0 {
		e.Seq = m.head + 1
	} else if e.Seq <= m.head {
		return 0, ErrSeqOrder
	}
	if m.entries == nil {
		m.entries = make(map[string]Entry)
		m.bySeq = make(map[Seq]string)
	}
	if old, ok := m.entries[e.ID]; ok {
		delete(m.bySeq, old.Seq)
	}
	m.entries[e.ID] = e
	m.bySeq[e.Seq] = e.ID
	m.head = e.Seq
	return e.Seq, nil
}

// Since implements Log.
func (m *MemLog) Since(after Seq, limit int, fn func(Entry) error) error {
	seqs := make([]Seq, 0, len(m.bySeq))
	for s := range m.bySeq {
		if s > after {
			seqs = append(seqs, s)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		if limit > 0 && i >= limit {
			break
		}
		if err := fn(m.entries[m.bySeq[s]]); err != nil {
			return err
		}
	}
	return nil
}
