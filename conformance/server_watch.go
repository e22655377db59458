package conformance

import (
	"fmt"
	"sort"
	"time"

	"github.com/syncprint/syncprint/protocol"
)

// Live notification (section 8) and isolation between users.

// headCursors returns a cursor at the head of every collection of who
// that holds items, read page by page.
func (t *T) headCursors(who Who) map[string]string {
	var cols protocol.CollectionsResponse
	t.OK(t.Do(Request{Path: protocol.PathCollections, As: who, Body: []byte{0x80}}), &cols)
	if len(cols.Collections) >= t.info.Limits.MaxIDs {
		t.Skip("the user holds %d collections, more than a watch may name (max_ids %d)", len(cols.Collections), t.info.Limits.MaxIDs)
	}
	m := map[string]string{}
	for _, c := range cols.Collections {
		_, cur, _ := t.PullAll(who, c.Name, "")
		m[c.Name] = cur
	}
	return m
}

type watchResult struct {
	r     *Response
	err   error
	start time.Time
	end   time.Time
}

// startWatch sends a watch in the background.
func (t *T) startWatch(who Who, cursors map[string]string, timeoutMs int) <-chan watchResult {
	ch := make(chan watchResult, 1)
	body := t.Marshal(protocol.WatchRequest{Cursors: cursors, TimeoutMillis: timeoutMs})
	go func() {
		start := time.Now()
		r, err := t.TryDo(Request{Path: protocol.PathWatch, As: who, Body: body})
		ch <- watchResult{r, err, start, time.Now()}
	}()
	return ch
}

// watchChanged waits for a watch and returns its changed list.
func (t *T) watchChanged(ch <-chan watchResult) ([]string, watchResult) {
	var w watchResult
	select {
	case w = <-ch:
	case <-t.ctx.Done():
		t.Errorf("the watch did not end before the case's deadline")
	}
	if w.err != nil {
		t.Errorf("%v", w.err)
	}
	var resp protocol.WatchResponse
	t.OK(w.r, &resp)
	t.Check(sort.StringsAreSorted(resp.Changed), "changed in increasing byte order [SP-8-1]", "%v", resp.Changed)
	for i := 1; i < len(resp.Changed); i++ {
		t.Check(resp.Changed[i] != resp.Changed[i-1], "no name twice in changed [SP-8-1]", "%q twice", resp.Changed[i])
	}
	return resp.Changed, w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func init() {
	serverCase(Case{
		ID: "server/watch/immediate-when-behind", Level: MUST,
		Reqs:  []string{"SP-8-2", "SP-8-1"},
		Needs: []string{"feature:watch"},
		Desc:  "a watch naming a collection whose head is past its cursor answers at once, listing it",
		Procedure: `
			Write to a fresh collection X. Watch every collection of the user at its head cursor
			but X at "" (timeout 20 s). Assert: the answer comes within 5 s and changed contains X,
			sorted and without duplicates.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "x")
		cur := t.headCursors(UserA)
		cur[ns.Collection] = ""
		changed, w := t.watchChanged(t.startWatch(UserA, cur, 20_000))
		t.Check(contains(changed, ns.Collection), fmt.Sprintf("changed contains %s", ns.Collection), "changed %v", changed)
		t.Check(w.end.Sub(w.start) < 5*time.Second, "an answer at once", "after %v", w.end.Sub(w.start))
	})

	serverCase(Case{
		ID: "server/watch/unnamed-collection-reported", Level: MUST,
		Reqs:  []string{"SP-8-2"},
		Needs: []string{"feature:watch"},
		Desc:  "a watch that does not name a collection holding items answers at once, listing it",
		Procedure: `
			Write to a fresh collection X. Watch every other collection of the user at its head
			cursor, without naming X (timeout 20 s). Assert: an answer within 5 s whose changed
			contains X.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "x")
		cur := t.headCursors(UserA)
		delete(cur, ns.Collection)
		changed, w := t.watchChanged(t.startWatch(UserA, cur, 20_000))
		t.Check(contains(changed, ns.Collection), fmt.Sprintf("changed contains the unnamed %s", ns.Collection), "changed %v", changed)
		t.Check(w.end.Sub(w.start) < 5*time.Second, "an answer at once", "after %v", w.end.Sub(w.start))
	})

	serverCase(Case{
		ID: "server/watch/wakes-on-write", Level: MUST,
		Reqs:  []string{"SP-8-3", "SP-6.3-10", "SP-8-1"},
		Needs: []string{"feature:watch"},
		Desc:  "a waiting watch answers when a write of the user makes a named collection change",
		Procedure: `
			Write "a" to a fresh collection X. Watch every collection at its head cursor (X
			included) with a timeout of 20 s. After 500 ms, while the watch waits, another device
			(C, else A) writes "b" to X. Assert: the watch answers after the write and within 5 s
			of it, with X in changed.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		ns := t.NewCollection()
		t.Put(UserA, ns, "a", 0, 0, "x")
		cur := t.headCursors(UserA)
		ch := t.startWatch(UserA, cur, 20_000)
		select {
		case w := <-ch:
			t.Failf("the watch to wait (every cursor at its head)", "it answered after %v: %s", w.end.Sub(w.start), renderMsgpack(bodyOf(w)))
		case <-time.After(500 * time.Millisecond):
		}
		wrote := time.Now()
		t.Put(t.otherDevice(), ns, "b", 0, 0, "y")
		changed, w := t.watchChanged(ch)
		t.Check(contains(changed, ns.Collection), fmt.Sprintf("changed contains %s", ns.Collection), "changed %v after %v", changed, w.end.Sub(w.start))
		t.Check(w.end.Sub(wrote) < 5*time.Second, "an answer within 5 s of the write", "after %v", w.end.Sub(wrote))
	})

	serverCase(Case{
		ID: "server/watch/timeout-empty", Level: MUST,
		Reqs:  []string{"SP-8-3", "SP-8-1"},
		Needs: []string{"feature:watch"},
		Desc:  "a watch with nothing to report waits about timeout_ms and answers with changed empty",
		Procedure: `
			Watch every collection of the user at its head cursor with timeout_ms 800. Assert:
			200 with changed empty, after at least 700 ms and at most 10 s. (Assumes no other
			device of the user writes meanwhile.)`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		t.Put(UserA, t.NewCollection(), "a", 0, 0, "x")
		cur := t.headCursors(UserA)
		changed, w := t.watchChanged(t.startWatch(UserA, cur, 800))
		took := w.end.Sub(w.start)
		t.Check(len(changed) == 0, "changed empty", "%v", changed)
		t.Check(took >= 700*time.Millisecond && took <= 10*time.Second, "an answer after about 800 ms", "after %v", took)
	})

	serverCase(Case{
		ID: "server/watch/validation", Level: MUST,
		Reqs:  []string{"SP-8-1", "SP-6.1-5"},
		Needs: []string{"feature:watch"},
		Desc:  "watch requests are validated: entry count, then names and cursors in byte order",
		Procedure: `
			Watch with max_ids+1 valid names: too_many_items. {"Bad": "", "a-ok": "garbage"}:
			invalid_collection ("Bad" sorts first). {"a-ok": "garbage", "zz!": ""}: invalid_cursor.
			{<fresh>: <a cursor of another collection>}: invalid_cursor. Each with timeout 1 ms.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		x, y := t.NewCollection(), t.NewCollection()
		t.Put(UserA, y, "a", 0, 0, "x")
		ycur := t.Changes(UserA, y.Collection, "", 0).Cursor
		many := map[string]string{}
		for i := 0; i <= t.info.Limits.MaxIDs; i++ {
			many[fmt.Sprintf("w%06d", i)] = ""
		}
		for _, c := range []struct {
			cursors map[string]string
			code    protocol.Code
		}{
			{many, protocol.CodeTooManyItems},
			{map[string]string{"Bad": "", "a-ok": "garbage"}, protocol.CodeInvalidCollection},
			{map[string]string{"a-ok": "garbage", "zz!": ""}, protocol.CodeInvalidCursor},
			{map[string]string{x.Collection: ycur}, protocol.CodeInvalidCursor},
		} {
			t.WantError(t.Post(UserA, protocol.PathWatch, protocol.WatchRequest{Cursors: c.cursors, TimeoutMillis: 1}), c.code)
		}
	})

	serverCase(Case{
		ID: "server/isolation/items-invisible", Level: MUST,
		Reqs: []string{"SP-2-5", "SP-3-6", "SP-6.1-2", "SP-12-4"},
		Desc: "another user's items are indistinguishable from missing ones",
		Procedure: `
			User A writes "secret" (twice: version 2) to a fresh collection X. As user B: the
			change info of X is empty with head 0; /v1/collections does not list X; downloading
			"secret" puts it in missing; uploading "secret" with seen 2 is stale with version 0
			and current nil (as for a missing item); A's cursor of X is invalid_cursor for B.
			Then B writes its own "secret" with seen 0: applied as B's version 1. A's item is
			still version 2 with A's content.`,
	}, func(t *T) {
		t.Need(UserB)
		ns := t.NewCollection()
		v1 := t.Put(UserA, ns, "secret", 0, 0, "A's secret")
		v2 := t.Put(UserA, ns, "secret", v1, v1, "A's secret, edited")
		acur := t.Changes(UserA, ns.Collection, "", 0).Cursor
		p := t.Changes(UserB, ns.Collection, "", 0)
		t.Check(len(p.Changes) == 0 && p.Head == 0, "B sees an empty collection", "%d entries, head %d", len(p.Changes), p.Head)
		var cols protocol.CollectionsResponse
		t.OK(t.Do(Request{Path: protocol.PathCollections, As: UserB, Body: []byte{0x80}}), &cols)
		for _, c := range cols.Collections {
			t.Check(c.Name != ns.Collection, "A's collection not listed for B", "listed with head %d", c.Head)
		}
		resp := t.Download(UserB, ns, "secret")
		t.Check(len(resp.Items) == 0 && len(resp.Missing) == 1, "A's item in B's missing", "items %d, missing %v", len(resp.Items), resp.Missing)
		res := t.Upload(UserB, ns, Up("secret", v2, v2, t.HLC(0), "B guesses"))[0]
		t.WantStatus(res, protocol.StatusStale)
		t.Check(res.Version == 0 && res.Current == nil, "version 0 and current nil, as for a missing item", "version %d, current %+v", res.Version, res.Current)
		t.WantError(t.Post(UserB, protocol.PathChanges, protocol.ChangesRequest{Collection: ns.Collection, Cursor: acur}), protocol.CodeInvalidCursor)
		vb := t.Put(UserB, ns, "secret", 0, 0, "B's own")
		t.Equal("B's first version in B's namespace", uint64(1), vb)
		it, _ := t.Current(UserA, ns, "secret")
		t.Check(it.Version == v2 && string(it.Content) == "A's secret, edited", "A's item untouched", "%s", brief(it))
	})

	serverCase(Case{
		ID: "server/isolation/watch-not-woken", Level: MUST,
		Reqs:  []string{"SP-2-5", "SP-8-3"},
		Needs: []string{"feature:watch", "token-b"},
		Desc:  "a user's watch is not woken by another user's writes to a collection of the same name",
		Procedure: `
			User B writes to a fresh collection X and watches all its collections at their heads
			(timeout 1500 ms). Meanwhile user A writes to its own X. Assert: B's watch ends
			with changed empty after about 1500 ms.`,
	}, func(t *T) {
		t.NeedFeature(protocol.FeatureWatch)
		t.Need(UserB)
		ns := t.NewCollection()
		t.Put(UserB, ns, "b", 0, 0, "x")
		cur := t.headCursors(UserB)
		ch := t.startWatch(UserB, cur, 1500)
		time.Sleep(200 * time.Millisecond) // let the watch start waiting
		t.Put(UserA, ns, "a", 0, 0, "y")
		changed, w := t.watchChanged(ch)
		t.Check(len(changed) == 0, "B's watch not woken by A's write", "changed %v after %v", changed, w.end.Sub(w.start))
	})
}

func bodyOf(w watchResult) []byte {
	if w.r == nil {
		return nil
	}
	return w.r.Body
}
