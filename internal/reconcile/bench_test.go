package reconcile_test

import (
	"fmt"
	"testing"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/reconcile"
	"github.com/syncprint/syncprint/protocol"
)

// intersectFixture is one session's change-info intersection: n change
// infos from the server and n local items, the local ones a quarter
// pending (half of those also changed on the server), the server's a
// quarter new to the client.
type intersectFixture struct {
	remote []changelog.Entry
	local  map[string]*reconcile.Local
	ids    []string // local IDs in order
}

func newIntersectFixture(n int) intersectFixture {
	f := intersectFixture{local: make(map[string]*reconcile.Local, n)}
	for i := range n {
		id := fmt.Sprintf("item-%07d", i)
		fpL := fingerprint.Of(id, false, []byte("local"))
		fpR := fingerprint.Of(id, false, []byte("remote"))
		switch i % 4 {
		case 0: // pending locally and changed on the server: a conflict
			f.local[id] = &reconcile.Local{Side: reconcile.Side{Fingerprint: fpL, HLC: late}, Base: 1, Seen: 1, Pending: true}
			f.remote = append(f.remote, changelog.Entry{ID: id, Seq: changelog.Seq(n + i), Fingerprint: fpR, HLC: early, Replica: other})
		case 1: // pending locally only: an upload
			f.local[id] = &reconcile.Local{Side: reconcile.Side{Fingerprint: fpL}, Base: 1, Seen: 1, Pending: true}
		case 2: // changed on the server only: a download
			f.local[id] = &reconcile.Local{Side: reconcile.Side{Fingerprint: fpL}, Base: 1, Seen: 1}
			f.remote = append(f.remote, changelog.Entry{ID: id, Seq: changelog.Seq(n + i), Fingerprint: fpR, HLC: early, Replica: other})
		case 3: // new on the server
			f.remote = append(f.remote, changelog.Entry{ID: "new-" + id, Seq: changelog.Seq(n + i), Fingerprint: fpR, HLC: early, Replica: other})
		}
		if l, ok := f.local[id]; ok && l != nil {
			f.ids = append(f.ids, id)
		}
	}
	return f
}

// intersect plans every item: each change info against the local state,
// then every pending local item the change infos did not name.
func (f intersectFixture) intersect(rule protocol.Rule, counts *[5]int) {
	seen := make(map[string]struct{}, len(f.remote))
	for i := range f.remote {
		e := &f.remote[i]
		seen[e.ID] = struct{}{}
		counts[reconcile.PlanItem(rule, self, e.ID, f.local[e.ID], e).Action]++
	}
	for _, id := range f.ids {
		if _, ok := seen[id]; ok {
			continue
		}
		if l := f.local[id]; l.Pending {
			counts[reconcile.PlanItem(rule, self, id, l, nil).Action]++
		}
	}
}

// BenchmarkIntersect10k is the client's change-info intersection for a
// session of 10,000 change infos against 10,000 local items, under each
// rule (the decision only; the store reads are clientd's).
func BenchmarkIntersect10k(b *testing.B) {
	f := newIntersectFixture(10_000)
	for _, rule := range protocol.Rules {
		b.Run(string(rule), func(b *testing.B) {
			b.ReportAllocs()
			var counts [5]int
			for b.Loop() {
				f.intersect(rule, &counts)
			}
			if counts[reconcile.Upload]+counts[reconcile.DownloadKeepLocal]+counts[reconcile.UploadConflict] == 0 {
				b.Fatal("no item planned to move")
			}
		})
	}
}

// BenchmarkArbitrate is the server's decision on one upload.
func BenchmarkArbitrate(b *testing.B) {
	cur := &changelog.Entry{ID: "x", Seq: 5, Fingerprint: fpS, HLC: early, Replica: other}
	up := reconcile.Incoming{Side: reconcile.Side{Fingerprint: fpC, HLC: late, Replica: self}, Base: 3, Seen: 5}
	b.ReportAllocs()
	var v reconcile.Verdict
	for b.Loop() {
		v = reconcile.Arbitrate(protocol.LatestWins, up, cur)
	}
	if v != reconcile.Apply {
		b.Fatalf("verdict %v", v)
	}
}
