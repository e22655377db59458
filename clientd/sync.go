package clientd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/coding"
	"github.com/syncprint/syncprint/internal/reconcile"
	"github.com/syncprint/syncprint/protocol"
)

// Report summarises one sync session.
type Report struct {
	// Uploaded counts local versions the server applied.
	Uploaded int `json:"uploaded"`
	// Downloaded counts server versions stored locally (tombstones included).
	Downloaded int `json:"downloaded"`
	// Conflicts counts conflicts the session met: local versions that lost
	// (now in the local conflict log) and uploads the server kept as
	// conflict records (manual).
	Conflicts int `json:"conflicts"`
	// Rounds counts exchange rounds over all collections.
	Rounds int `json:"rounds"`
	// Collections counts the collections synced.
	Collections int `json:"collections"`
	// Duration is the session's wall time.
	Duration time.Duration `json:"duration_ns"`
	// TooLarge lists pending items ("collection/id") not uploaded because
	// their content exceeds the server's max_item_bytes; they stay pending
	// until edited smaller or the limit grows.
	TooLarge []string `json:"too_large"`
	// Corrupt lists pending items ("collection/id") whose upload the server
	// refused with fingerprint_mismatch (local corruption or a bug); they
	// stay pending and are not sent again in the session.
	Corrupt []string `json:"corrupt"`
}

// Phases of a ProgressEvent.
const (
	PhasePull     = "pull"     // pulling change-info pages
	PhaseExchange = "exchange" // an exchange was applied
	PhaseDone     = "done"     // the collection is synced (Done is true)
)

// ProgressEvent reports a sync session's progress to Config.Progress.
type ProgressEvent struct {
	Collection string
	Phase      string
	// Round is the exchange round of the collection (1-based; 0 in pull).
	Round int
	// Pulled counts change entries pulled for the collection so far.
	Pulled int
	// Planned counts uploads plus downloads planned for the round; Sent
	// counts those sent so far in the round.
	Planned, Sent int
	// Uploaded and Downloaded are the session's totals so far.
	Uploaded, Downloaded int
	// Done is true on the last event of a collection.
	Done bool
}

// String renders the event as one status line, e.g. for a terminal.
func (ev ProgressEvent) String() string {
	switch ev.Phase {
	case PhasePull:
		return fmt.Sprintf("pulling changes: %d", ev.Pulled)
	case PhaseExchange:
		return fmt.Sprintf("round %d: %d/%d items (%d up, %d down)", ev.Round, ev.Sent, ev.Planned, ev.Uploaded, ev.Downloaded)
	case PhaseDone:
		return fmt.Sprintf("synced (%d up, %d down in this session)", ev.Uploaded, ev.Downloaded)
	}
	return ev.Phase
}

// Reasons of local conflict records.
const (
	// ReasonRejected: the server refused a local upload under the
	// collection's rule and kept its own version.
	ReasonRejected = "rejected"
	// ReasonServerWon: the session saw that the server's version wins under
	// the collection's rule and downloaded it over the local edit.
	ReasonServerWon = "server-won"
	// ReasonSuperseded: a local edit not yet uploaded that the user's
	// resolution of a server conflict record replaced (SP-10-6).
	ReasonSuperseded = "superseded"
)

// Sync runs one full sync session over every collection (local ones and
// the server's). Only one session runs at a time; a concurrent caller
// waits for the running one to end and then runs its own. Close cancels a
// session in flight. A session that fails leaves every applied response in
// place and every unsent edit pending; the next one continues.
func (c *Client) Sync(ctx context.Context) (Report, error) {
	if c.closed.Load() {
		return Report{}, ErrClosed
	}
	if c.cfg.ServerURL == "" || c.cfg.Token == "" {
		return Report{}, ErrOffline
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.syncLocked(ctx)
}

// syncLocked runs a session; the caller holds syncMu.
func (c *Client) syncLocked(ctx context.Context) (Report, error) {
	if c.closed.Load() {
		return Report{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.closeCtx, cancel)()

	c.mu.Lock()
	c.syncing = true
	c.mu.Unlock()
	start := time.Now()
	s := &session{c: c, ctx: ctx, changed: map[string]bool{}}
	err := s.run()
	s.rep.Duration = time.Since(start)
	if err != nil && c.closed.Load() && ctx.Err() != nil {
		err = fmt.Errorf("sync: %w", ErrClosed)
	}
	c.endSync(s, err)
	return s.rep, err
}

// endSync records the outcome of a session and wakes its waiters. The
// store gets the outcome with its next write transaction, or at Close
// (dueMeta): a session that stored its results ends without another
// durable commit.
func (c *Client) endSync(s *session, err error) {
	now := c.cfg.Now()
	c.mu.Lock()
	c.due.gen++
	if err == nil { // the session succeeded
		c.due.lastSync = uint64(max(now.UnixMilli(), 1))
	}
	c.syncing = false
	c.lastReport = s.rep
	if err == nil {
		c.lastSync, c.lastErr = now, ""
	} else {
		c.lastErr = err.Error()
	}
	close(c.syncDone)
	c.syncDone = make(chan struct{})
	c.mu.Unlock()
	if len(s.changed) > 0 || s.rep.Conflicts > 0 {
		ev := Event{Downloaded: s.rep.Downloaded, Conflicts: s.rep.Conflicts}
		for name := range s.changed {
			ev.Collections = append(ev.Collections, name)
		}
		slices.Sort(ev.Collections)
		c.publish(ev)
	}
}

// session is the state of one Sync.
type session struct {
	c       *Client
	ctx     context.Context
	info    *protocol.Info
	self    changelog.ReplicaID
	rep     Report
	changed map[string]bool // collections whose local items changed
	// pull fetches the change info of the collection being synced.
	pull *puller
	// behind is the content bytes of the device's own applied uploads after
	// the candidate cursor of the collection being synced: an exchange
	// that could not advance the cursor past them (another device's change
	// lies before them) leaves them for the next pull to list again.
	behind uint64
	// early is the first page of change info requested beside Info, until
	// the collection's sync takes it or the session drops it.
	early *earlyPage
	// hold keeps the collection's old cursor: an item that blocks it
	// (SP-6.5-6: an entry of the pulled change info, or a planned
	// download) could not be handled (an oversized or refused upload).
	hold bool
	// skip holds "collection/id" of uploads the server refused
	// (item_too_large, fingerprint_mismatch); not sent again this session.
	skip map[string]bool
	// gaveUp holds the IDs of the collection being synced that were left
	// over at MaxRounds: the pending items' rounds do not take them up
	// again in this session (SP-6.6-5).
	gaveUp map[string]bool
	// confSeq is the greatest conflicts_seq of the session's responses
	// (the collections listing, every exchange); 0: the server keeps none
	// [SP-10-8].
	confSeq uint64

	headsMu sync.Mutex // guards heads: exchanges are applied on another goroutine
	// heads maps the cursors this session knows to be the cursor of a
	// collection's head to that head [SP-6.1-9]: a page's cursor when more
	// is false (the server lists info-collections), an exchange's when it
	// differs from the request's. Storing one of these cursors stores its
	// head with it; storing another forgets the stored head.
	heads map[string]uint64
	// infoHeads maps the collections Info lists to their heads
	// [SP-3-15], built on first use.
	infoHeads map[string]uint64

	spareMu sync.Mutex // guards spare: batches are built on another goroutine
	// spare holds the bodies of exchanges answered and applied, for the
	// bodies of the next ones: a push of 10,000 items builds ten of about
	// 300 KB, and in a new process fresh memory costs more (page faults)
	// than the copy into it.
	spare [][]byte
}

// maxSpare bounds session.spare: a round has at most three bodies at
// once (one applied, one in flight, one built ahead).
const maxSpare = 3

// takeSpare returns an empty buffer with the room of a body that went
// before, or nil.
func (s *session) takeSpare() []byte {
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	n := len(s.spare)
	if n == 0 {
		return nil
	}
	b := s.spare[n-1]
	s.spare[n-1] = nil
	s.spare = s.spare[:n-1]
	return b[:0]
}

// giveSpare keeps b for a body to come; nothing may use b afterwards.
func (s *session) giveSpare(b []byte) {
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	if cap(b) > 0 && len(s.spare) < maxSpare {
		s.spare = append(s.spare, b)
	}
}

// knowHead records that cursor is the cursor of head [SP-6.1-9].
func (s *session) knowHead(cursor string, head uint64) {
	s.headsMu.Lock()
	defer s.headsMu.Unlock()
	if s.heads == nil {
		s.heads = map[string]uint64{}
	}
	// A copy: the cursor of a decoded response shares its body
	// (protocol.UnmarshalOwned), which a key would keep alive for the
	// whole session, one body per exchange.
	s.heads[strings.Clone(cursor)] = head
}

// headOf returns the head cursor is known to be the cursor of, under the
// session's epoch; nil when the session does not know it.
func (s *session) headOf(cursor string) *cursorHead {
	s.headsMu.Lock()
	head, ok := s.heads[cursor]
	s.headsMu.Unlock()
	if !ok {
		return nil
	}
	return &cursorHead{head: head, epoch: s.info.Epoch}
}

// storeCursor stores a collection's cursor, with the head it is the cursor
// of when the session knows it.
func (s *session) storeCursor(col *coll, cursor string, behind uint64) error {
	return col.setCursor(cursor, s.headOf(cursor), behind)
}

// sameHead reports whether at is what storeCursor would store with cursor.
func (s *session) sameHead(at *cursorHead, cursor string) bool {
	want := s.headOf(cursor)
	if want == nil || at == nil {
		return want == nil && at == nil
	}
	return *at == *want
}

// nothingNew reports whether the session's Info says that nothing changed
// in a collection since its stored cursor [SP-6.1-9]: the server lists
// info-collections, the cursor is the cursor of a head, under the Info's
// epoch, and the Info lists that head (0: not listed).
func (s *session) nothingNew(name string, at *cursorHead) bool {
	if at == nil || at.epoch != s.info.Epoch || !slices.Contains(s.info.Features, protocol.FeatureInfoCollections) {
		return false
	}
	if s.infoHeads == nil {
		// Once per session: a user may have many collections.
		s.infoHeads = make(map[string]uint64, len(s.info.Collections))
		for _, c := range s.info.Collections {
			s.infoHeads[c.Name] = c.Head
		}
	}
	return s.infoHeads[name] == at.head // not listed: head 0
}

// counts are a transaction's additions to the report, merged on commit.
type counts struct {
	uploaded, downloaded, conflicts int
	changed                         bool
}

func (s *session) merge(name string, d counts) {
	s.rep.Uploaded += d.uploaded
	s.rep.Downloaded += d.downloaded
	s.rep.Conflicts += d.conflicts
	if d.changed {
		s.changed[name] = true
	}
}

func (s *session) progress(ev ProgressEvent) {
	if s.c.cfg.Progress == nil {
		return
	}
	ev.Uploaded, ev.Downloaded = s.rep.Uploaded, s.rep.Downloaded
	s.c.cfg.Progress(ev)
}

func (s *session) run() error {
	// Exchanges a killed process sent and never settled go first, kept
	// like those of unknown outcome (the sent log).
	if err := s.c.keepSent(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	// The first page of change info goes beside Info (SP-3-17), used only
	// if Info turns out to be the one it was asked with.
	s.early = s.pullEarly()
	defer s.dropEarly()
	info, err := s.c.fetchInfo(s.ctx)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if s.early != nil && s.early.tag != info.Tag {
		s.dropEarly()
	}
	s.info, s.self = info, changelog.ReplicaID(info.Replica)

	// The server's collections come with Info when it offers them there
	// (SP-3-15): one request fewer in every session.
	remote := protocol.CollectionsResponse{Collections: info.Collections, ConflictsSeq: info.ConflictsSeq}
	if !slices.Contains(info.Features, protocol.FeatureInfoCollections) {
		if err := s.c.callRetry(s.ctx, protocol.PathCollections, &protocol.CollectionsRequest{}, &remote); err != nil {
			return fmt.Errorf("sync: list collections: %w", err)
		}
	}
	s.confSeq = remote.ConflictsSeq
	names, err := s.c.allCollections()
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	for _, rc := range remote.Collections {
		if protocol.ValidateCollection(rc.Name) == nil && !slices.Contains(names, rc.Name) {
			names = append(names, rc.Name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.syncCollection(name); err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
		s.rep.Collections++
		s.progress(ProgressEvent{Collection: name, Phase: PhaseDone, Done: true})
	}
	if slices.Contains(info.Features, protocol.FeatureConflicts) {
		if err := s.c.refreshServerConflicts(s.ctx, &confMark{epoch: info.Epoch, seq: s.confSeq}); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

// fetchInfo runs GET /v1/info, checks the version and the token, and
// records the replica ID and limits.
func (c *Client) fetchInfo(ctx context.Context) (*protocol.Info, error) {
	// SP-3-16: with the tag of the full Info it holds, the client gets
	// only what changes from one request to the next.
	c.mu.Lock()
	tagged := c.tagged
	c.mu.Unlock()
	var hdr http.Header
	if tagged != nil {
		hdr = http.Header{protocol.HeaderInfoTag: {tagged.Tag}}
	}
	var info protocol.Info
	if err := c.sendRetry(ctx, protocol.PathInfo, nil, nil, "", hdr, &info); err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	if info.IsShort() {
		if tagged == nil || info.Tag != tagged.Tag {
			return nil, fmt.Errorf("%w: info: a short Info for tag %q, which this client did not send", ErrProtocol, info.Tag)
		}
		info = *info.WithStatic(tagged)
	}
	if !slices.Contains(info.Versions, protocol.Version) {
		side := "too old"
		if len(info.Versions) > 0 && slices.Min(info.Versions) > protocol.Version {
			side = "too new"
		}
		return nil, fmt.Errorf("%w: server %s: it speaks protocol versions %v, this client %d", ErrIncompatible, side, info.Versions, protocol.Version)
	}
	if info.Replica == "" {
		return nil, protocol.Errorf(protocol.CodeUnauthorized, "the server did not identify this device's token")
	}
	c.mu.Lock()
	known := c.replica
	c.mu.Unlock()
	if known != "" && known != changelog.ReplicaID(info.Replica) {
		return nil, fmt.Errorf("%w: the store belongs to %s, the token to %s", ErrWrongReplica, known, info.Replica)
	}
	c.clock.Observe(changelog.HLC(info.ServerTime))
	maxItem := info.Limits.MaxItemBytes
	if maxItem <= 0 {
		maxItem = protocol.DefaultMaxItemBytes
	}
	// A full Info with a new tag is kept, in the store too, for the next
	// request; one without a tag (a server without info-tag) forgets the
	// one held.
	heldTag := ""
	if tagged != nil {
		heldTag = tagged.Tag
	}
	newTag := info.Tag != heldTag
	c.mu.Lock()
	defer c.mu.Unlock()
	// c.replica, c.maxItem and c.tagged hold what the store holds (loaded
	// by Open), or will hold with the next write (dueMeta.infoAt).
	same := c.replica == changelog.ReplicaID(info.Replica) && c.maxItem == maxItem && !newTag
	c.info, c.replica, c.maxItem = &info, changelog.ReplicaID(info.Replica), maxItem
	if newTag {
		c.tagged = nil
		if protocol.ValidInfoTag(info.Tag) {
			held := info
			c.tagged = &held
		}
	}
	if same {
		// Nothing new to store, in this process or a new one: spare the
		// session a commit. The observed server time is persisted with the
		// session's next write, at the latest when it ends (endSync).
		return &info, nil
	}
	// Stored with the session's next write (dueMeta), or before its first
	// exchange with uploads leaves (storeDueInfo), not in a commit of its
	// own here: the session goes on at once.
	c.due.gen++
	c.due.infoAt = c.due.gen
	return &info, nil
}

// confMark names the state of the user's server conflict records that the
// cache holds: the conflicts sequence number [SP-10-8] a session had seen
// before it listed the records into the cache, and the server epoch it
// came with (a number means nothing under another epoch). The cache is
// current while the server announces the same mark: the number moves with
// every change of the records. The zero mark (seq 0) is unknown and
// matches nothing.
type confMark struct {
	epoch string
	seq   uint64
}

func (m confMark) known() bool { return m.seq != 0 }

// encode returns the stored form: seq (8 bytes, big-endian), then epoch.
func (m confMark) encode() []byte { return append(u64(m.seq), m.epoch...) }

func storedConfMark(tx *bolt.Tx) confMark {
	v := tx.Bucket(bktMeta).Get(keySConfMark)
	if len(v) < 8 {
		return confMark{}
	}
	return confMark{seq: binary.BigEndian.Uint64(v), epoch: string(v[8:])}
}

// forgetConfMark makes the next session list the server's records again,
// whatever number it sees.
func forgetConfMark(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Delete(keySConfMark) }

// serverCacheEmpty reports whether the cache of server conflict records
// holds none.
func (c *Client) serverCacheEmpty() (empty bool, err error) {
	err = c.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bktServerConf).Cursor().First()
		empty = k == nil
		return nil
	})
	return empty, err
}

// refreshServerConflicts replaces the cache of server conflict records.
// A session passes its latest mark: when the stored one is the same and
// known, the cache is current and nothing is listed [SP-10-9]; otherwise
// the listing is stored with the session's mark, or with none when the
// server keeps no number (so that a server that stops keeping one and
// starts again later is not trusted with a stale mark). Outside a session
// (mark nil) the listing keeps the stored mark: a newer listing is current
// whenever an older one was.
func (c *Client) refreshServerConflicts(ctx context.Context, mark *confMark) error {
	var stored confMark
	if err := c.view(func(tx *bolt.Tx) error { stored = storedConfMark(tx); return nil }); err != nil {
		return err
	}
	if mark != nil && mark.known() && *mark == stored {
		return nil
	}
	if mark != nil && mark.seq == protocol.FirstConflictsSeq {
		// The user never had a record (SP-10-8): with nothing cached,
		// nothing to list or to clear (SP-10-9).
		if empty, err := c.serverCacheEmpty(); err != nil || empty {
			return err
		}
	}
	var resp protocol.ConflictsResponse
	if err := c.callRetry(ctx, protocol.PathConflicts, &protocol.ConflictsRequest{}, &resp); err != nil {
		return fmt.Errorf("list server conflicts: %w", err)
	}
	if len(resp.Conflicts) == 0 && (mark == nil || !mark.known() && !stored.known()) {
		// Nothing to cache and no mark to change: spare the write
		// transaction (and its fsync) when the cache is empty already.
		if empty, err := c.serverCacheEmpty(); err != nil || empty {
			return err
		}
	}
	return c.update(func(tx *bolt.Tx) error {
		switch {
		case mark == nil:
		case mark.known():
			if err := tx.Bucket(bktMeta).Put(keySConfMark, mark.encode()); err != nil {
				return err
			}
		default:
			if err := forgetConfMark(tx); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bktServerConf); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bktServerConf)
		if err != nil {
			return err
		}
		for i := range resp.Conflicts {
			cf := &resp.Conflicts[i]
			fp, err := fingerprint.FromBytes(cf.FP)
			if err != nil || fingerprint.Of(cf.ID, cf.Deleted, cf.Content) != fp {
				// SP-10-5: never show or use a record that fails verification.
				c.cfg.Logger.Warn("server conflict record failed fingerprint verification; not cached",
					"conflict", cf.ConflictID, "collection", cf.Collection, "id", cf.ID)
				continue
			}
			v, err := marshal(cf)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(resp.Conflicts[i].ConflictID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// cand is an item to plan in a round, with the newest server entry known
// for it (nil: none newer than the local state).
type cand struct {
	id     string
	remote *changelog.Entry
	// step, when set, is the item's step computed already (SP-6.5-4: a
	// re-plan against a server version received for an item edited
	// meanwhile, computed before seen was raised; or a deferred download,
	// SP-6.5-5), and edit the edit counter it was computed with. The round
	// carries it out instead of planning the item again.
	step *reconcile.Step
	edit uint64
	// block: the item keeps the cursor until its step is carried out
	// (SP-6.5-6): its entry of the pulled change info is not handled yet.
	block bool
	// inline: content is remote's content, verified, which came with the
	// change info (SP-6.1-8): a download needs no exchange.
	inline  bool
	content []byte
}

// work is a planned item.
type work struct {
	id     string
	action reconcile.Action
	// seen is the Upload.Seen of an upload.
	seen changelog.Seq
	// edit is the item's local edit counter when planned (downloads) or
	// when its content was read for the batch (uploads).
	edit   uint64
	remote *changelog.Entry
	// block: the item keeps the candidate cursor from being stored until
	// its step is carried out (SP-6.5-6): it has an unhandled entry in the
	// pulled change info, or it is a planned download.
	block bool
	// base, when above the record's, is the Upload.Base of an upload that
	// derives from the device's own newer server version (ownBase).
	base changelog.Seq
	// inline and content: a download whose content came with the change
	// info (cand.inline), carried out locally.
	inline  bool
	content []byte
}

// ownBase rebases a pending item on the device's own server version: when
// remote, newer than the version the local one derives from, is a version
// this store uploaded without learning the outcome (the response never
// arrived, or its transaction failed: the item's doubt entry holds its
// fingerprint) and the item was edited again since, the local version
// derives from it: local edits are sequential. loc's base and seen become
// its version, and the plan uploads the edit as a fast-forward instead of
// deciding a conflict of the device with itself (under server-wins the
// newest edit would lose to the older one). The doubt entry is what makes
// this safe: another store with the same token (an app reinstalled with
// its old token) has none, so its edits meet the old install's versions as
// concurrent ones, decided by the rule with the loser kept. It reports
// whether it rebased.
func ownBase(col *coll, id string, loc *reconcile.Local, remote *changelog.Entry, self changelog.ReplicaID) bool {
	if loc == nil || !loc.Pending || remote == nil || self == "" || remote.Replica != self ||
		remote.Seq <= loc.Base || remote.Fingerprint == loc.Fingerprint || col == nil || !col.inDoubt(id, remote.Fingerprint) {
		return false
	}
	loc.Base, loc.Seen = remote.Seq, max(loc.Seen, remote.Seq)
	return true
}

// blocks reports whether one of cs keeps the cursor (SP-6.5-6).
func blocks(cs []cand) bool {
	for i := range cs {
		if cs[i].block {
			return true
		}
	}
	return false
}

// mayCommit reports whether a round's last transaction may store the
// candidate cursor, given the items left for the next round (SP-6.5-6):
// nothing that blocks it is left or was left unsent, and the transaction
// completes the collection's work (nothing is left for a next round, or no
// next round may run).
func (s *session) mayCommit(next []cand, lastRound bool) bool {
	return !s.hold && !blocks(next) && (len(next) == 0 || lastRound)
}

// replan handles, inside the local transaction, a server version e
// received (a download, a tombstone from change info, the item of a
// rejected or conflict result) for an item edited since its step was
// planned or its upload built (SP-6.5-4): it computes the item's step for
// the next round with seen as it is, so that the rule decides between the
// newer edit and e, then raises seen to that step's seen, keeping base,
// pending and everything else. The newer edit is not replaced or logged.
func (s *session) replan(col *coll, id string, e *changelog.Entry, block bool) (cand, error) {
	rec, err := col.view(id)
	if err != nil {
		return cand{}, err
	}
	var loc *reconcile.Local
	rebased := false
	if rec != nil {
		loc = &reconcile.Local{
			Side: reconcile.Side{Fingerprint: rec.FP, Deleted: rec.Deleted, HLC: rec.HLC, Replica: rec.Author},
			Base: rec.Base, Seen: rec.Seen, Pending: col.isPending(id),
		}
		if rebased = ownBase(col, id, loc, e, s.self); rebased {
			rec.Base = loc.Base
		}
	}
	step := reconcile.PlanItem(s.info.RuleFor(col.name), s.self, id, loc, e)
	if rec != nil && (step.Seen > rec.Seen || rebased) {
		rec.Seen = max(rec.Seen, step.Seen)
		if err := col.put(id, rec); err != nil {
			return cand{}, err
		}
	}
	return cand{id: id, remote: e, step: &step, edit: editOf(rec), block: block}, nil
}

// entryOf returns the change info of an item of an exchange response.
func entryOf(it *protocol.Item, fp fingerprint.Fingerprint) *changelog.Entry {
	return &changelog.Entry{ID: it.ID, Seq: changelog.Seq(it.Version), Fingerprint: fp, HLC: changelog.HLC(it.HLC), Deleted: it.Deleted, Replica: changelog.ReplicaID(it.Replica), Size: uint32(len(it.Content))}
}

func editOf(r *record) uint64 {
	if r == nil {
		return 0
	}
	return r.Edit
}

func (s *session) syncCollection(name string) error {
	err := s.syncCollectionOnce(name)
	if code := protocol.CodeOf(err); code == protocol.CodeCursorExpired || code == protocol.CodeInvalidCursor {
		// Another server epoch (a restored data set), or a cursor the server
		// no longer accepts: start over from "". Local edits stay pending and
		// equal fingerprints move nothing, so re-pulling is safe.
		s.c.cfg.Logger.Info("cursor not accepted; pulling the collection again", "collection", name, "code", code)
		err = s.c.update(func(tx *bolt.Tx) error {
			col, err := openColl(tx, name, false)
			if err != nil || col == nil {
				return err
			}
			if code == protocol.CodeCursorExpired {
				if err := forgetServerVersions(col); err != nil {
					return err
				}
			}
			return col.setCursor("", nil, 0)
		})
		if err != nil {
			return err
		}
		err = s.syncCollectionOnce(name)
	}
	return err
}

// forgetServerVersions prepares a collection for a server of another epoch
// (a restored or replaced data set), whose versions mean nothing to the
// old ones: every item's base and seen version go back to 0, and every live
// item is marked pending. Re-pulling then matches equal fingerprints
// (nothing moves, pending clears), while an item the new data set lacks
// or holds differently is decided by the collection's rule like any
// concurrent edit — so a version only this replica still holds is never
// dropped silently.
func forgetServerVersions(col *coll) error {
	type upd struct {
		id  []byte
		rec *record
	}
	var ups []upd
	err := col.items.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(v, true)
		if err != nil {
			return err
		}
		ups = append(ups, upd{bytes.Clone(k), r})
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range ups {
		u.rec.Base, u.rec.Seen = 0, 0
		if err := col.put(string(u.id), u.rec); err != nil {
			return err
		}
		if !u.rec.Deleted && !col.isPending(string(u.id)) {
			if err := col.setPending(string(u.id), u.rec.Edit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *session) syncCollectionOnce(name string) error {
	rule := s.info.RuleFor(name)
	s.hold = false
	s.gaveUp = nil
	// Exchanges of unknown outcome from earlier sessions go first, with
	// their batch IDs (SP-6.4-5), so that their uploads are not planned anew.
	resent, err := s.resendUnanswered(name)
	if err != nil {
		return err
	}
	var cursor string
	var at *cursorHead
	err = s.c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		cursor, at = col.cursor(), col.cursorHead()
		return nil
	})
	if err != nil {
		return err
	}
	// SP-6.1-9: nothing changed on the server since the stored cursor (and
	// no kept exchange was just sent, which may have): no page to pull.
	skipPull := !resent && s.nothingNew(name, at)
	if skipPull {
		s.knowHead(cursor, at.head)
	}

	// The change info, a segment at a time (SP-6.1-6): pull at most
	// SegmentEntries entries, plan and carry them out, then pull on. The
	// session's memory depends on the segment, not on the collection.
	cur := cursor
	pulled := 0
	p, err := s.pullerFor(name, cursor, !resent && !skipPull)
	if err != nil {
		return err
	}
	s.pull = p
	defer func() { p.close(); s.pull = nil }()
	for {
		var seg []cand
		var index map[string]int
		more := false
		if !skipPull {
			if seg, index, more, err = s.pullSegment(p, &cur, &pulled); err != nil {
				return err
			}
		}
		tail := false
		if !more {
			// The last segment takes the pending items with it when they
			// fit, so that one exchange can carry uploads and downloads.
			var pending []string
			if pending, err = s.pendingPart(name, nil, s.c.segment+1); err != nil {
				return err
			}
			if tail = len(pending) > s.c.segment; !tail {
				seg = slices.Grow(seg, len(pending))
				for _, id := range pending {
					if _, ok := index[id]; !ok && !s.gaveUp[id] {
						seg = append(seg, cand{id: id})
					}
				}
			}
		}
		chain := cur
		// The pulled cursor (or one Info shows nothing after) is past every
		// upload of the device.
		s.behind = 0
		if err := s.rounds(name, rule, seg, &chain); err != nil {
			return err
		}
		if !more {
			if !tail {
				return nil
			}
			// The last exchange may have moved the candidate past the
			// head; the pending items' rounds carry it on.
			cur = chain
			break
		}
	}

	// Too many pending items for one segment (SP-6.6-1): they go in parts
	// of SegmentEntries, in ID order. An item edited meanwhile with an ID
	// before the part being read waits for the next session.
	var after string
	for {
		part, err := s.pendingPart(name, &after, s.c.segment)
		if err != nil || len(part) == 0 {
			return err
		}
		cands := make([]cand, 0, len(part))
		for _, id := range part {
			if !s.gaveUp[id] {
				cands = append(cands, cand{id: id})
			}
		}
		if err := s.rounds(name, rule, cands, &cur); err != nil {
			return err
		}
	}
}

// pendingPart returns the IDs of up to n pending items of a collection,
// in ID order: the first ones, or those after *after, which it then
// advances to the last ID returned.
func (s *session) pendingPart(name string, after *string, n int) ([]string, error) {
	var ids []string
	err := s.c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		c := col.pending.Cursor()
		k, _ := c.First()
		if after != nil && *after != "" {
			if k, _ = c.Seek([]byte(*after)); k != nil && string(k) == *after {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(ids) < n; k, _ = c.Next() {
			ids = append(ids, string(k))
		}
		return nil
	})
	if after != nil && len(ids) > 0 {
		*after = ids[len(ids)-1]
	}
	return ids, err
}

// puller fetches one collection's change-info pages for a session, the
// next page already in flight while the current one is handled: the
// requests and their order are those of a client that waits, only sooner.
//
// With no local change in the collection when the session starts, every
// entry the plan acts on is a download (or the device's own version
// coming back): the pages bring the contents along (SP-6.1-8), so that no
// exchange is needed for them, and each page is a segment of its own,
// planned and committed with its cursor while the next pages are fetched
// (up to pagesAhead of them, each requested as soon as the one before has
// arrived). Items touched on both sides are compared by fingerprint before
// any content moves, so with a local change the contents stay on the
// server.
type puller struct {
	s      *session
	name   string
	limit  int
	inline bool
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // guards queue and held
	// queue holds the pages requested ahead, in cursor order.
	queue []*inflight
	// newest is the page requested last, queued or not: only it may have
	// the page after it requested ahead.
	newest *inflight
	// held stops new requests ahead while the session sends exchanges:
	// a session has at most one request in flight besides the pages it
	// requested ahead while it works locally.
	held bool
}

// inflight is a page requested ahead: the page of cursor of, whose result
// is set before done closes.
type inflight struct {
	of   string
	done chan struct{}
	r    pageResult
}

// pagesAhead is how many pages with content a puller requests ahead of
// the one being handled.
const pagesAhead = 2

// InlineBehindLimit bounds the content bytes of the device's own uploads
// that a pull may list again (they lie after the stored cursor, behind
// another device's change) for the pages to bring contents along
// (SP-6.1-8). Above it the pages come without, the device's own items
// move nothing (equal fingerprints), and what the plan downloads goes in
// exchanges: at most a round trip more, against the contents of its own
// uploads downloaded again (128 KiB take about as long as a round trip of
// 50 ms on a 20 Mbit/s link).
const InlineBehindLimit = 128 << 10

// appliedBytes returns the content bytes of the uploads of req that resp
// answers applied.
func appliedBytes(req *protocol.ExchangeRequest, resp *protocol.ExchangeResponse) uint64 {
	var n uint64
	var size map[string]int // built if the results are not in request order
	for i := range resp.Results {
		r := &resp.Results[i]
		if r.Status != protocol.StatusApplied {
			continue
		}
		if i < len(req.Uploads) && req.Uploads[i].ID == r.ID { // results in request order (SP-6.3)
			n += uint64(len(req.Uploads[i].Content))
			continue
		}
		if size == nil {
			size = make(map[string]int, len(req.Uploads))
			for j := range req.Uploads {
				size[req.Uploads[j].ID] = len(req.Uploads[j].Content)
			}
		}
		n += uint64(size[r.ID])
	}
	return n
}

// EarlyPullAfter is the pause after which a session asks for its first
// page of change info beside Info instead of after it (SP-3-17), saving a
// round trip: a device that has not synced for a while most likely has
// news to pull. Sessions closer together (a busy device syncing after
// each edit) would mostly send that request for nothing, so they wait for
// Info, whose collection heads may spare the pull (SP-6.1-9). A session
// that the server's watch started asks beside Info however soon it comes,
// for the collection the watch named: there is news.
const EarlyPullAfter = time.Second

// earlyPage is a session's first page of change info, requested beside
// Info: the page of the stored cursor of one of the store's collections,
// asked for with the limits of the full Info the client held, whose tag
// is tag. The session uses it only if its Info has that tag and the
// collection's sync would ask for that page with the same limits;
// otherwise it is dropped, and the page requested again if needed.
type earlyPage struct {
	name, cursor, tag string
	p                 *puller
}

// pullEarly requests the early page when the client holds a full Info,
// for a collection the server's watch reported changed, or, when the last
// session ended EarlyPullAfter ago or more, for the first collection by
// name; nil when it does not.
func (s *session) pullEarly() *earlyPage {
	c := s.c
	c.mu.Lock()
	held, last, news := c.tagged, c.lastSync, c.news
	c.news = ""
	c.mu.Unlock()
	if c.cfg.NoPrefetch || c.cfg.SerialExchanges {
		return nil // every request on the session's goroutine, in turn
	}
	if held == nil || news == "" && !last.IsZero() && c.cfg.Now().Sub(last) < EarlyPullAfter {
		return nil
	}
	names, err := c.allCollections()
	if err != nil || len(names) == 0 {
		return nil // the session finds the error again, or pulls nothing early
	}
	name := slices.Min(names)
	if slices.Contains(names, news) {
		name = news
	}
	var cursor string
	kept := false
	if err := c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err == nil && col != nil {
			cursor = col.cursor()
			if b := col.b.Bucket(bktUnanswered); b != nil {
				k, _ := b.Cursor().First()
				kept = k != nil
			}
		}
		return err
	}); err != nil || kept {
		// Kept exchanges go first (resendUnanswered): the page would
		// predate their outcome, and the session may end with them.
		return nil
	}
	p, err := s.newPullerWith(name, held)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	f := p.launch(cursor, true)
	// One request only until the session has its Info: the page's answer
	// requests no page ahead (pullerFor releases the puller it adopts).
	p.held = true
	p.mu.Unlock()
	if f == nil {
		p.close()
		return nil
	}
	return &earlyPage{name: name, cursor: cursor, tag: held.Tag, p: p}
}

// dropEarly cancels the early page, if the session has one still.
func (s *session) dropEarly() {
	if s.early != nil {
		s.early.p.close()
		s.early = nil
	}
}

// pullerFor returns the puller of a collection whose stored cursor is
// cursor: the early page's when it is that collection's and matches, so
// that its page is not asked for again; pull false means the session
// pulls nothing from cursor first (it resent kept exchanges, which the
// early page predates, or Info shows nothing new).
func (s *session) pullerFor(name, cursor string, pull bool) (*puller, error) {
	p, err := s.newPuller(name)
	if err != nil {
		return nil, err
	}
	if e := s.early; e != nil && e.name == name {
		s.early = nil
		if pull && e.cursor == cursor && e.p.limit == p.limit && e.p.inline == p.inline {
			p.close() // never used
			e.p.release()
			return e.p, nil
		}
		e.p.close()
	}
	return p, nil
}

func (s *session) newPuller(name string) (*puller, error) {
	return s.newPullerWith(name, s.info)
}

// newPullerWith returns a puller that asks for pages within info's limits.
func (s *session) newPullerWith(name string, info *protocol.Info) (*puller, error) {
	inline := !s.c.cfg.DownloadsInExchanges
	if inline {
		err := s.c.view(func(tx *bolt.Tx) error {
			col, err := openColl(tx, name, false)
			if err != nil || col == nil {
				return err
			}
			// With many of the device's own uploads after the cursor, the
			// pages would bring their contents back: ask without, and
			// download what the plan needs in exchanges.
			k, _ := col.pendingCur.First()
			inline = k == nil && col.behind() < InlineBehindLimit
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	limit := info.Limits.MaxPage
	if limit <= 0 {
		limit = protocol.DefaultPage
	}
	if inline {
		// Pages of content as large as the client's download exchanges:
		// a page's transaction runs while the next ones are fetched.
		limit = min(limit, DownloadBatchItems)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	return &puller{s: s, name: name, limit: limit, inline: inline, ctx: ctx, cancel: cancel}, nil
}

// hold waits for the pages in flight, keeping them for page, and
// requests no more until release.
func (p *puller) hold() {
	p.mu.Lock()
	p.held = true
	q := p.queue
	p.mu.Unlock()
	for _, f := range q {
		<-f.done
	}
}

// release ends hold.
func (p *puller) release() {
	p.mu.Lock()
	p.held = false
	p.mu.Unlock()
}

// close cancels the pages in flight and waits for them.
func (p *puller) close() {
	p.cancel()
	p.mu.Lock()
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, f := range q {
		<-f.done
	}
}

func (p *puller) fetch(cursor string) pageResult {
	return p.fetchWatching(p.ctx, cursor)
}

// fetchWatching is fetch in ctx, which may watch the answer's headers.
func (p *puller) fetchWatching(ctx context.Context, cursor string) pageResult {
	r := pageResult{resp: new(protocol.ChangesResponse)}
	req := &protocol.ChangesRequest{Collection: p.name, Cursor: cursor, Limit: p.limit, Content: p.inline}
	if r.err = p.s.c.callRetry(ctx, protocol.PathChanges, req, r.resp); r.err == nil {
		r.checkContents()
	}
	return r
}

// checkContents hashes the contents that came with the page and notes the
// first that does not match its entry's fingerprint, so that a page
// fetched ahead is hashed on the goroutine that fetched it, while the
// session applies the page before. pullSegment still refuses the page
// (SP-6.1-8); entries it refuses for other reasons are left to it.
func (r *pageResult) checkContents() {
	r.checked, r.mismatch = true, -1
	if len(r.resp.Contents) != len(r.resp.Changes) {
		return // refused whole by pullSegment
	}
	fps := make([]fingerprint.Fingerprint, len(r.resp.Changes))
	fingerprint.OfEach(fps, func(i int) fingerprint.Item {
		return fingerprint.Item{ID: r.resp.Changes[i].ID, Content: r.resp.Contents[i]}
	})
	for i, ch := range r.resp.Changes {
		if ch.Deleted || r.resp.Contents[i] == nil {
			continue
		}
		if !bytes.Equal(fps[i][:], ch.FP) {
			r.mismatch = i
			return
		}
	}
}

// page returns the page of cursor: the one requested ahead when there is
// one (those requested before it are dropped: a header named a cursor
// that was not the body's, SP-6.1-10), else requested now.
func (p *puller) page(cursor string) pageResult {
	p.mu.Lock()
	var head *inflight
	stale := p.queue
	for i, f := range p.queue {
		if f.of == cursor {
			head, stale = f, slices.Clone(p.queue[:i])
			p.queue = p.queue[i+1:]
			break
		}
	}
	if head == nil {
		p.queue = nil
	}
	p.mu.Unlock()
	for _, f := range stale {
		<-f.done
	}
	if head == nil {
		p.mu.Lock()
		head = p.launch(cursor, false)
		p.mu.Unlock()
		if head == nil {
			return p.fetch(cursor)
		}
	}
	<-head.done
	return head.r
}

// prefetch requests the page of cursor ahead, unless it is requested
// already.
func (p *puller) prefetch(cursor string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.queue {
		if f.of == cursor {
			return
		}
	}
	p.launch(cursor, true)
}

// launch requests the page of cursor in the background and returns it;
// queued, it waits in the queue for page, else the caller waits for it.
// It returns nil when no request may go ahead now. p.mu must be held.
//
// A page with content that is not the last has the page after it
// requested as soon as the cursor of that page is known, while fewer than
// pagesAhead wait in the queue and no later page was requested (never
// with serial exchanges: then nothing is in flight during a local
// transaction): from the answer's header Syncprint-Next-Cursor, before
// its body is read (SP-6.1-10), or else from the body.
func (p *puller) launch(cursor string, queued bool) *inflight {
	if p.ctx.Err() != nil || p.held || p.s.c.cfg.NoPrefetch {
		return nil
	}
	f := &inflight{of: cursor, done: make(chan struct{})}
	if queued {
		p.queue = append(p.queue, f)
	}
	p.newest = f
	ahead := func(next string) {
		p.mu.Lock()
		ok := len(p.queue) < pagesAhead && p.newest == f
		p.mu.Unlock()
		if ok {
			p.prefetch(next)
		}
	}
	go func() {
		ctx := p.ctx
		if p.inline && !p.s.c.cfg.SerialExchanges {
			// A page that comes without content after all (a server
			// without SP-6.1-8) has its successor requested ahead too;
			// the segment it belongs to uses it or drops it.
			ctx = withHeaderWatch(ctx, func(h http.Header) {
				if next := h.Get(protocol.HeaderNextCursor); next != "" {
					ahead(next)
				}
			})
		}
		f.r = p.fetchWatching(ctx, cursor)
		close(f.done)
		resp := f.r.resp
		if f.r.err != nil || resp.Contents == nil || !resp.More || len(resp.Changes) == 0 || p.s.c.cfg.SerialExchanges {
			return
		}
		next := cursor
		if resp.Cursor != "" {
			next = resp.Cursor
		}
		ahead(next) // nothing when the header asked for it already
	}()
	return f
}

// pullSegment pulls change-info pages from *cur until the server has no
// more or the segment holds SegmentEntries items (one page when the pages
// bring content), and returns the items to plan, in the order of the
// change info, each with its greatest version (SP-6.1-6), and their index
// by ID. *cur becomes the last page's cursor; *pulled counts the entries
// pulled in the session, for progress.
func (s *session) pullSegment(p *puller, cur *string, pulled *int) (seg []cand, remote map[string]int, more bool, err error) {
	name := p.name
	for {
		r := p.page(*cur)
		if r.err != nil {
			return nil, nil, false, fmt.Errorf("pull changes: %w", r.err)
		}
		resp, next := r.resp, *cur
		if resp.Cursor != "" {
			next = resp.Cursor
		}
		if n := len(resp.Contents); n > 0 && n != len(resp.Changes) {
			return nil, nil, false, fmt.Errorf("%w: pull changes: %d contents for %d entries", ErrProtocol, n, len(resp.Changes))
		}
		last := !resp.More || len(resp.Changes) == 0
		if !resp.More && slices.Contains(s.info.Features, protocol.FeatureInfoCollections) {
			s.knowHead(next, resp.Head) // SP-6.1-9
		}
		// A page with content is a segment of its own: the next is
		// fetched while this one is planned and carried out (unless
		// exchanges are serial: then nothing is in flight during a local
		// transaction).
		alone := resp.Contents != nil
		if !last && (alone && !s.c.cfg.SerialExchanges || len(seg)+len(resp.Changes) < s.c.segment && !alone) {
			p.prefetch(next)
		}
		if remote == nil {
			// Sized once: a full segment when more pages follow.
			n := len(resp.Changes)
			if !last && !alone {
				n = max(n, s.c.segment)
			}
			remote, seg = make(map[string]int, n), make([]cand, 0, n) // ID -> index in seg
		}
		if !r.checked {
			r.checkContents() // hashed here when no fetch did
		}
		ents := make([]changelog.Entry, len(resp.Changes)) // one allocation per page
		for i, ch := range resp.Changes {
			e, err := changelog.FromWire(ch)
			if err != nil {
				return nil, nil, false, fmt.Errorf("pull changes: %w", err)
			}
			ents[i] = e
			c := cand{id: e.ID, remote: &ents[i], block: true}
			if resp.Contents != nil && e.Deleted && resp.Contents[i] != nil {
				return nil, nil, false, fmt.Errorf("%w: pull changes: content for the tombstone %q version %d", ErrProtocol, e.ID, e.Seq)
			}
			if resp.Contents != nil && !e.Deleted {
				content := resp.Contents[i]
				if content == nil {
					return nil, nil, false, fmt.Errorf("%w: pull changes: no content for %q version %d", ErrProtocol, e.ID, e.Seq)
				}
				if i == r.mismatch {
					// SP-6.1-8, as SP-6.5-1 for an exchange: store nothing
					// of a page with content that fails its fingerprint.
					return nil, nil, false, fmt.Errorf("%w: %s/%q version %d: content that came with the change info", ErrFingerprint, name, e.ID, e.Seq)
				}
				c.inline, c.content = true, content
			}
			if j, dup := remote[e.ID]; !dup {
				remote[e.ID] = len(seg)
				seg = append(seg, c)
			} else if seg[j].remote.Seq < e.Seq {
				seg[j] = c
			}
		}
		*cur = next
		*pulled += len(resp.Changes)
		s.progress(ProgressEvent{Collection: name, Phase: PhasePull, Pulled: *pulled})
		if last {
			return seg, remote, false, nil
		}
		if alone || len(seg) >= s.c.segment {
			return seg, remote, true, nil
		}
	}
}

// pageResult is a change-info page fetched, or the error fetching it.
type pageResult struct {
	resp *protocol.ChangesResponse
	err  error
	// checked says that checkContents ran: mismatch is then the index of
	// the first content that fails its fingerprint, or -1.
	checked  bool
	mismatch int
}

// rounds plans cands and carries them out in at most MaxRounds rounds
// (SP-6.6-5); chain is the candidate cursor. Items left over at the limit
// stay for the next session.
func (s *session) rounds(name string, rule protocol.Rule, cands []cand, chain *string) error {
	for round := 1; ; round++ {
		s.rep.Rounds++
		next, err := s.round(name, rule, round, cands, chain)
		if err != nil {
			return err
		}
		if len(next) == 0 {
			return nil
		}
		if round >= protocol.MaxRounds {
			s.c.cfg.Logger.Warn("round limit reached; the rest stays for the next sync", "collection", name, "left", len(next))
			if s.gaveUp == nil {
				s.gaveUp = map[string]bool{}
			}
			for _, c := range next {
				s.gaveUp[c.id] = true
			}
			return nil
		}
		cands = next
	}
}

// round plans cands and carries the plan out. It returns the items to plan
// again (stale uploads, deferred downloads). chain is the cursor to commit
// once everything is handled; exchanges advance it.
func (s *session) round(name string, rule protocol.Rule, round int, cands []cand, chain *string) ([]cand, error) {
	var local, ups, downs []work
	err := s.c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil {
			return err
		}
		if col != nil {
			// Pending items come in ID order, and so do often the entries
			// of a pulled segment.
			col.ascending = slices.IsSortedFunc(cands, func(a, b cand) int { return strings.Compare(a.id, b.id) })
		}
		var held record
		for i, cd := range cands {
			var rec *record
			var loc *reconcile.Local
			if col != nil {
				if ok, err := col.getMeta(cd.id, &held); err != nil {
					return err
				} else if ok {
					rec = &held
				}
			}
			var base changelog.Seq // an upload's base when rebased (ownBase)
			if rec != nil {
				loc = &reconcile.Local{
					Side: reconcile.Side{Fingerprint: rec.FP, Deleted: rec.Deleted, HLC: rec.HLC, Replica: rec.Author},
					Base: rec.Base, Seen: rec.Seen, Pending: col.isPending(cd.id),
				}
				if cd.step == nil && ownBase(col, cd.id, loc, cd.remote, s.self) {
					base = loc.Base
				}
			}
			var step reconcile.Step
			edit := editOf(rec)
			// news: the remote entry is newer than what the plan started
			// from (a nothing step then sets base and seen, SP-6.2-3).
			news := cd.remote != nil && rec != nil && cd.remote.Seq > rec.Seen
			if cd.step != nil {
				// Computed already (SP-6.5-4, computed before seen was
				// raised; a deferred download): carry it out as it is.
				step, edit = *cd.step, cd.edit
				news = cd.remote != nil && rec != nil && cd.remote.Seq >= rec.Seen
			} else {
				step = reconcile.PlanItem(rule, s.self, cd.id, loc, cd.remote)
			}
			w := work{id: cd.id, action: step.Action, seen: step.Seen, edit: edit, remote: cd.remote, block: cd.block, base: base,
				inline: cd.inline && cd.step == nil, content: cd.content}
			switch step.Action {
			case reconcile.Download, reconcile.DownloadKeepLocal:
				w.block = true // a planned download keeps the cursor (SP-6.5-6)
			}
			// Each list is sized for every candidate left when it gets its
			// first item: growing it by doubling cost a new process more
			// (fresh memory, collector assists) than planning itself.
			left := len(cands) - i
			switch step.Action {
			case reconcile.Nothing:
				if news {
					local = appendWork(local, w, left)
				}
			case reconcile.Download, reconcile.DownloadKeepLocal:
				// A tombstone needs no content; inline content came with
				// the change info (SP-6.1-8).
				if cd.remote.Deleted || w.inline {
					local = appendWork(local, w, left)
				} else {
					downs = appendWork(downs, w, left)
				}
			case reconcile.Upload, reconcile.UploadConflict:
				ups = appendWork(ups, w, left)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.c.planned != nil {
		s.c.planned(name, round)
	}
	planned := len(ups) + len(downs)
	lastRound := round >= protocol.MaxRounds
	var next []cand
	if len(local) > 0 || planned == 0 {
		more, err := s.applyLocal(name, local, planned == 0, lastRound, *chain)
		if err != nil {
			return nil, err
		}
		next = more
	}
	if planned == 0 {
		return next, nil
	}
	if s.pull != nil {
		// No page is fetched while exchanges are sent (puller.held).
		s.pull.hold()
		defer s.pull.release()
	}
	// Exchanges are pipelined one deep: the local transaction of a
	// response runs while the next request is built, sent and answered.
	// Responses are still verified before anything else happens and
	// applied one at a time in order, each in its own transaction; a
	// transaction decides whether to store the cursor only once every
	// earlier one has committed. If a local transaction fails while the
	// next request is in flight, the session ends with its error as it
	// would have, with one more exchange applied on the server: like a
	// response lost in transit, the next session learns those versions from
	// the change info with the client's own fingerprints, so nothing is
	// lost or sent twice (SP-6.5-1).
	var inflight *applying
	defer func() { inflight.wait() }()
	join := func() error {
		if inflight == nil {
			return nil
		}
		a := inflight
		inflight = nil
		if err := a.wait(); err != nil {
			s.markDoubt(name, a.req.Uploads) // the server applied them; we could not store it
			s.keepUnanswered(name, a.req, a.body)
			return err
		}
		s.settleSent(a.req)
		s.merge(name, a.d)
		next = append(next, a.more...)
		if a.coded {
			// The body went encoded (net/http read the encoded copy): the
			// body itself is done with once its exchange is applied.
			s.giveSpare(a.body)
		}
		s.progress(ProgressEvent{Collection: name, Phase: PhaseExchange, Round: round, Planned: planned, Sent: a.sent})
		return nil
	}
	// The next batch is built and encoded while an exchange is in flight,
	// all but the cursor it carries, which the answer brings (SP-6.5-6):
	// the cursor goes last in the body (SP-4.1-2), so that only its few
	// bytes are encoded once the answer is in.
	var ahead *outgoing
	defer func() { ahead.discard() }()
	ui, di := 0, 0
	for ui < len(ups) || di < len(downs) {
		ui0, di0 := ui, di
		out := ahead
		ahead = nil
		if out == nil {
			out = s.prepare(name, ups, downs, ui, di)
		} else {
			<-out.done
		}
		if out.err != nil {
			out.discard()
			return nil, out.err
		}
		s.note(out.notes)
		ui, di = out.ui, out.di
		req, bu, bd := out.req, out.bu, out.bd
		last := ui == len(ups) && di == len(downs)
		if len(bu) == 0 && len(bd) == 0 {
			out.discard()
			if err := join(); err != nil {
				return nil, err
			}
			if last && s.mayCommit(next, lastRound) {
				if _, err := s.applyLocal(name, nil, true, lastRound, *chain); err != nil {
					return nil, err
				}
			}
			continue
		}
		body, wire, bodyCoding, err := out.finish(s.c, *chain)
		if err != nil {
			return nil, fmt.Errorf("exchange: %w", err)
		}
		// Written before it leaves: should the process be killed before
		// its answer is committed, the next session sends it again with
		// its batch ID instead of planning its uploads anew (the sent log).
		if len(req.Uploads) > 0 && len(s.info.Epoch) <= 255 {
			// The record names the replica: the store must hold it.
			if err := s.c.storeDueInfo(); err != nil {
				return nil, fmt.Errorf("exchange: %w", err)
			}
			err := s.c.sent.add(&sentRecord{sentMS: uint64(max(s.c.cfg.Now().UnixMilli(), 0)), replica: string(s.self), collection: name,
				batchID: req.BatchID, epoch: s.info.Epoch, coding: bodyCoding, wire: wire})
			if err != nil {
				return nil, fmt.Errorf("exchange: %w", err)
			}
		}
		if !last && !s.c.cfg.SerialExchanges {
			ahead = s.buildAhead(name, ups, downs, ui, di)
		}
		var resp protocol.ExchangeResponse
		callErr := s.c.sendRetry(s.ctx, protocol.PathExchange, body, wire, bodyCoding, nil, &resp)
		if ahead != nil {
			// Nothing below runs beside the build: it reads the session.
			<-ahead.done
		}
		if err := join(); err != nil {
			return nil, err
		}
		if callErr != nil {
			if definitive(callErr) {
				s.settleSent(req) // refused: nothing of it was applied
			}
			if s.refuse(name, bu, callErr) {
				// SP-9-9: the listed uploads stay pending and are reported;
				// the rest of the batch goes again with a new batch ID.
				ahead.discard()
				ahead = nil
				ui, di = ui0, di0
				continue
			}
			if !definitive(callErr) {
				s.markDoubt(name, req.Uploads)
				s.keepUnanswered(name, req, body)
			}
			return nil, fmt.Errorf("exchange: %w", callErr)
		}
		fps, err := verifyItems(name, &resp)
		if err != nil {
			s.markDoubt(name, req.Uploads) // applied, but the response is refused
			s.keepUnanswered(name, req, body)
			return nil, err
		}
		// A replayed response (SP-6.4-2) may carry an older number: the
		// greatest is the latest.
		s.confSeq = max(s.confSeq, resp.ConflictsSeq)
		newChain := *chain
		if resp.Cursor != "" {
			newChain = resp.Cursor
		}
		if newChain != *chain {
			// Not the request's cursor: the cursor of the head after the
			// exchange (SP-6.3-9, SP-6.1-9), past every upload of the device.
			s.knowHead(newChain, resp.Head)
			s.behind = 0
		} else {
			s.behind += appliedBytes(req, &resp)
		}
		behind := s.behind
		// SP-6.5-6: only the round's last transaction may store the
		// cursor, and only when nothing that blocks it is left.
		commit := last && s.mayCommit(next, lastRound)
		a := &applying{done: make(chan struct{}), sent: ui + di, req: req, body: body, coded: bodyCoding != ""}
		go func() {
			defer close(a.done)
			a.more, a.d, a.err = s.applyExchange(name, bu, bd, &resp, fps, commit, lastRound, newChain, behind)
		}()
		inflight = a
		// The next request carries the cursor of this response; should
		// its transaction fail, the session ends before that matters.
		*chain = newChain
		if s.c.cfg.SerialExchanges {
			if err := join(); err != nil {
				return nil, err
			}
		}
	}
	if err := join(); err != nil {
		return nil, err
	}
	return next, nil
}

// outgoing is an exchange request built and encoded but for its cursor.
type outgoing struct {
	done   chan struct{} // closed when the fields below are set
	req    *protocol.ExchangeRequest
	bu, bd []work
	ui, di int // the indexes into ups and downs after the batch
	notes  batchNotes
	head   []byte         // the body without its cursor
	stream *coding.Stream // head encoded; nil: the body is encoded when finished
	err    error
}

// batchNotes is what building a batch learned for the session.
type batchNotes struct {
	hold     bool     // an item that keeps the cursor was left out
	tooLarge []string // "collection/id" of uploads too large to send
}

// note records what building a batch learned.
func (s *session) note(nb batchNotes) {
	s.hold = s.hold || nb.hold
	for _, key := range nb.tooLarge {
		s.rep.TooLarge = append(s.rep.TooLarge, key)
		if s.skip == nil {
			s.skip = map[string]bool{}
		}
		s.skip[key] = true // reported once, even if the batch is built again
	}
}

// prepare builds the batch from ups[ui:] and downs[di:] now, to be
// finished at once: its body is encoded whole (finish), with the encoder
// every request shares.
func (s *session) prepare(name string, ups, downs []work, ui, di int) *outgoing {
	o := &outgoing{done: make(chan struct{})}
	s.build(o, name, ups, downs, ui, di, false)
	close(o.done)
	return o
}

// buildAhead starts building the batch from ups[ui:] and downs[di:] while
// the exchange before it is in flight; its done closes when it is built.
func (s *session) buildAhead(name string, ups, downs []work, ui, di int) *outgoing {
	o := &outgoing{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		s.build(o, name, ups, downs, ui, di, true)
	}()
	return o
}

// build fills o: the batch and its body without the cursor; with ahead
// (the batch waits for an answer to learn its cursor), that much of the
// body encoded already, in the coding it will go in.
func (s *session) build(o *outgoing, name string, ups, downs []work, ui, di int, ahead bool) {
	o.ui, o.di = ui, di
	o.req, o.bu, o.bd, o.err = s.buildBatch(name, ups, downs, &o.ui, &o.di, "", &o.notes)
	if o.err != nil || len(o.bu) == 0 && len(o.bd) == 0 {
		return
	}
	o.head = protocol.AppendExchangeHead(s.takeSpare(), o.req)
	if cc := s.c.bodyCoding(len(o.head)); ahead && cc != "" {
		if o.stream, o.err = s.c.enc.NewStream(cc, len(o.head)/2+1024); o.err == nil {
			if o.err = o.stream.Write(o.head); o.err != nil {
				o.stream.Abort()
				o.stream = nil
			}
		}
	}
}

// finish completes the request with cursor: its body, and the body as it
// goes on the wire, in bodyCoding ("" for the body itself).
func (o *outgoing) finish(c *Client, cursor string) (body, wire []byte, bodyCoding string, err error) {
	o.req.Cursor = cursor
	tail := protocol.AppendExchangeCursor(nil, cursor)
	body = append(o.head, tail...)
	if o.stream == nil {
		wire, bodyCoding, err = c.encodeBody(body)
		return body, wire, bodyCoding, err
	}
	st := o.stream
	o.stream = nil
	z, err := st.Close(tail)
	if err != nil {
		return nil, nil, "", err
	}
	if !coding.Pays(len(body), len(z), st.Coding()) {
		return body, body, "", nil
	}
	return body, z, st.Coding(), nil
}

// discard gives up a batch built ahead; nil does nothing.
func (o *outgoing) discard() {
	if o == nil {
		return
	}
	<-o.done
	o.stream.Abort()
	o.stream = nil
}

// appendWork appends w to ws, which it first makes with room for n.
func appendWork(ws []work, w work, n int) []work {
	if ws == nil {
		ws = make([]work, 0, n)
	}
	return append(ws, w)
}

// applying is a response's local transaction running in the background.
type applying struct {
	done chan struct{}
	sent int
	req  *protocol.ExchangeRequest // of unknown outcome if the transaction fails
	body []byte                    // req as it was sent
	// coded: body went encoded, so only this session holds it.
	coded bool
	// Set by the transaction before done closes.
	more []cand
	d    counts
	err  error
}

// wait waits for the transaction (a nil applying has none) and returns its
// error.
func (a *applying) wait() error {
	if a == nil {
		return nil
	}
	<-a.done
	return a.err
}

// definitive reports whether an exchange's error is the server's final
// answer, so that nothing of the request was applied: an error response
// other than internal and unavailable (which a server may send after its
// commit failed in a way that left the data on disk) and rate_limited
// (which says nothing of an earlier attempt that got no answer). A 200
// answer that does not decode or breaks the protocol (ErrProtocol,
// whatever error it wraps) is not either: the server may have applied the
// request (SP-6.2-6).
func definitive(err error) bool {
	if errors.Is(err, ErrProtocol) {
		return false
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case protocol.CodeInternal, protocol.CodeUnavailable, protocol.CodeRateLimited:
		return false
	}
	return true
}

// markDoubt records the uploads of an exchange whose outcome the device
// does not know (ownBase): the server may hold them as this device's
// versions. It is best effort: without the record a later edit of such an
// item meets the device's own version as a concurrent one, decided by the
// rule with the loser kept - a spurious conflict, never a loss.
func (s *session) markDoubt(name string, ups []protocol.Upload) {
	if len(ups) == 0 {
		return
	}
	err := s.c.update(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil || col == nil {
			return err
		}
		for i := range ups {
			fp, err := fingerprint.FromBytes(ups[i].FP)
			if err != nil {
				continue
			}
			if err := col.addDoubt(ups[i].ID, fp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.c.cfg.Logger.Warn("could not record uploads of unknown outcome", "collection", name, "err", err)
	}
}

// refuse handles an exchange refused for particular uploads
// (item_too_large, fingerprint_mismatch): it marks the listed uploads of
// the batch as not to be sent again in this session and reports them. It
// returns false when err names no upload of the batch.
func (s *session) refuse(name string, bu []work, err error) bool {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeItemTooLarge && pe.Code != protocol.CodeFingerprintMismatch {
		return false
	}
	inBatch := map[string]bool{}
	for _, w := range bu {
		inBatch[w.id] = true
	}
	n := 0
	for _, id := range pe.IDs {
		if !inBatch[id] || s.skip[name+"/"+id] {
			continue
		}
		if s.skip == nil {
			s.skip = map[string]bool{}
		}
		s.skip[name+"/"+id] = true
		if pe.Code == protocol.CodeItemTooLarge {
			s.rep.TooLarge = append(s.rep.TooLarge, name+"/"+id)
		} else {
			s.rep.Corrupt = append(s.rep.Corrupt, name+"/"+id)
			s.c.cfg.Logger.Error("the server found an upload's fingerprint wrong: local corruption or a bug", "collection", name, "id", id)
		}
		n++
	}
	return n > 0
}

// applyLocal applies what needs no exchange: server versions the client
// already holds (record them as seen) and server tombstones (verified
// against their fingerprint). It returns the items to plan again in the
// next round: those edited since they were planned (SP-6.6-1). With final
// (the round has no other step) it stores the cursor when SP-6.5-6 allows.
func (s *session) applyLocal(name string, ws []work, final, lastRound bool, cursor string) ([]cand, error) {
	if len(ws) == 0 {
		// Only the cursor: skip the write transaction when it is in place
		// with the head it is known to be the cursor of (SP-6.1-9).
		same := false
		err := s.c.view(func(tx *bolt.Tx) error {
			col, err := openColl(tx, name, false)
			same = col != nil && col.cursor() == cursor && s.sameHead(col.cursorHead(), cursor)
			return err
		})
		if err != nil || same || !final || s.hold {
			return nil, err
		}
	}
	var d counts
	var next []cand
	err := s.c.update(func(tx *bolt.Tx) error {
		d, next = counts{}, nil
		col, err := openColl(tx, name, true)
		if err != nil {
			return err
		}
		h := newHistory(tx, s.c.cfg.HistoryLimit)
		for _, w := range ws {
			rec, err := col.get(w.id, true)
			if err != nil {
				return err
			}
			edited := editOf(rec) != w.edit
			if w.action == reconcile.Nothing {
				s.c.clock.Observe(w.remote.HLC)
				if rec == nil {
					continue
				}
				// Both sides agree on the entry's version: it becomes base
				// and seen. An item edited since planning keeps pending:
				// the newer edit derives from that version and goes up in
				// the next round (SP-6.2-3, SP-6.5-3).
				rec.Base, rec.Seen = max(rec.Base, w.remote.Seq), max(rec.Seen, w.remote.Seq)
				if err := col.put(w.id, rec); err != nil {
					return err
				}
				if edited {
					next = append(next, cand{id: w.id})
					continue
				}
				if err := col.clearPending(w.id); err != nil {
					return err
				}
				continue
			}
			// A download carried out here: a tombstone, or content that
			// came with the change info, verified when it was pulled.
			content := []byte{}
			switch {
			case w.remote.Deleted:
				if w.remote.Fingerprint != fingerprint.Of(w.id, true, nil) {
					return fmt.Errorf("%w: %s/%q version %d: tombstone fingerprint", ErrFingerprint, name, w.id, w.remote.Seq)
				}
			case w.inline:
				if w.content != nil {
					content = w.content
				}
			default:
				return fmt.Errorf("bug: %s/%q: a local step %v without content", name, w.id, w.action)
			}
			if edited {
				// A version for an item edited since planning: the rule
				// decides in the next round (SP-6.5-4).
				c, err := s.replan(col, w.id, w.remote, w.block)
				if err != nil {
					return err
				}
				next = append(next, c)
				continue
			}
			if w.action == reconcile.DownloadKeepLocal && rec != nil {
				if err := s.c.addLocalConflict(tx, name, w.id, rec, ReasonServerWon, w.remote.Seq); err != nil {
					return err
				}
				d.conflicts++
			}
			nr := &record{Content: content, Deleted: w.remote.Deleted, FP: w.remote.Fingerprint, HLC: w.remote.HLC, Author: w.remote.Replica, Base: w.remote.Seq, Seen: w.remote.Seq, Edit: editOf(rec)}
			if err := s.storeRemote(col, h, w.id, nr, rec != nil, &d); err != nil {
				return err
			}
		}
		if final && s.mayCommit(next, lastRound) {
			if err := s.storeCursor(col, cursor, s.behind); err != nil {
				return err
			}
		}
		if err := h.flush(); err != nil {
			return err
		}
		return s.c.persistClock(tx)
	})
	if err != nil {
		return nil, err
	}
	s.merge(name, d)
	return next, nil
}

// storeRemote stores a server version as the item's current one.
// held says whether the client held the item before: a pending mark
// exists only beside a stored item, so a new one needs no clearing.
func (s *session) storeRemote(col *coll, h *history, id string, r *record, held bool, d *counts) error {
	if err := col.put(id, r); err != nil {
		return err
	}
	if held {
		if err := col.clearPending(id); err != nil {
			return err
		}
	}
	s.c.clock.Observe(r.HLC)
	d.downloaded++
	d.changed = true
	return h.add(s.c.cfg.Now(), col.name, id, r, SourceRemote)
}

// buildBatch fills one exchange request from ups[*ui:] and downs[*di:]
// within the announced limits, reading upload content now.
//
// buildBatch changes nothing of the session: what it learns goes into nb,
// for the caller to note, so that a batch can be built while an exchange is
// in flight and its answer is handled.
func (s *session) buildBatch(name string, ups, downs []work, ui, di *int, cursor string, nb *batchNotes) (*protocol.ExchangeRequest, []work, []work, error) {
	lim := s.info.Limits
	maxItems := orDefault(lim.MaxBatchItems, protocol.DefaultMaxBatchItems)
	maxBytes := min(orDefault(lim.MaxBatchBytes, protocol.DefaultMaxBatchBytes), UploadBatchBytes)
	maxBody := orDefault(lim.MaxBodyBytes, protocol.DefaultMaxBodyBytes)
	maxIDs := orDefault(lim.MaxIDs, protocol.DefaultMaxIDs)
	maxItem := orDefault(lim.MaxItemBytes, protocol.DefaultMaxItemBytes)
	// Downloads are bounded further than max_ids (SP-6.6-2): a response's
	// items are held in memory while the previous one is stored, and a
	// process's first touch of memory is dear, so smaller responses make a
	// pull faster as well as lighter.
	maxDowns := min(maxIDs, DownloadBatchItems)
	nu, nd := min(maxItems, len(ups)-*ui), min(maxDowns, len(downs)-*di)
	req := &protocol.ExchangeRequest{
		Collection: name, BatchID: newBatchID(), Cursor: cursor,
		Uploads: make([]protocol.Upload, 0, nu), Downloads: make([]string, 0, nd),
	}
	bu, bd := make([]work, 0, nu), make([]work, 0, nd)
	var copies slab // upload contents and fingerprints, copied out of the store
	err := s.c.view(func(tx *bolt.Tx) error {
		col, err := openColl(tx, name, false)
		if err != nil {
			return err
		}
		if col != nil {
			col.ascending = true // uploads come in ID order
		}
		// empty bounds the encoded size of the request without uploads or
		// downloads from above; body that of the request built so far.
		empty := 512 + len(name) + len(cursor)
		body, content := empty, 0
		for *ui < len(ups) && len(req.Uploads) < maxItems {
			w := ups[*ui]
			var rec *record
			if col != nil {
				// Content is copied below, for uploads that go.
				if rec, err = col.view(w.id); err != nil {
					return err
				}
			}
			if rec == nil || !col.isPending(w.id) {
				// No longer pending: nothing to send, and the step was not
				// carried out, so an entry it had stays unhandled.
				nb.hold = nb.hold || w.block
				*ui++
				continue
			}
			// cost bounds the upload's encoded size from above.
			cost := len(rec.Content) + len(w.id) + 128
			if s.skip[name+"/"+w.id] {
				// Refused earlier in the session (SP-9-9). Only an item
				// that blocks the cursor keeps it (SP-6.5-6).
				nb.hold = nb.hold || w.block
				*ui++
				continue
			}
			if len(rec.Content) > maxItem || empty+cost > maxBody {
				// SP-6.2-4, SP-3-13: over max_item_bytes, or too large for
				// a body of max_body_bytes even alone: never sent; it stays
				// pending and is reported.
				nb.hold = nb.hold || w.block
				nb.tooLarge = append(nb.tooLarge, name+"/"+w.id)
				*ui++
				continue
			}
			if len(req.Uploads) > 0 && (content+len(rec.Content) > maxBytes || body+cost > maxBody) {
				break
			}
			content += len(rec.Content)
			body += cost
			req.Uploads = append(req.Uploads, protocol.Upload{
				ID: w.id, Base: uint64(max(rec.Base, w.base)), Seen: uint64(w.seen), FP: append(copies.alloc(fingerprint.Size), rec.FP[:]...),
				HLC: uint64(rec.HLC), Deleted: rec.Deleted, Content: append(copies.alloc(len(rec.Content)), rec.Content...),
			})
			w.edit = rec.Edit
			bu = append(bu, w)
			*ui++
		}
		announced := 0 // content bytes of the downloads, as the change info announced them
		for *di < len(downs) && len(req.Downloads) < maxDowns && body+len(downs[*di].id)+8 <= maxBody {
			if r := downs[*di].remote; r != nil {
				if len(req.Downloads) > 0 && announced+int(r.Size) > downloadBatchBytes {
					break
				}
				announced += int(r.Size)
			}
			req.Downloads = append(req.Downloads, downs[*di].id)
			bd = append(bd, downs[*di])
			body += len(downs[*di].id) + 8
			*di++
		}
		return nil
	})
	return req, bu, bd, err
}

// UploadBatchBytes is the most upload content the client puts in one
// exchange, below the server's max_batch_bytes (SP-6.6-2; one larger item
// still goes, alone). A request is held whole in memory, written to the
// sent log and, when its connection fails, sent again whole: with items of
// hundreds of kilobytes, a body of the 16 MiB that max_batch_bytes allows
// by default would take minutes on a slow link and lose them all to one
// dropped connection.
const UploadBatchBytes = 4 << 20

// The reference client's own bounds on the downloads of one exchange,
// below the server's max_ids and max_batch_bytes (SP-6.6-2): at most
// DownloadBatchItems IDs, and at most downloadBatchBytes of content as the
// change info announced it (one larger item still goes, alone).
const downloadBatchBytes = 1 << 20

// DownloadBatchItems is the most items the client downloads in one
// exchange or takes in one page of change info with content (SP-6.1-8).
// Measured with cold pulls of 10,000 items of 200 bytes in new client
// processes (docs/performance-history.md), ten interleaved rounds: pages
// of 2,000 took 82 ms (median), against 95 ms for 1,000 and 82 ms for
// 5,000, which held 8 MB more memory.
const DownloadBatchItems = 2000

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// newBatchID returns 16 random bytes in base64url: 22 characters.
func newBatchID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func currentEntry(r *protocol.UploadResult) *changelog.Entry {
	if r.Current == nil {
		return nil
	}
	e, err := changelog.FromWire(*r.Current)
	if err != nil {
		return nil
	}
	return &e
}

// verifyItems recomputes the fingerprint of every item of a response
// (SP-6.5-1) and returns them in the order of resp.Items; nothing may be
// stored from a response that fails.
func verifyItems(name string, resp *protocol.ExchangeResponse) ([]fingerprint.Fingerprint, error) {
	fps := make([]fingerprint.Fingerprint, len(resp.Items))
	fingerprint.OfEach(fps, func(i int) fingerprint.Item {
		it := &resp.Items[i]
		return fingerprint.Item{ID: it.ID, Deleted: it.Deleted, Content: it.Content}
	})
	for i := range resp.Items {
		it := &resp.Items[i]
		fp, err := fingerprint.FromBytes(it.FP)
		if err != nil || it.Deleted && len(it.Content) > 0 || fps[i] != fp {
			return nil, fmt.Errorf("%w: %s/%q version %d", ErrFingerprint, name, it.ID, it.Version)
		}
	}
	return fps, nil
}

// applyExchange applies one verified exchange response (fps from
// verifyItems) in one local transaction, storing newChain as the cursor
// when commit is set (the round's last exchange, nothing left before it)
// and SP-6.5-6 allows it after this response too. It returns
// the items for the next round and the transaction's counts. It touches
// no session state but s.c (safe for concurrent use), so it may run while
// the session builds and sends the next request.
func (s *session) applyExchange(name string, bu, bd []work, resp *protocol.ExchangeResponse, fps []fingerprint.Fingerprint, commit, lastRound bool, newChain string, behind uint64) ([]cand, counts, error) {
	items := make(map[string]int, len(resp.Items)) // ID -> index in resp.Items
	for i := range resp.Items {
		items[resp.Items[i].ID] = i
	}
	upW, downW := workIndex{ws: bu}, workIndex{ws: bd}
	var next []cand
	var d counts
	err := s.c.update(func(tx *bolt.Tx) error {
		next, d = nil, counts{}
		col, err := openColl(tx, name, true)
		if err != nil {
			return err
		}
		h := newHistory(tx, s.c.cfg.HistoryLimit)
		fromItem := func(i int, prev *record) *record {
			it := &resp.Items[i]
			content := it.Content
			if content == nil {
				content = []byte{}
			}
			v := changelog.Seq(it.Version)
			return &record{Content: content, Deleted: it.Deleted, FP: fps[i], HLC: changelog.HLC(it.HLC), Author: changelog.ReplicaID(it.Replica), Base: v, Seen: v, Edit: editOf(prev)}
		}
		handled := make(map[string]bool, len(resp.Items))
		for i := range resp.Results {
			r := &resp.Results[i]
			w, ok := upW.find(i, r.ID) // results come in request order (SP-6.3)
			if !ok {
				continue
			}
			// Every branch re-stores the record or copies it away at once.
			rec, err := col.view(r.ID)
			if err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			edited := rec.Edit != w.edit
			switch r.Status {
			case protocol.StatusApplied, protocol.StatusUnchanged:
				rec.Base, rec.Seen = changelog.Seq(r.Version), changelog.Seq(r.Version)
				if r.Status == protocol.StatusApplied {
					d.uploaded++
				}
				if !edited {
					if r.Status == protocol.StatusApplied {
						if r.HLC != 0 {
							rec.HLC = changelog.HLC(r.HLC)
							s.c.clock.Observe(rec.HLC)
						}
						rec.Author = s.self
					}
					if err := col.clearPending(r.ID); err != nil {
						return err
					}
				} else {
					// Edited during the exchange: the newer edit derives from
					// the acknowledged one and goes up in the next round. The
					// entry is handled (SP-6.5-6).
					next = append(next, cand{id: r.ID})
				}
				if err := col.put(r.ID, rec); err != nil {
					return err
				}
			case protocol.StatusRejected, protocol.StatusConflict:
				idx, ok := items[r.ID]
				if !ok {
					// The server left its item out (a server fault, SP-6.3-8):
					// download it in the next round [SP-6.5-3]. Re-planned
					// against current, a conflict under manual would be
					// uploaded again and make another record every round.
					c := cand{id: r.ID, remote: currentEntry(r), block: w.block}
					switch {
					case c.remote == nil || edited:
						// No current (like a stale result without one), or
						// a newer edit: the rule decides in the next round.
					case r.Status == protocol.StatusRejected:
						c.step, c.edit = &reconcile.Step{ID: r.ID, Action: reconcile.DownloadKeepLocal, Seen: c.remote.Seq}, rec.Edit
					default:
						// The uploaded version is in the server's record:
						// nothing to keep locally.
						c.step, c.edit = &reconcile.Step{ID: r.ID, Action: reconcile.Download, Seen: c.remote.Seq}, rec.Edit
						d.conflicts++
					}
					next = append(next, c)
					continue
				}
				it := &resp.Items[idx]
				handled[r.ID] = true
				if edited {
					// A newer local edit replaced the refused one: it is not
					// overwritten or logged; the rule decides between it and
					// the server's item in the next round (SP-6.5-4).
					c, err := s.replan(col, r.ID, entryOf(it, fps[idx]), w.block)
					if err != nil {
						return err
					}
					next = append(next, c)
					if r.Status == protocol.StatusConflict {
						d.conflicts++ // the server kept the upload as a record
					}
					continue
				}
				if r.Status == protocol.StatusRejected {
					if err := s.c.addLocalConflict(tx, name, r.ID, rec, ReasonRejected, changelog.Seq(it.Version)); err != nil {
						return err
					}
				}
				d.conflicts++
				if err := s.storeRemote(col, h, r.ID, fromItem(idx, rec), true, &d); err != nil {
					return err
				}
			case protocol.StatusStale:
				cur := currentEntry(r)
				if cur == nil || cur.Seq < rec.Seen {
					// The server holds less than the client saw (the item is
					// gone, or the data set was restored): trust the server.
					rec.Seen = 0
					if cur != nil {
						rec.Seen = cur.Seq
					}
					rec.Base = min(rec.Base, rec.Seen)
					if err := col.put(r.ID, rec); err != nil {
						return err
					}
					cur = nil
				}
				next = append(next, cand{id: r.ID, remote: cur, block: w.block})
			default:
				return fmt.Errorf("%w: exchange: unknown upload status %q for %q", ErrProtocol, r.Status, r.ID)
			}
		}
		for i := range resp.Items {
			it := &resp.Items[i]
			w, ok := downW.find(-1, it.ID)
			if !ok || handled[it.ID] {
				continue
			}
			handled[it.ID] = true
			// The local content is needed only to keep a losing version.
			rec, err := col.get(it.ID, w.action == reconcile.DownloadKeepLocal)
			if err != nil {
				return err
			}
			if editOf(rec) != w.edit {
				// Edited while the exchange was in flight: the edit is not
				// replaced or logged; the rule decides between it and this
				// item in the next round (SP-6.5-4).
				c, err := s.replan(col, it.ID, entryOf(it, fps[i]), w.block)
				if err != nil {
					return err
				}
				next = append(next, c)
				continue
			}
			if w.action == reconcile.DownloadKeepLocal && rec != nil {
				if err := s.c.addLocalConflict(tx, name, it.ID, rec, ReasonServerWon, changelog.Seq(it.Version)); err != nil {
					return err
				}
				d.conflicts++
			}
			if err := s.storeRemote(col, h, it.ID, fromItem(i, rec), rec != nil, &d); err != nil {
				return err
			}
		}
		for _, id := range resp.Deferred {
			if w, ok := downW.find(-1, id); ok && !handled[id] {
				// SP-6.5-5: the same download step, next round.
				next = append(next, cand{id: id, remote: w.remote, step: &reconcile.Step{ID: id, Action: w.action, Seen: w.seen}, edit: w.edit, block: true})
			}
		}
		if commit && !blocks(next) && (len(next) == 0 || lastRound) {
			if err := s.storeCursor(col, newChain, behind); err != nil {
				return err
			}
		}
		if err := h.flush(); err != nil {
			return err
		}
		return s.c.persistClock(tx)
	})
	if err != nil {
		return nil, counts{}, err
	}
	return next, d, nil
}

// workIndex finds the work of an item of an exchange's batch by its ID.
// Results come in the order of the uploads, so an upload's work is
// usually where its result is, found without a map: a map of 1,000
// works was fresh memory at every exchange of a push.
type workIndex struct {
	ws []work
	m  map[string]int // ID -> index in ws, built at the first miss
}

// find returns the work of id, trying ws[at] first (-1: no guess).
func (x *workIndex) find(at int, id string) (work, bool) {
	if at >= 0 && at < len(x.ws) && x.ws[at].id == id {
		return x.ws[at], true
	}
	if x.m == nil {
		x.m = make(map[string]int, len(x.ws))
		for k := range x.ws {
			x.m[x.ws[k].id] = k
		}
	}
	k, ok := x.m[id]
	if !ok {
		return work{}, false
	}
	return x.ws[k], true
}

// addLocalConflict puts a losing local version into the local conflict log.
func (c *Client) addLocalConflict(tx *bolt.Tx, coll, id string, r *record, reason string, winner changelog.Seq) error {
	n, err := nextCounter(tx, keyConfSeq)
	if err != nil {
		return err
	}
	lc := localConflict{
		ConflictID: fmt.Sprintf("local-%012d", n), Reason: reason, Collection: coll, ID: id,
		Content: r.Content, Deleted: r.Deleted, FP: r.FP.Bytes(), HLC: uint64(r.HLC), Replica: string(r.Author),
		Base: uint64(r.Base), ServerVersion: uint64(winner), CreatedMS: uint64(max(c.cfg.Now().UnixMilli(), 0)),
	}
	if lc.Content == nil {
		lc.Content = []byte{}
	}
	if r.Author == localAuthor {
		lc.Replica = string(c.self())
	}
	v, err := marshal(&lc)
	if err != nil {
		return err
	}
	return tx.Bucket(bktLocalConf).Put([]byte(lc.ConflictID), v)
}
